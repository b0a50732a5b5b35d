"""table1's stream → table2, directly. Thin shell over ``apply_batch`` and the shared applier."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from tributary import aws, logs, metrics, replica, tracing

from .sync import apply_batch

log = logs.get_logger("table_sync")


def handle(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """Lambda entry point for the DynamoDB Streams event source mapping."""
    tracing.init()
    table = os.environ["TARGET_TABLE"]
    ttl = int(os.environ.get("TOMBSTONE_TTL_SECONDS", replica.DEFAULT_TOMBSTONE_TTL_S))
    client = aws.client("dynamodb")
    records = event.get("Records", [])
    with tracing.phase("apply", records=len(records)):
        result = apply_batch(records, lambda change: replica.apply(change, client, table, tombstone_ttl_s=ttl))
    log.info("batch", extra={"received": len(records), **result.counts, "checkpoint": result.checkpoint,
                             "error": result.error})
    metrics.emit({f"Changes{k.title()}": v for k, v in {"received": len(records), **result.counts}.items()},
                 {"Function": os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "table_sync")})
    return result.response()
