"""Keeping a replica table equal to its source: one applier for every path.

A change (from table1's stream, directly or through SNS and SQS) carries the source
version: the stream record's sequence number, which grows with every change of an item.
The replica stores it in a reserved attribute, and every write is conditional on the
stored version being older, so applying any permutation of a change log, with any
duplicates, leaves the replica equal to the source's final state. A delete leaves a
tombstone (the key, the version, a TTL) so that a late, older change cannot bring the
item back.

The reserved attributes are named here and nowhere else; a source item that uses one
is refused (it would collide with the replica's bookkeeping).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from tributary import ddb, json_codec

RESERVED_PREFIX = "_tributary_"
VERSION = f"{RESERVED_PREFIX}version"
CHANGED_AT = f"{RESERVED_PREFIX}changed_at"
DELETED = f"{RESERVED_PREFIX}deleted"
EXPIRES = f"{RESERVED_PREFIX}expires"
RESERVED = (VERSION, CHANGED_AT, DELETED, EXPIRES)
DEFAULT_TOMBSTONE_TTL_S = 7 * 24 * 3600
MESSAGE_FORMAT = "tributary.change/1"
# SNS takes messages up to 256 KiB; a change bigger than this travels as a reference and the
# consumer reads the item from the source table (see fetch_from_source).
MAX_MESSAGE_BYTES = 200_000

EventName = Literal["INSERT", "MODIFY", "REMOVE"]


class ChangeError(ValueError):
    """A change that can never be applied (bad shape, reserved attribute); ``reason`` is a stable code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Change:
    """One change of one item, in the form every path hands to ``apply``.

    ``keys`` and ``new_image`` hold AttributeValues (the low-level form, binary as bytes).
    """

    event_id: str
    event_name: EventName
    keys: dict[str, dict[str, Any]]
    new_image: dict[str, dict[str, Any]] | None
    version: int
    changed_at: float
    source_arn: str = ""
    fetch_from_source: bool = False

    @property
    def is_delete(self) -> bool:
        return self.event_name == "REMOVE"


def _to_bytes_form(image: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    # Stream events carry binary as base64 text; the SDK wants bytes.
    return ddb.to_item(ddb.from_item(image))


def check_user_attributes(image: Mapping[str, Any] | None) -> None:
    """Refuse an item whose attribute names collide with the replica's reserved ones."""
    if not image:
        return
    clashes = sorted(name for name in image if name.startswith(RESERVED_PREFIX))
    if clashes:
        raise ChangeError("reserved_attribute", f"attributes {clashes} use the reserved prefix {RESERVED_PREFIX!r}")


def from_stream_record(record: Mapping[str, Any]) -> Change:
    """A DynamoDB stream record (as Lambda delivers it) to a Change."""
    try:
        stream = record["dynamodb"]
        event_name = record["eventName"]
        if event_name not in ("INSERT", "MODIFY", "REMOVE"):
            raise ChangeError("bad_event", f"unknown eventName {event_name!r}")
        new_image = stream.get("NewImage")
        if event_name != "REMOVE" and new_image is None:
            raise ChangeError("no_new_image", "the stream must use NEW_IMAGE or NEW_AND_OLD_IMAGES")
        check_user_attributes(new_image)
        return Change(
            event_id=record.get("eventID", ""),
            event_name=event_name,
            keys=_to_bytes_form(stream["Keys"]),
            new_image=_to_bytes_form(new_image) if new_image is not None else None,
            version=int(stream["SequenceNumber"]),
            changed_at=float(stream.get("ApproximateCreationDateTime", 0)),
            source_arn=record.get("eventSourceARN", ""),
        )
    except ChangeError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise ChangeError("bad_record", f"not a DynamoDB stream record: {exc!r}") from None


def to_message(change: Change, max_bytes: int = MAX_MESSAGE_BYTES) -> str:
    """The change as the JSON message the fan-out path publishes (binary as base64).

    A change whose message would exceed ``max_bytes`` leaves its new image out and asks the
    consumer to read the item from the source table (the claim-check pattern)."""
    message = {
        "format": MESSAGE_FORMAT,
        "eventId": change.event_id,
        "eventName": change.event_name,
        "keys": ddb.to_item(ddb.from_item(change.keys), binary="base64"),
        "newImage": ddb.to_item(ddb.from_item(change.new_image), binary="base64") if change.new_image else None,
        "version": str(change.version),
        "changedAt": change.changed_at,
        "sourceArn": change.source_arn,
    }
    text = json_codec.dumps(message)
    if len(text) > max_bytes and message["newImage"] is not None:
        message["newImage"] = None
        message["fetchFromSource"] = True
        text = json_codec.dumps(message)
    return text.decode("utf-8")


def from_message(body: str | bytes) -> Change:
    """The inverse of ``to_message``; raise ChangeError for anything else."""
    try:
        message = json_codec.loads(body)
    except json_codec.JsonError as exc:
        raise ChangeError("bad_message", str(exc)) from None
    if not isinstance(message, dict) or message.get("format") != MESSAGE_FORMAT:
        raise ChangeError("bad_message", f"not a {MESSAGE_FORMAT} message")
    try:
        new_image = message["newImage"]
        check_user_attributes(new_image)
        fetch = bool(message.get("fetchFromSource", False))
        if message["eventName"] != "REMOVE" and new_image is None and not fetch:
            raise ChangeError("bad_message", "an INSERT or MODIFY without its new image")
        return Change(
            event_id=message["eventId"],
            event_name=message["eventName"],
            keys=_to_bytes_form(message["keys"]),
            new_image=_to_bytes_form(new_image) if new_image is not None else None,
            version=int(message["version"]),
            changed_at=float(message["changedAt"]),
            source_arn=message.get("sourceArn", ""),
            fetch_from_source=fetch,
        )
    except (KeyError, TypeError, ValueError, ddb.AttributeValueError) as exc:
        if isinstance(exc, ChangeError):
            raise
        raise ChangeError("bad_message", f"incomplete change message: {exc!r}") from None


def fetch_from_source(change: Change, client: Any, source_table: str) -> Change | None:
    """Complete a change that travelled without its image: read the item from the source table.

    The item read may be newer than the change; writing it under the change's (older) version is
    safe, because the newer change is on its way and will rewrite the same content. When the item
    is gone, a delete is on its way too: None (nothing to apply).
    """
    if not change.fetch_from_source:
        return change
    found = client.get_item(TableName=source_table, Key=change.keys, ConsistentRead=True).get("Item")
    if found is None:
        return None
    check_user_attributes(found)
    return Change(change.event_id, change.event_name, change.keys, found, change.version, change.changed_at,
                  change.source_arn)


def replica_item(change: Change, now: float, tombstone_ttl_s: int) -> dict[str, dict[str, Any]]:
    """What the replica stores for a change: the new image plus the version, or a tombstone."""
    stamp = {
        VERSION: {"N": str(change.version)},
        CHANGED_AT: {"N": str(Decimal(str(change.changed_at)))},
    }
    if change.is_delete:
        return {**change.keys, **stamp, DELETED: {"BOOL": True},
                EXPIRES: {"N": str(int(now) + tombstone_ttl_s)}}
    if change.new_image is None:
        raise ChangeError("incomplete", "the change has no new image (complete it with fetch_from_source)")
    return {**change.new_image, **stamp}


def apply(
    change: Change,
    client: Any,
    table: str,
    now: float | None = None,
    tombstone_ttl_s: int = DEFAULT_TOMBSTONE_TTL_S,
) -> Literal["applied", "stale"]:
    """Write the change if the replica holds an older version (or nothing); ``stale`` otherwise."""
    item = replica_item(change, time.time() if now is None else now, tombstone_ttl_s)
    try:
        client.put_item(
            TableName=table,
            Item=item,
            ConditionExpression="attribute_not_exists(#v) OR #v < :v",
            ExpressionAttributeNames={"#v": VERSION},
            ExpressionAttributeValues={":v": {"N": str(change.version)}},
        )
    except client.exceptions.ConditionalCheckFailedException:
        return "stale"
    return "applied"


def user_view(item: Mapping[str, Any]) -> dict[str, Any] | None:
    """A replica item as readers should see it: None for a tombstone, else without bookkeeping."""
    if DELETED in item:
        return None
    return {name: value for name, value in item.items() if name not in RESERVED}
