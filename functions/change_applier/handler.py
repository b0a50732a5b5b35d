"""SQS → table2 (the fan-out path's consumer). Thin shell over ``apply_messages``."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from tributary import aws, batch, logs, metrics, replica, tracing

from .apply import apply_messages, send_to_dead_letter_queue

log = logs.get_logger("change_applier")


def handle(event: Mapping[str, Any], context: Any) -> batch.BatchResponse:
    """Lambda entry point for the SQS event source mapping.

    Refused messages go to the queue's dead-letter queue with their reason and are acknowledged;
    the others that failed are reported, and SQS delivers them again.
    """
    tracing.init()
    table = os.environ["TARGET_TABLE"]
    source = os.environ["SOURCE_TABLE"]
    topic = os.environ["TOPIC_ARN"]
    ttl = int(os.environ.get("TOMBSTONE_TTL_SECONDS", replica.DEFAULT_TOMBSTONE_TTL_S))
    function = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "change_applier")
    client = aws.client("dynamodb")
    records = event.get("Records", [])
    with tracing.phase("apply", messages=len(records)):
        outcome = apply_messages(
            records,
            lambda change: replica.apply(change, client, table, tombstone_ttl_s=ttl, source_table=source),
            lambda refused: send_to_dead_letter_queue(aws.client("sqs"), refused, function),
            source,
            topic,
            lambda change: replica.fetch_from_source(change, client, source),
        )
    for refused in outcome.refused:
        log.warning(
            "refused",
            extra={"message_id": refused.message_id, "reason": refused.reason, "detail": refused.detail[:300]},
        )
    log.info("batch", extra={"received": len(records), **outcome.counts, "errors": outcome.errors[:5]})
    counts = outcome.counts
    metrics.publish(
        {
            "ChangesReceived": len(records),
            "ChangesApplied": counts["applied"],
            "ChangesStale": counts["stale"],
            "ChangesSuperseded": counts["superseded"],
            "ChangesFailed": counts["failed"],
            "ChangesParked": counts["parked"],  # alarmed: sent on every invocation, zero included
        },
        "change_applier",
    )
    return outcome.response()
