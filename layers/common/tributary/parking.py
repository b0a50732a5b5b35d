"""Changes that can never apply, set aside by the function itself with what replaying them needs.

A DynamoDB stream record refused for what it is (a reserved attribute, an item too big for
the replica, a record that is not a change, a change of another table) would otherwise fail
its batch: Lambda would retry and bisect, and send the records behind it to the on-failure
destination too. Instead the function parks it, as one SQS message in the on-failure queue
(or a DLQ), counts it, and reports the record as handled, so the changes behind it apply.
``refusal`` tells such a change from a failure worth retrying.

A parked message is JSON (``format`` = ``tributary.parked/1``) holding the reason, a detail,
the function, the source ARN and the original record; every character outside ASCII is
escaped, so any DynamoDB string survives SQS's character set (which excludes U+FFFE, U+FFFF
and most control characters). A record too big for one SQS message keeps its keys, sequence
number and event name and loses its images (``images_dropped``): the item can be read again
from the source table by key.

A message that came from a queue is set aside as it is instead (``dead_letter``): its body
unchanged, so that redriving it gives the consumer the message it refused, and the reason in
message attributes named ``tributary.*``.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from tributary import replica

FORMAT = "tributary.parked/1"
MAX_MESSAGE_BYTES = 262_144  # SQS: a message (body and attributes), and a SendMessageBatch call in all
MAX_BATCH = 10
MAX_ATTRIBUTES = 10  # SQS: message attributes per message
ATTRIBUTE_PREFIX = "tributary."
SEND_ATTEMPTS = 3  # entries SQS fails on its side (SenderFault false) are sent again, this many times in all


class ParkingError(RuntimeError):
    """SQS did not take every parked message; the caller must not report them as handled."""


@dataclass(frozen=True, slots=True)
class Parked:
    """One record set aside, and why."""

    reason: str
    detail: str
    record: Mapping[str, Any]
    source_arn: str = ""


@dataclass(frozen=True, slots=True)
class Message:
    """A message to send with message attributes (``{"DataType": ..., "StringValue": ...}``, as SQS takes them)."""

    body: str
    attributes: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


def refusal(error: BaseException) -> tuple[str, str] | None:
    """``(reason, detail)`` when ``error`` says the change can never apply as it is; None when a retry may succeed.

    Refused: a ``replica.ChangeError`` (bad shape, reserved attribute, another source), and
    DynamoDB's ValidationException for an item over 400 KB (the replica's bookkeeping
    attributes can push an item that fits in table1 over the limit in table2). Anything
    else (throttling, 5xx, access denied, a timeout) is worth retrying.
    """
    if isinstance(error, replica.ChangeError):
        return error.reason, error.detail
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        text = str(details.get("Message", ""))
        if details.get("Code") == "ValidationException" and "exceeded the maximum allowed size" in text:
            return "item_too_large", f"the replica's item would exceed DynamoDB's 400 KB: {text}"
    return None


def check_source(source_arn: str, table: str) -> None:
    """Refuse (``wrong_source``) a change whose source ARN (a table's or its stream's) does not name ``table``."""
    if source_table(source_arn) != table:
        raise replica.ChangeError(
            "wrong_source", f"the change comes from {source_arn or 'an unnamed source'!r}, not from table {table!r}"
        )


def source_table(arn: str) -> str | None:
    """The table a DynamoDB table or stream ARN names (``arn:aws:dynamodb:<region>:<account>:table/<name>/...``)."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "dynamodb":
        return None
    resource = parts[5].split("/")
    return resource[1] if len(resource) >= 2 and resource[0] == "table" and resource[1] else None


def message(parked: Parked, function: str, now: float | None = None) -> str:
    """The SQS message body for a parked record, within SQS's size and character limits."""
    document: dict[str, Any] = {
        "format": FORMAT,
        "reason": parked.reason,
        "detail": parked.detail[:1000],
        "function": function,
        "sourceArn": parked.source_arn,
        "parkedAt": round(time.time() if now is None else now, 3),
        "record": parked.record,
    }
    text = _dumps(document)
    if len(text) <= MAX_MESSAGE_BYTES:
        return text
    document["record"] = _without_images(parked.record)
    document["images_dropped"] = True
    text = _dumps(document)
    if len(text) > MAX_MESSAGE_BYTES:  # keys alone cannot be this large (DynamoDB caps them at 2 KB)
        document["record"] = {}
        text = _dumps(document)
    return text


def dead_letter(
    body: str,
    reason: str,
    detail: str,
    function: str,
    attributes: Mapping[str, Mapping[str, Any]] | None = None,
    now: float | None = None,
) -> Message:
    """A refused queue message as it came (body and attributes), with ``tributary.*`` attributes saying why.

    The original attributes are kept as far as SQS's ten per message allow (ours first);
    ``size`` says whether the result still fits in one message.
    """
    ours = {
        f"{ATTRIBUTE_PREFIX}reason": reason,
        f"{ATTRIBUTE_PREFIX}detail": _ascii(detail[:1000]) or "-",
        f"{ATTRIBUTE_PREFIX}function": function,
        f"{ATTRIBUTE_PREFIX}parked_at": f"{time.time() if now is None else now:.3f}",
    }
    kept = {name: value for name, value in (attributes or {}).items() if not name.startswith(ATTRIBUTE_PREFIX)}
    merged: dict[str, Mapping[str, Any]] = {
        name: {"DataType": "String", "StringValue": value} for name, value in ours.items()
    }
    for name in sorted(kept)[: MAX_ATTRIBUTES - len(merged)]:
        merged[name] = kept[name]
    return Message(body, merged)


def size(outgoing: str | Message) -> int:
    """The bytes SQS counts for a message: its body and each attribute's name, type and value."""
    if isinstance(outgoing, str):
        return len(outgoing.encode("utf-8"))
    return len(outgoing.body.encode("utf-8")) + attributes_size(outgoing.attributes)


def attributes_size(attributes: Mapping[str, Mapping[str, Any]]) -> int:
    """The bytes SQS and SNS count for message attributes: each name, data type and value."""
    total = 0
    for name, value in attributes.items():
        total += len(name.encode("utf-8")) + len(str(value.get("DataType", "")).encode("utf-8"))
        if "StringValue" in value:
            total += len(str(value["StringValue"]).encode("utf-8"))
        if "BinaryValue" in value:
            total += len(value["BinaryValue"])
    return total


def _ascii(text: str) -> str:
    # Attribute values have the same character set as bodies; escaping keeps any detail sendable.
    return text.encode("ascii", "backslashreplace").decode("ascii")


def _dumps(document: Mapping[str, Any]) -> str:
    # ensure_ascii: SQS refuses U+FFFE, U+FFFF and control characters that DynamoDB strings may hold.
    return json.dumps(document, ensure_ascii=True, separators=(",", ":"), default=_bytes_as_text)


def _bytes_as_text(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    return str(value)


def _without_images(record: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in record.items() if k != "dynamodb"}
    stream = record.get("dynamodb")
    if isinstance(stream, Mapping):
        out["dynamodb"] = {k: v for k, v in stream.items() if k not in ("NewImage", "OldImage")}
    return out


def park(client: Any, queue_url: str, bodies: Iterable[str | Message]) -> int:
    """Send the messages to the queue (SendMessageBatch, within its entry and byte limits); how many.

    Raises ParkingError unless SQS took every one; a message too large for SQS is refused
    before anything is sent. Entries SQS fails on its side are sent again, and a message
    sent twice is possible (a parked queue is read by people and by idempotent consumers).
    """
    outgoing = list(bodies)
    too_large = [i for i, m in enumerate(outgoing) if size(m) > MAX_MESSAGE_BYTES]
    if too_large:
        raise ParkingError(
            f"{len(too_large)} message(s) over SQS's {MAX_MESSAGE_BYTES} bytes, "
            f"the first {size(outgoing[too_large[0]])} bytes"
        )
    batch: list[str | Message] = []
    total = sent = 0
    for item in outgoing:
        length = size(item)
        if batch and (len(batch) == MAX_BATCH or total + length > MAX_MESSAGE_BYTES):
            sent += _send(client, queue_url, batch)
            batch, total = [], 0
        batch.append(item)
        total += length
    if batch:
        sent += _send(client, queue_url, batch)
    return sent


def _send(client: Any, queue_url: str, batch: list[str | Message]) -> int:
    pending = dict(enumerate(batch))
    for attempt in range(SEND_ATTEMPTS):
        if attempt:
            time.sleep(0.1 * 2**attempt)
        entries = [_entry(str(i), item) for i, item in pending.items()]
        try:
            response = client.send_message_batch(QueueUrl=queue_url, Entries=entries)
        except (ClientError, BotoCoreError) as exc:
            raise ParkingError(f"SendMessageBatch failed: {exc}") from exc
        failed = response.get("Failed") or []
        for entry in response.get("Successful") or []:
            pending.pop(int(entry["Id"]), None)
        if not failed:
            return len(batch)
        if any(f.get("SenderFault") for f in failed):
            break
    first = failed[0]
    raise ParkingError(f"SQS refused {len(failed)} parked message(s): {first.get('Code')}: {first.get('Message')}")


def _entry(entry_id: str, item: str | Message) -> dict[str, Any]:
    if isinstance(item, str):
        return {"Id": entry_id, "MessageBody": item}
    entry: dict[str, Any] = {"Id": entry_id, "MessageBody": item.body}
    if item.attributes:
        entry["MessageAttributes"] = {name: dict(value) for name, value in item.attributes.items()}
    return entry
