"""Kinesis → S3 lake. Thin shell: event in, ``plan_batch`` + ``commit``, batchItemFailures out."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from botocore.exceptions import ClientError

from tributary import aws, batch, logs, metrics, tracing

from .dedupe import ShardState, UnreadableStateError
from .processor import Settings, commit, plan_batch
from .transform import transform

log = logs.get_logger("stream_processor")


class DedupeStore:
    """Each shard's dedupe state in S3, kept while the execution environment is warm.

    ``load`` is a conditional GET, so a warm environment downloads the state only when it
    changed. A state it cannot read (damaged, or written by another version of this
    function, say after a rollback) is logged and counted, and the shard starts from an
    empty window rather than stopping: a resend of a record committed before may then be
    written again, which is what the ``DedupeStateUnreadable`` alarm is for.
    """

    def __init__(self) -> None:
        self._cache: dict[str, tuple[str, ShardState]] = {}
        self.unreadable = 0

    def _key(self, settings: Settings, shard_id: str) -> str:
        return f"{settings.state_prefix}/{shard_id}.json.gz"

    def load(self, settings: Settings, shard_id: str) -> ShardState:
        """The shard's state as the last committed invocation left it."""
        cached = self._cache.get(shard_id)
        kwargs = {"IfNoneMatch": cached[0]} if cached else {}
        try:
            response = aws.client("s3").get_object(Bucket=settings.bucket, Key=self._key(settings, shard_id), **kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if cached and (status == 304 or code in ("304", "NotModified")):
                return cached[1]
            if code in ("NoSuchKey", "404"):
                return ShardState()
            raise
        try:
            state = ShardState.decode(response["Body"].read())
        except UnreadableStateError as exc:
            self.unreadable += 1
            log.error(
                "dedupe state unreadable; starting from an empty window",
                extra={"shard_id": shard_id, "etag": response.get("ETag"), "error": str(exc)},
            )
            state = ShardState()
        self._cache[shard_id] = (response["ETag"], state)
        return state

    def saver(self, settings: Settings, shard_id: str) -> Callable[[ShardState], None]:
        """``save(state)`` for ``commit``: the cache changes only once the write succeeded."""

        def save(state: ShardState) -> None:
            response = aws.client("s3").put_object(
                Bucket=settings.bucket,
                Key=self._key(settings, shard_id),
                Body=state.encode(),
                ContentType="application/gzip",
            )
            self._cache[shard_id] = (response["ETag"], state)

        return save

    def clear(self) -> None:
        self._cache.clear()


_store = DedupeStore()


def reset() -> None:
    """Forget what a warm execution environment keeps (the dedupe state cache), as a cold start would."""
    _store.clear()


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


def _first_sequence(records: list[Mapping[str, Any]]) -> int | None:
    try:
        return int(records[0]["kinesis"]["sequenceNumber"])
    except (LookupError, TypeError, ValueError):
        return None


def handle(event: Mapping[str, Any], context: Any) -> batch.BatchResponse:
    """Lambda entry point for the Kinesis event source mapping."""
    tracing.init()
    settings = Settings.from_env(os.environ)
    records = event.get("Records", [])
    shard_id = records[0].get("eventID", "").split(":", 1)[0] if records else ""
    dedupe = save = None
    unreadable_before = _store.unreadable
    if settings.dedupe_window_s > 0 and shard_id:
        with tracing.phase("dedupe_state"):
            state = _store.load(settings, shard_id)
        dedupe = state.batch(settings.dedupe_window_s, settings.dedupe_max_ids, _first_sequence(records))
        save = _store.saver(settings, shard_id)
    with tracing.phase("plan", records=len(records)):
        plan = plan_batch(records, settings, transform, dedupe)
    with tracing.phase("write", objects=len(plan.groups)):
        # A failed record is either quarantined by the plan, or its group failed to write and
        # the checkpoint makes Lambda deliver it again: nothing else happens to a record.
        outcome = commit(plan, _put(settings.bucket), settings, save)
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
    if not outcome.balanced:
        log.error("accounting does not balance", extra=counts)
    log.info(
        "batch",
        extra={
            **counts,
            "checkpoint": outcome.checkpoint,
            "reasons": dict(outcome.reasons),
            # A batch delivered again, as Lambda does after a lost response or a bisect.
            "redelivery": dedupe.redelivery if dedupe is not None else "",
        },
    )
    metrics.emit(
        {
            "RecordsReceived": outcome.received,
            "RecordsWritten": outcome.written,
            "RecordsQuarantined": outcome.quarantined,
            "RecordsFiltered": outcome.filtered,
            "RecordsDuplicates": outcome.duplicates,
            "RecordsRetried": outcome.retried,
            "RecordsObjectsWritten": outcome.objects_written,
            "RecordsWriteFailures": outcome.write_failures,
            "AccountingMismatch": 0 if outcome.balanced else 1,
            "DedupeStateUnreadable": _store.unreadable - unreadable_before,
        },
        {"Function": os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "stream_processor")},
    )
    return outcome.batch_item_failures()
