"""Typed views of the events the functions receive: SQS messages, SNS envelopes, S3 notifications.

Each view reads what AWS documents and nothing more, and says in an ``EventShapeError`` what
it found instead:

- an SQS record of an event source mapping
  (https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html);
- the JSON envelope SNS wraps a message in when a subscription's raw message delivery is off
  (https://docs.aws.amazon.com/sns/latest/dg/sns-message-and-json-formats.html);
- an S3 event notification record
  (https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html)
  and the same event through EventBridge
  (https://docs.aws.amazon.com/AmazonS3/latest/userguide/ev-events.html). Object keys arrive
  URL-encoded in both, as in a form (``+`` for a space): they are decoded here.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class EventShapeError(ValueError):
    """An event that is not the shape the view reads."""


def _excerpt(value: Any) -> str:
    try:
        text = json.dumps(value, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return text[:200]


# --- SQS ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SqsMessage:
    """One message of an SQS event: its id (what a partial batch response names) and its body."""

    message_id: str
    body: str
    event_source_arn: str

    @classmethod
    def from_record(cls, record: Any) -> SqsMessage:
        if not isinstance(record, Mapping) or record.get("eventSource") != "aws:sqs":
            raise EventShapeError(f"not an SQS message record: {_excerpt(record)}")
        message_id, body = record.get("messageId"), record.get("body")
        if not isinstance(message_id, str) or not isinstance(body, str):
            raise EventShapeError(f"an SQS record without a messageId and a body: {_excerpt(record)}")
        return cls(
            message_id=message_id,
            body=body,
            event_source_arn=str(record.get("eventSourceARN", "")),
        )


def is_sqs_event(event: Any) -> bool:
    """An event source mapping's SQS batch: a non-empty ``Records`` list of SQS records only."""
    records = event.get("Records") if isinstance(event, Mapping) else None
    return (
        isinstance(records, list)
        and bool(records)
        and all(isinstance(r, Mapping) and r.get("eventSource") == "aws:sqs" for r in records)
    )


# --- SNS ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SnsNotification:
    """A message as SNS delivers it with raw message delivery off: the message and where it came from."""

    message: str
    topic_arn: str
    message_id: str


def sns_notification(document: Any) -> SnsNotification | None:
    """The SNS envelope ``document`` is, or None when it is not one (raw delivery, or any other
    JSON). An object with ``"Type": "Notification"`` and a ``Message`` is an envelope; one whose
    ``Message`` is not a string is refused, as SNS never sends one."""
    if not isinstance(document, Mapping) or document.get("Type") != "Notification" or "Message" not in document:
        return None
    message = document["Message"]
    if not isinstance(message, str):
        raise EventShapeError(f"an SNS envelope whose Message is not a string: {_excerpt(message)}")
    topic, message_id = document.get("TopicArn"), document.get("MessageId")
    return SnsNotification(
        message=message,
        topic_arn=topic if isinstance(topic, str) else "",
        message_id=message_id if isinstance(message_id, str) else "",
    )


def sns_body(body: str) -> SnsNotification | None:
    """The SNS envelope an SQS message body is, or None when the body is anything else (the
    message itself, with raw delivery on). Only a body that can be an envelope is parsed."""
    if not body.lstrip().startswith("{") or '"Type"' not in body:
        return None
    try:
        document = json.loads(body)
    except ValueError:
        return None
    return sns_notification(document)


# --- S3 -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class S3ObjectEvent:
    """One S3 event about one object: the bucket, the key (decoded) and what happened."""

    bucket: str
    key: str
    event_name: str


def _decoded(key: Any) -> str:
    if not isinstance(key, str):
        raise EventShapeError(f"an S3 object key that is not a string: {_excerpt(key)}")
    return urllib.parse.unquote_plus(key)


def s3_notification(message: Mapping[str, Any]) -> list[S3ObjectEvent]:
    """The objects of an S3 event notification (its ``Records``), in order."""
    records = message.get("Records")
    if not isinstance(records, list):
        raise EventShapeError(f"an S3 event notification without Records: {_excerpt(message)}")
    events = []
    for record in records:
        if not isinstance(record, Mapping) or record.get("eventSource") != "aws:s3" or "s3" not in record:
            raise EventShapeError(f"not an S3 event notification record: {_excerpt(record)}")
        try:
            bucket, key = record["s3"]["bucket"]["name"], record["s3"]["object"]["key"]
        except (KeyError, TypeError):
            raise EventShapeError(f"an S3 record without a bucket name and an object key: {_excerpt(record)}") from None
        events.append(S3ObjectEvent(str(bucket), _decoded(key), str(record.get("eventName", ""))))
    return events


def s3_eventbridge(message: Mapping[str, Any]) -> S3ObjectEvent:
    """The object of an S3 event delivered by EventBridge (``"source": "aws.s3"``)."""
    detail = message.get("detail")
    if not isinstance(detail, Mapping) or "object" not in detail or "bucket" not in detail:
        raise EventShapeError(f"an aws.s3 event without a bucket and an object: {message.get('detail-type')!r}")
    try:
        bucket, key = detail["bucket"]["name"], detail["object"]["key"]
    except (KeyError, TypeError):
        raise EventShapeError(f"an aws.s3 event without a bucket name and an object key: {_excerpt(detail)}") from None
    return S3ObjectEvent(str(bucket), _decoded(key), str(message.get("detail-type", "")))
