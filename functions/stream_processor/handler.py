"""Kinesis → S3 lake. Thin shell: event in, ``plan_batch`` + ``commit``, batchItemFailures out."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from tributary import aws, logs, metrics, tracing

from .dedupe import ShardState
from .processor import Settings, commit, plan_batch
from .transform import transform

log = logs.get_logger("stream_processor")
# Per shard: the ETag and contents of its dedupe state, kept while the environment is warm.
_states: dict[str, tuple[str, ShardState]] = {}


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


def _load_state(settings: Settings, shard_id: str) -> tuple[str, ShardState]:
    """The shard's dedupe state: a conditional GET, so a warm environment downloads it only when it changed."""
    key = f"{settings.state_prefix}/{shard_id}.json.gz"
    cached = _states.get(shard_id)
    kwargs = {"IfNoneMatch": cached[0]} if cached else {}
    try:
        response = aws.client("s3").get_object(Bucket=settings.bucket, Key=key, **kwargs)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if cached and (status == 304 or code in ("304", "NotModified")):
            return cached
        if code in ("NoSuchKey", "404"):
            return "", ShardState()
        raise
    return response["ETag"], ShardState.decode(response["Body"].read())


def _remember(settings: Settings, shard_id: str, state: ShardState):
    key = f"{settings.state_prefix}/{shard_id}.json.gz"

    def remember(fingerprints: list[bytes], newest_arrival: float) -> None:
        # A new state object: the cached one must not change unless the write succeeds.
        updated = state.copy()
        updated.add(newest_arrival, fingerprints, settings.dedupe_window_s, settings.dedupe_max_ids)
        response = aws.client("s3").put_object(Bucket=settings.bucket, Key=key, Body=updated.encode(),
                                               ContentType="application/gzip")
        _states[shard_id] = (response["ETag"], updated)

    return remember


def handle(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """Lambda entry point for the Kinesis event source mapping."""
    tracing.init()
    settings = Settings.from_env(os.environ)
    records = event.get("Records", [])
    shard_id = records[0].get("eventID", "").split(":", 1)[0] if records else ""
    seen = remember = None
    if settings.dedupe_window_s > 0 and shard_id:
        with tracing.phase("dedupe_state"):
            _, state = _load_state(settings, shard_id)
        seen, remember = state.contains, _remember(settings, shard_id, state)
    with tracing.phase("plan", records=len(records)):
        plan = plan_batch(records, settings, transform, seen)
    with tracing.phase("write", objects=len(plan.groups)):
        outcome = commit(plan, _put(settings.bucket), settings, remember)
    counts = {
        "received": outcome.received,
        "written": outcome.written,
        "quarantined": outcome.quarantined,
        "filtered": outcome.filtered,
        "duplicates": outcome.duplicates,
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
