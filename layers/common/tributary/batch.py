"""The partial batch response an event source mapping reads with ``ReportBatchItemFailures``.

Lambda reads ``{"batchItemFailures": [{"itemIdentifier": ...}]}``: for SQS each failed message's
id; for a Kinesis or DynamoDB stream one sequence number, the checkpoint, from which it retries
the rest of the batch. An empty list means the whole batch succeeded.
https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html
https://docs.aws.amazon.com/lambda/latest/dg/services-kinesis-batchfailurereporting.html
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypedDict


class BatchItemFailure(TypedDict):
    itemIdentifier: str


class BatchResponse(TypedDict):
    batchItemFailures: list[BatchItemFailure]


def failed_messages(message_ids: Iterable[str]) -> BatchResponse:
    """SQS: every message to leave on the queue (retried, then redriven to its DLQ)."""
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in message_ids]}


def from_checkpoint(checkpoint: str | None) -> BatchResponse:
    """A stream: the sequence number to retry from, or None when the whole batch is done."""
    return {"batchItemFailures": [] if checkpoint is None else [{"itemIdentifier": checkpoint}]}


__all__ = ["BatchItemFailure", "BatchResponse", "failed_messages", "from_checkpoint"]
