"""SQS messages (changes published by change_publisher) applied to table2, failures per message.

A message refused for what it is (``parking.refusal``: not a change, a reserved attribute, an
item too big for table2, a change of another table, an envelope of another topic) would
fail every one of the queue's ``maxReceiveCount`` receives: it is sent to the queue's
dead-letter queue at once, with its reason, and acknowledged. Any other failure is a batch
item failure, which SQS delivers again.
"""

from __future__ import annotations

import json
from base64 import b64decode
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from tributary import batch, events, parking, replica

Apply = Callable[[replica.Change], str]
Complete = Callable[[replica.Change], "replica.Change | None"]


@dataclass(frozen=True)
class Refused:
    """A message that can never apply, and why."""

    record: Mapping[str, Any]
    reason: str
    detail: str

    @property
    def message_id(self) -> str:
        return str(self.record["messageId"])


# The refused messages in; out, the ids of those that could not be set aside, and why (they are retried).
DeadLetter = Callable[[list[Refused]], Mapping[str, str]]


@dataclass
class Outcome:
    """What a batch came to: the message ids to report as failed, counts, and why."""

    failed: list[str] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    refused: list[Refused] = field(default_factory=list)

    def response(self) -> batch.BatchResponse:
        return batch.failed_messages(self.failed)


def unwrap(body: str) -> tuple[str, str | None]:
    """The change message and, when the subscription delivers SNS envelopes, the envelope's TopicArn.

    With raw message delivery the body is the change itself and there is no topic to read (None).
    An envelope SNS could not have sent (its Message not a string) is refused (``bad_message``).
    """
    try:
        notification = events.sns_body(body)
    except events.EventShapeError as exc:
        raise replica.ChangeError("bad_message", str(exc)) from None
    if notification is None:
        return body, None
    return notification.message, notification.topic_arn


def read_change(body: str, source_table: str, topic_arn: str) -> replica.Change:
    """The change a message holds, refused (ChangeError) unless it comes from ``source_table`` through ``topic_arn``."""
    message, topic = unwrap(body)
    if topic is not None and topic != topic_arn:
        raise replica.ChangeError(
            "wrong_topic", f"the envelope comes from topic {topic or '(none)'!r}, not {topic_arn!r}"
        )
    change = replica.from_message(message)
    parking.check_source(change.source_arn, source_table)
    return change


def apply_messages(
    records: Iterable[Mapping[str, Any]],
    apply: Apply,
    dead_letter: DeadLetter,
    source_table: str,
    topic_arn: str,
    complete: Complete = lambda change: change,
) -> Outcome:
    """Apply every message; dead-letter the refused ones; report the others that failed, to be retried.

    ``complete`` reads the item for a change that travelled without its image (too big for SNS).
    """
    outcome = Outcome()
    for record in records:
        try:
            change = complete(read_change(record["body"], source_table, topic_arn))
            result = "superseded" if change is None else apply(change)
        except Exception as exc:
            refused = parking.refusal(exc)
            if refused is not None:
                outcome.refused.append(Refused(record, *refused))
                continue
            outcome.failed.append(record["messageId"])
            outcome.counts["failed"] += 1
            outcome.errors.append(f"{record['messageId']}: {type(exc).__name__}: {exc}"[:300])
            continue
        outcome.counts[result] += 1
    if outcome.refused:
        kept = dead_letter(outcome.refused)
        for parked in outcome.refused:
            if parked.message_id in kept:  # SQS delivers it again; its redrive policy moves it in the end
                outcome.failed.append(parked.message_id)
                outcome.counts["failed"] += 1
                outcome.errors.append(
                    f"{parked.message_id}: {parked.reason}, not dead-lettered: {kept[parked.message_id]}"[:300]
                )
            else:
                outcome.counts["parked"] += 1
    return outcome


def send_to_dead_letter_queue(sqs: Any, refused: list[Refused], function: str) -> dict[str, str]:
    """Send refused messages to the dead-letter queue of the queue each came from.

    The ids of those that could not be sent, and why: a message too large to carry its
    reason, a queue without a redrive policy, an SQS failure.
    """
    kept: dict[str, str] = {}
    by_queue: dict[str, list[tuple[Refused, parking.Message]]] = {}
    for item in refused:
        message = dead_letter_message(item, function)
        if parking.size(message) > parking.MAX_MESSAGE_BYTES:
            kept[item.message_id] = f"{parking.size(message)} bytes with its reason, over SQS's limit"
            continue
        by_queue.setdefault(str(item.record.get("eventSourceARN", "")), []).append((item, message))
    for queue_arn, group in by_queue.items():
        try:
            parking.park(sqs, dead_letter_queue_url(sqs, queue_arn), [message for _, message in group])
        except parking.ParkingError as exc:
            kept.update({item.message_id: str(exc)[:200] for item, _ in group})
    return kept


_dead_letter_queues: dict[str, str] = {}


def dead_letter_queue_url(sqs: Any, queue_arn: str) -> str:
    """The URL of the dead-letter queue the queue's redrive policy names (looked up once per process).

    Parking where SQS's own redrive would have moved the message keeps one place for the
    queue's failures, whatever the stack names it. Raises ParkingError when there is none.
    """
    found = _dead_letter_queues.get(queue_arn)
    if found is not None:
        return found
    try:
        queue_url = _queue_url(sqs, queue_arn)
        response = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["RedrivePolicy"])
        target = json.loads(response.get("Attributes", {}).get("RedrivePolicy") or "{}").get("deadLetterTargetArn")
        if not target:
            raise parking.ParkingError(f"{queue_arn} has no redrive policy, so no dead-letter queue")
        found = _queue_url(sqs, target)
    except (ClientError, BotoCoreError, ValueError) as exc:
        raise parking.ParkingError(f"cannot find the dead-letter queue of {queue_arn}: {exc}") from exc
    _dead_letter_queues[queue_arn] = found
    return found


def _queue_url(sqs: Any, queue_arn: str) -> str:
    parts = queue_arn.split(":")
    if len(parts) != 6 or parts[2] != "sqs":
        raise ValueError(f"{queue_arn!r} is not a queue ARN")
    return str(sqs.get_queue_url(QueueName=parts[5], QueueOwnerAWSAccountId=parts[4])["QueueUrl"])


def dead_letter_message(refused: Refused, function: str) -> parking.Message:
    """The refused message as it came (body and attributes), with the reason in ``tributary.*`` attributes."""
    return parking.dead_letter(
        refused.record["body"],
        refused.reason,
        refused.detail,
        function,
        queue_attributes(refused.record.get("messageAttributes") or {}),
    )


def queue_attributes(event_attributes: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Message attributes as Lambda's SQS event shows them, in the form SendMessage takes."""
    out: dict[str, dict[str, Any]] = {}
    for name, value in event_attributes.items():
        data_type = value.get("dataType") or value.get("DataType")
        if not data_type:
            continue
        if value.get("stringValue") is not None:
            out[name] = {"DataType": data_type, "StringValue": value["stringValue"]}
        elif value.get("binaryValue") is not None:
            out[name] = {"DataType": data_type, "BinaryValue": b64decode(value["binaryValue"])}
    return out
