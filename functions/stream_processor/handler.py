"""Kinesis → S3 lake. Thin shell: event in, classify and group, commit, batchItemFailures out.

One module per step: ``classify`` decides each record's fate, ``plan`` groups the batch into
objects, ``commit`` writes them and finds the checkpoint, ``dedupe_store`` keeps each shard's
dedupe state (``dedupe``) between invocations.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from tributary import aws, batch, lake, logs, metrics, tracing

from .commit import Outcome, Put, commit
from .dedupe import BatchDedupe
from .dedupe_store import DedupeStore
from .plan import plan_batch
from .settings import Settings
from .transform import transform

log = logs.get_logger("stream_processor")

# What a warm execution environment keeps between invocations: each shard's dedupe state.
store = DedupeStore()


def reset() -> None:
    """Forget what a warm execution environment keeps (the dedupe state cache), as a cold start would."""
    store.clear()


def handle(event: Mapping[str, Any], context: Any) -> batch.BatchResponse:
    """Lambda entry point for the Kinesis event source mapping."""
    tracing.init()
    settings = Settings.from_env(os.environ)
    records = event.get("Records", [])
    unreadable_before = store.unreadable
    dedupe = _open_dedupe(settings, records)
    with tracing.phase("plan", records=len(records)):
        # Every record gets one verdict: to the lake, to the quarantine with its reason and raw
        # bytes, filtered by the transform, or a producer's resend.
        plan = plan_batch(records, settings, transform, dedupe)
    with tracing.phase("write", objects=len(plan.groups)):
        # A record whose object S3 refused is at or after the checkpoint: Lambda delivers it
        # again with everything after it, and the retry rewrites the same keys. Nothing else
        # happens to a failed record.
        outcome = commit(plan, _put(settings), settings, dedupe)
    _report(outcome, dedupe, store.unreadable - unreadable_before)
    return outcome.batch_item_failures()


def _open_dedupe(settings: Settings, records: list[Mapping[str, Any]]) -> BatchDedupe | None:
    shard_id = records[0].get("eventID", "").split(":", 1)[0] if records else ""
    if settings.dedupe_window_s <= 0 or not shard_id:
        return None
    with tracing.phase("dedupe_state"):
        return store.open(settings, shard_id, _first_sequence(records))


def _first_sequence(records: list[Mapping[str, Any]]) -> int | None:
    try:
        return int(records[0]["kinesis"]["sequenceNumber"])
    except (LookupError, TypeError, ValueError):
        return None


def _put(settings: Settings) -> Put:
    """Each object under its key, after deleting the same key under every other codec's ending:
    an attempt before a change of ``LAKE_CODEC`` may have written these records there (no
    record of this shard's can say it did not: that attempt may have died before it recorded
    anything). A failed delete fails the put: its records are retried, and the retry deletes
    again. A deleted object's records are all in this put, or at or after the checkpoint if the
    put fails, since its key names the same first record. S3 does not charge for DELETE."""
    s3 = aws.client("s3")
    others = [c.suffix for c in lake.CODECS.values() if c is not settings.codec]

    def put(key: str, body: bytes, metadata: Mapping[str, str]) -> None:
        stem = lake.stem(key)
        for suffix in others:
            s3.delete_object(Bucket=settings.bucket, Key=stem + suffix)
        s3.put_object(
            Bucket=settings.bucket,
            Key=key,
            Body=body,
            ContentType="application/x-ndjson",
            ContentEncoding=settings.codec.content_encoding,
            Metadata=dict(metadata),
        )

    return put


def _report(outcome: Outcome, dedupe: BatchDedupe | None, unreadable: int) -> None:
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
    metrics.publish(
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
            "DedupeStateUnreadable": unreadable,
        },
        "stream_processor",
    )
