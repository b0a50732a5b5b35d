"""Kinesis → S3 lake. Thin shell: event in, ``plan_batch`` + ``commit``, batchItemFailures out."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from tributary import aws, logs, metrics, tracing

from .processor import Settings, commit, plan_batch
from .transform import transform

log = logs.get_logger("stream_processor")


def _put(bucket: str) -> Any:
    s3 = aws.client("s3")

    def put(key: str, body: bytes, metadata: Mapping[str, str]) -> None:
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=body,
            ContentType="application/x-ndjson",
            ContentEncoding="gzip",
            Metadata=dict(metadata),
        )

    return put


def handle(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """Lambda entry point for the Kinesis event source mapping."""
    tracing.init()
    settings = Settings.from_env(os.environ)
    records = event.get("Records", [])
    with tracing.phase("plan", records=len(records)):
        plan = plan_batch(records, settings, transform)
    with tracing.phase("write", objects=len(plan.groups)):
        outcome = commit(plan, _put(settings.bucket), settings)
    counts = {
        "received": outcome.received,
        "written": outcome.written,
        "quarantined": outcome.quarantined,
        "filtered": outcome.filtered,
        "retried": outcome.retried,
        "objects_written": outcome.objects_written,
        "write_failures": outcome.write_failures,
    }
    log.info(
        "batch",
        extra={**counts, "checkpoint": outcome.checkpoint, "reasons": dict(outcome.reasons)},
    )
    metrics.emit(
        {"Records" + k.title().replace("_", ""): v for k, v in counts.items()},
        {"Function": os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "stream_processor")},
    )
    return outcome.batch_item_failures()
