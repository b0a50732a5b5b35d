"""table1's stream → SNS (the fan-out path). Thin shell over ``publish``."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from tributary import aws, batch, logs, metrics, parking, tracing

from .publish import Batch, CheckpointError, Outcome, park, publish, read, settle

log = logs.get_logger("change_publisher")


def handle(event: Mapping[str, Any], context: Any) -> batch.BatchResponse:
    """Lambda entry point for the DynamoDB Streams event source mapping.

    Poison records go to the parked queue (PARKED_QUEUE_URL) and count as handled; the first
    change SNS does not take (or the first poison record, when parking fails) is the checkpoint
    Lambda retries from. ``CheckpointError`` (that record is the first of the batch and has no
    sequence number) fails the invocation, so the whole batch is retried.
    """
    tracing.init()
    function = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "change_publisher")
    topic = os.environ["TOPIC_ARN"]
    records = event.get("Records") or []
    batch = read(records, os.environ["SOURCE_TABLE"])
    sns = aws.client("sns")
    with tracing.phase("publish", messages=len(batch.entries)):
        published = publish(
            batch.entries, lambda entries: sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=entries)
        )
    # Poison behind the first change SNS did not take is retried with it, not parked now.
    due = batch.poison_before(published.stopped_at)
    with tracing.phase("park", records=len(due)):
        parked = park(due, function, _send_parked)
    outcome = settle(batch, published, parked)
    _report(batch, outcome, function)
    if outcome.whole_batch:
        code, message = outcome.publish_error or outcome.parking_error or ("", "")
        raise CheckpointError(f"the first record to retry has no sequence number ({code}: {message})")
    return outcome.response()


def _send_parked(bodies: list[str]) -> int:
    queue_url = os.environ.get("PARKED_QUEUE_URL")
    if not queue_url:
        raise parking.ParkingError("PARKED_QUEUE_URL is not set")
    return parking.park(aws.client("sqs"), queue_url, bodies)


def _report(batch: Batch, outcome: Outcome, function: str) -> None:
    for poison in batch.poison:
        if poison.position in outcome.parked_at:
            log.warning(
                "parked",
                extra={
                    "sequence_number": batch.identifiers[poison.position],
                    "event_id": str(poison.record.get("eventID", "")),
                    "reason": poison.reason,
                    "detail": poison.detail[:500],
                },
            )
    publish_code, publish_message = outcome.publish_error or ("", "")
    parking_code, parking_message = outcome.parking_error or ("", "")
    counts = {
        "received": outcome.received,
        "published": outcome.published,
        "parked": outcome.parked,
        "retried": outcome.retried,
    }
    if not outcome.balanced:
        log.error("accounting does not balance", extra=counts)
    log.log(
        logging.WARNING if outcome.retried else logging.INFO,
        "batch",
        extra={
            **counts,
            "checkpoint": outcome.checkpoint,
            "publish_error_code": publish_code,
            "publish_error": publish_message[:500],
            "parking_error_code": parking_code,
            "parking_error": parking_message[:500],
        },
    )
    metrics.publish(
        {
            "ChangesReceived": outcome.received,
            "ChangesPublished": outcome.published,
            "ChangesParked": outcome.parked,
            "ChangesRetried": outcome.retried,
            "PublishErrors": int(outcome.publish_error is not None),
            "ParkingErrors": int(outcome.parking_error is not None),
            "AccountingMismatch": 0 if outcome.balanced else 1,
        },
        "change_publisher",
    )
