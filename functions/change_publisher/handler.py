"""table1's stream → SNS (the fan-out path). Thin shell over ``publish``."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from tributary import aws, logs, metrics, tracing

from .publish import checkpoint, entries, publish

log = logs.get_logger("change_publisher")


def handle(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """Lambda entry point for the DynamoDB Streams event source mapping."""
    tracing.init()
    topic = os.environ["TOPIC_ARN"]
    records = event.get("Records", [])
    batch, unreadable, reason = entries(records, os.environ.get("SOURCE_TABLE", ""))
    sns = aws.client("sns")
    with tracing.phase("publish", messages=len(batch)):
        failed = publish(batch, lambda request: sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=request))
    retry_from = checkpoint(batch, failed, unreadable)
    published = len(batch) - len(failed) if retry_from is None else sum(
        1 for i, e in enumerate(batch) if i not in failed and int(e.sequence_number) < int(retry_from))
    log.info("batch", extra={"received": len(records), "published": published, "checkpoint": retry_from,
                             "unreadable": reason})
    metrics.emit({"ChangesReceived": len(records), "ChangesPublished": published},
                 {"Function": os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "change_publisher")})
    return {"batchItemFailures": [] if retry_from is None else [{"itemIdentifier": retry_from}]}
