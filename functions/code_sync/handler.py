"""bucket1/code → bucket2/code. Thin shell: S3 events from SQS reconcile their keys; the nightly
scheduled event reconciles the whole prefix."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping
from typing import Any

from tributary import aws, logs, metrics, s3sync, tracing

log = logs.get_logger("code_sync")


def _prefixes() -> s3sync.Prefixes:
    return s3sync.Prefixes(
        source_bucket=os.environ["SOURCE_BUCKET"],
        target_bucket=os.environ["TARGET_BUCKET"],
        source_prefix=os.environ.get("SOURCE_PREFIX", "code/"),
        target_prefix=os.environ.get("TARGET_PREFIX", "code/"),
    )


def handle(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """Lambda entry point: the SQS event source mapping, or the reconciliation schedule."""
    tracing.init()
    prefixes = _prefixes()
    s3 = aws.client("s3")
    if event.get("source") == "aws.events":
        with tracing.phase("reconcile"):
            todo = s3sync.plan(s3, prefixes)
            counts = s3sync.apply_plan(s3, prefixes, todo)
        log.info("reconciled", extra={**counts, "unchanged": todo.unchanged})
        metrics.emit({f"Objects{k.title()}": v for k, v in counts.items()},
                     {"Function": os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "code_sync")})
        return {"reconciled": counts}
    failures, counts = [], Counter()
    for record in event.get("Records", []):
        try:
            with tracing.phase("reconcile_keys"):
                for key in s3sync.unique(s3sync.event_keys(record["body"], prefixes)):
                    counts[s3sync.reconcile_key(s3, prefixes, key)] += 1
        except Exception as exc:  # retried by SQS, then kept in the DLQ
            failures.append({"itemIdentifier": record["messageId"]})
            log.warning("message failed", extra={"messageId": record["messageId"], "error": repr(exc)[:300]})
    log.info("batch", extra={"messages": len(event.get("Records", [])), **counts, "failed": len(failures)})
    metrics.emit({f"Objects{k.title()}": v for k, v in counts.items()} | {"MessagesFailed": len(failures)},
                 {"Function": os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "code_sync")})
    return {"batchItemFailures": failures}
