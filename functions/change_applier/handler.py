"""SQS → table2 (the fan-out path's consumer). Thin shell over ``apply_messages``."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from tributary import aws, logs, metrics, replica, tracing

from .apply import apply_messages

log = logs.get_logger("change_applier")


def handle(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """Lambda entry point for the SQS event source mapping."""
    tracing.init()
    table = os.environ["TARGET_TABLE"]
    source = os.environ["SOURCE_TABLE"]
    ttl = int(os.environ.get("TOMBSTONE_TTL_SECONDS", replica.DEFAULT_TOMBSTONE_TTL_S))
    client = aws.client("dynamodb")
    records = event.get("Records", [])
    with tracing.phase("apply", messages=len(records)):
        failed, counts, errors = apply_messages(
            records,
            lambda change: replica.apply(change, client, table, tombstone_ttl_s=ttl),
            lambda change: replica.fetch_from_source(change, client, source),
        )
    log.info("batch", extra={"received": len(records), **counts, "errors": errors[:5]})
    metrics.emit({f"Changes{k.title()}": v for k, v in {"received": len(records), **counts}.items()},
                 {"Function": os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "change_applier")})
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}
