"""bucket1/code → bucket2/code. Thin shell: S3 events reconcile their keys; the nightly scheduled
event (and its continuations) reconciles the whole prefix."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping
from typing import Any

from tributary import aws, batch, events, logs, metrics, s3sync, tracing

log = logs.get_logger("code_sync")


def _prefixes() -> s3sync.Prefixes:
    return s3sync.Prefixes(
        source_bucket=os.environ["SOURCE_BUCKET"],
        target_bucket=os.environ["TARGET_BUCKET"],
        source_prefix=os.environ.get("SOURCE_PREFIX", "code/"),
        target_prefix=os.environ.get("TARGET_PREFIX", "code/"),
    )


def _publish(counts: Mapping[str, int], **more: int) -> None:
    metrics.publish(
        {
            "ObjectsCopied": counts.get("copied", 0),
            "ObjectsDeleted": counts.get("deleted", 0),
            "ObjectsSkipped": counts.get("skipped", 0),
            "ObjectsAbsent": counts.get("absent", 0),
            "ObjectsUnchanged": counts.get("unchanged", 0),
            "ObjectsFailed": counts.get("failed", 0),  # alarmed: sent on every invocation, zero included
            **more,
        },
        "code_sync",
    )


def handle(event: Mapping[str, Any], context: Any) -> batch.BatchResponse | dict[str, Any]:
    """Lambda entry point, for every shape the function can be wired to:

    - SQS messages (the stack's wiring) holding S3 notifications, SNS envelopes of them,
      EventBridge S3 events or reconciliation continuations: failures per message;
    - an S3 notification or an EventBridge S3 event delivered directly: raises if a key failed
      (Lambda's asynchronous retries run it again);
    - the schedule's event (``aws.events``): a whole-prefix reconciliation.

    Any other event raises ``s3sync.EventError`` naming what it got.
    """
    tracing.init()
    prefixes, s3 = _prefixes(), aws.client("s3")
    if events.is_sqs_event(event):
        return _messages(event["Records"], prefixes, s3, context)
    if isinstance(event, Mapping) and event.get("source") == "aws.events":
        return {"reconciled": _reconcile(prefixes, s3, context, "")}
    found = s3sync.message_keys(event, prefixes)  # a direct S3 or EventBridge event, or EventError
    if isinstance(found, s3sync.Continue):
        return {"reconciled": _reconcile(prefixes, s3, context, found.start_after)}
    counts: Counter[str] = Counter()
    with tracing.phase("reconcile_keys"):
        for key in s3sync.unique(found):
            counts[s3sync.reconcile_key(s3, prefixes, key)] += 1
    log.info("event", extra=dict(counts))
    _publish(counts)
    return {"keys": dict(counts)}


def _messages(
    records: list[Mapping[str, Any]], prefixes: s3sync.Prefixes, s3: Any, context: Any
) -> batch.BatchResponse:
    failures: list[str] = []
    counts: Counter[str] = Counter()
    continuations = []
    for record in records:
        message_id = str(record.get("messageId", ""))
        try:
            message = events.SqsMessage.from_record(record)
            found = s3sync.message_keys(s3sync.parse(message.body), prefixes)
            if isinstance(found, s3sync.Continue):
                continuations.append((message_id, found))  # after the events: they are quick
                continue
            with tracing.phase("reconcile_keys"):
                for key in s3sync.unique(found):
                    counts[s3sync.reconcile_key(s3, prefixes, key)] += 1
        except Exception as exc:  # retried by SQS, then kept in the DLQ
            failures.append(message_id)
            log.warning("message failed", extra={"messageId": message_id, "error": repr(exc)[:300]})
    for message_id, found in continuations:
        try:
            _reconcile(prefixes, s3, context, found.start_after)
        except Exception as exc:
            failures.append(message_id)
            log.warning("continuation failed", extra={"messageId": message_id, "error": repr(exc)[:300]})
    log.info("batch", extra={"messages": len(records), **counts, "failed": len(failures)})
    _publish(counts, MessagesFailed=len(failures))
    return batch.failed_messages(failures)


def _reconcile(prefixes: s3sync.Prefixes, s3: Any, context: Any, start_after: str) -> dict[str, Any]:
    """One reconciliation pass from ``start_after``; when time runs short, the rest is handed to a
    continuation message on the code events queue (CONTINUE_QUEUE_URL)."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    deadline = s3sync.time_left(remaining) if callable(remaining) else None
    with tracing.phase("reconcile", start_after=start_after[:100]):
        outcome, todo = s3sync.reconcile(s3, prefixes, start_after, deadline)
    report = outcome.as_dict()
    if not todo.complete:
        aws.client("sqs").send_message(
            QueueUrl=os.environ["CONTINUE_QUEUE_URL"], MessageBody=s3sync.continuation(todo.last_key)
        )
        report["continues_after"] = todo.last_key
    for failure in outcome.failed:
        log.warning("object failed", extra=failure)
    log.info("reconciled", extra={k: v for k, v in report.items() if k != "failures"})
    _publish(report)
    return report
