"""table1's stream → table2, directly. Thin shell over ``sync_batch`` and the shared applier."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from tributary import aws, batch, logs, metrics, parking, replica, tracing

from .sync import sequence_number, sync_batch

log = logs.get_logger("table_sync")


def handle(event: Mapping[str, Any], context: Any) -> batch.BatchResponse:
    """Lambda entry point for the DynamoDB Streams event source mapping.

    Refused records go to the on-failure queue (PARKED_QUEUE_URL) and count as handled; the
    first other failure is the checkpoint Lambda retries from. ``sync.CheckpointError`` (a first
    record without a sequence number that could not be parked) fails the invocation, so the
    whole batch is retried.
    """
    tracing.init()
    table = os.environ["TARGET_TABLE"]
    source = os.environ["SOURCE_TABLE"]
    parked_queue = os.environ["PARKED_QUEUE_URL"]
    ttl = int(os.environ.get("TOMBSTONE_TTL_SECONDS", replica.DEFAULT_TOMBSTONE_TTL_S))
    function = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "table_sync")
    client = aws.client("dynamodb")
    records = event.get("Records", [])
    with tracing.phase("apply", records=len(records)):
        result = sync_batch(
            records,
            lambda change: replica.apply(change, client, table, tombstone_ttl_s=ttl, source_table=source),
            lambda parked: parking.park(
                aws.client("sqs"), parked_queue, [parking.message(p, function) for p in parked]
            ),
            source,
        )
    for parked in result.parked:
        log.warning(
            "parked",
            extra={
                "reason": parked.reason,
                "detail": parked.detail[:300],
                "sequence_number": sequence_number(parked.record),
            },
        )
    log.info(
        "batch",
        extra={"received": len(records), **result.counts, "checkpoint": result.checkpoint, "error": result.error},
    )
    counts = result.counts
    metrics.publish(
        {
            "ChangesReceived": len(records),
            "ChangesApplied": counts["applied"],
            "ChangesStale": counts["stale"],
            "ChangesFailed": counts["failed"],
            "ChangesParked": counts["parked"],  # alarmed: sent on every invocation, zero included
        },
        "table_sync",
    )
    return result.response()
