"""Keeping a replica table equal to its source: one applier for every path.

A change (from table1's stream, directly or through SNS and SQS) carries the source
version: the stream record's sequence number, which grows with every change of an item.
The replica stores it in a reserved attribute (``encode_version``), and every write is
conditional on the stored version being older (``version_condition``), so applying any
permutation of a change log, with any duplicates, leaves the replica equal to the source's
final state. A delete leaves a tombstone (the key, the version, a TTL) so that a late,
older change cannot bring the item back.

Backfill and repair copy table1's current state, whose version nobody knows: they keep the
version the replica held and mark the item with the time they read the source (``READ_AT``).
Content under that mark may be newer than its version says, so a change made before the read
(plus ``SOURCE_READ_MARGIN_S``) does not write its own, possibly older, image over it: ``apply``
writes table1's current state under the change's version instead (``source_copy``). The first
change made clearly after the read applies as usual and clears the mark.

The reserved attributes are named here and nowhere else; a source item that uses one
is refused (it would collide with the replica's bookkeeping).
"""

from __future__ import annotations

import dataclasses
import math
import re
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
READ_AT = f"{RESERVED_PREFIX}read_at"
RESERVED = (VERSION, CHANGED_AT, DELETED, EXPIRES, READ_AT)
# How much later than a marked source read (READ_AT, the reader's clock) a change must be made
# (ApproximateCreationDateTime, DynamoDB's clock, rounded down to the second) before its image is
# known to be newer than the copy. It covers the rounding and the skew between the two clocks; a
# larger margin only costs reads of table1.
SOURCE_READ_MARGIN_S = 900
# Attempts of a conditional write racing other writers of the same item before giving up (transient).
WRITE_ATTEMPTS = 4
DEFAULT_TOMBSTONE_TTL_S = 7 * 24 * 3600
MESSAGE_FORMAT = "tributary.change/1"
# SNS takes messages up to 256 KiB; a change bigger than this travels as a reference and the
# consumer reads the item from the source table (see fetch_from_source).
MAX_MESSAGE_BYTES = 200_000
# The DynamoDB Streams API gives sequence numbers 21 to 40 digits long, and a Number holds only 38
# significant digits; so the version is stored as a String of 40 digits, zero-padded, whose order
# (DynamoDB compares strings by their UTF-8 bytes) is the order of the numbers.
VERSION_DIGITS = 40
_SEQUENCE_NUMBER = re.compile(rf"[0-9]{{1,{VERSION_DIGITS}}}")

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

    ``keys`` and ``new_image`` hold AttributeValues (the low-level form, binary as bytes);
    ``changed_at`` is the stream record's approximate creation time (epoch seconds), None when
    the record has none. ``read_at`` is set when ``new_image`` was read from table1 at that time
    rather than carried by the change (it may then be newer than the change).
    """

    event_id: str
    event_name: EventName
    keys: dict[str, dict[str, Any]]
    new_image: dict[str, dict[str, Any]] | None
    version: int
    changed_at: float | None = None
    source_arn: str = ""
    fetch_from_source: bool = False
    read_at: float | None = None

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


def encode_version(version: int) -> dict[str, str]:
    """The AttributeValue that ``VERSION`` holds for ``version``: a String of 40 digits, zero-padded."""
    if isinstance(version, bool) or not isinstance(version, int) or not 0 <= version < 10**VERSION_DIGITS:
        raise ChangeError("bad_version", f"a version is an integer of 0 to {VERSION_DIGITS} digits, got {version!r}")
    return {"S": f"{version:0{VERSION_DIGITS}d}"}


def _number_not_below(version: int) -> str:
    # The least Number at or above ``version``. Below 10**38 that is the version itself; above, a
    # version may have more significant digits than a Number holds, and rounding it up to 38 is
    # exact for the comparison: no Number lies between the version and the rounded value, so a
    # stored Number is older than the version exactly when it is below the rounded value.
    text = str(version)
    if len(text) <= ddb.MAX_SIGNIFICANT_DIGITS:
        return text
    unit = 10 ** (len(text) - ddb.MAX_SIGNIFICANT_DIGITS)
    return str(-(-version // unit) * unit)


def version_condition(version: int) -> tuple[str, dict[str, str], dict[str, dict[str, str]]]:
    """ConditionExpression, ExpressionAttributeNames and ExpressionAttributeValues for "the replica
    holds no version, or an older one than ``version``".

    The placeholders start with ``tributary``, so a caller can add its own beside them. A version
    stored as a Number (as replicas written before versions were Strings hold them) is compared as
    a number; a version of any other type is never older.
    """
    expression = (
        "attribute_not_exists(#tributary_version)"
        " OR (attribute_type(#tributary_version, :tributary_string) AND #tributary_version < :tributary_version)"
        " OR (attribute_type(#tributary_version, :tributary_number) AND #tributary_version < :tributary_version_n)"
    )
    # Each comparison sits behind a type test: DynamoDB documents a comparison across types as no
    # match (the LT comparison operator), but moto raises a TypeError on one, and it evaluates an
    # AND no further than a false operand.
    values = {
        ":tributary_version": encode_version(version),
        ":tributary_version_n": {"N": _number_not_below(version)},
        ":tributary_string": {"S": "S"},
        ":tributary_number": {"S": "N"},
    }
    return expression, {"#tributary_version": VERSION}, values


def _version(text: Any) -> int:
    if not isinstance(text, str) or _SEQUENCE_NUMBER.fullmatch(text) is None:
        raise ValueError(f"a sequence number is 1 to {VERSION_DIGITS} digits, got {text!r}"[:200])
    return int(text)


def _changed_at(value: Any) -> float | None:
    return None if value is None else float(value)


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
            version=_version(stream["SequenceNumber"]),
            changed_at=_changed_at(stream.get("ApproximateCreationDateTime")),
            source_arn=record.get("eventSourceARN", ""),
        )
    except ChangeError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise ChangeError("bad_record", f"not a DynamoDB stream record: {exc!r}") from None


# SNS and SQS take only #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF
# in a message. JSON writers escape everything below #x20 and UTF-8 cannot hold a surrogate, so the
# two noncharacters U+FFFE and U+FFFF (valid in DynamoDB strings) are all that is left to escape.
# Their UTF-8 forms cannot occur inside another character's, so replacing the bytes is exact.
_NOT_FOR_SQS = ((b"\xef\xbf\xbe", b"\\ufffe"), (b"\xef\xbf\xbf", b"\\uffff"))


def _message_bytes(message: Mapping[str, Any]) -> bytes:
    text = json_codec.dumps(message)
    if b"\xef\xbf" in text:
        for raw, escaped in _NOT_FOR_SQS:
            text = text.replace(raw, escaped)
    return text


def to_message(change: Change, max_bytes: int = MAX_MESSAGE_BYTES) -> str:
    """The change as the JSON message the fan-out path publishes (binary as base64), in the
    characters SNS and SQS accept, whatever the item's strings hold.

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
    text = _message_bytes(message)
    if len(text) > max_bytes and message["newImage"] is not None:
        message["newImage"] = None
        message["fetchFromSource"] = True
        text = _message_bytes(message)
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
            version=_version(message["version"]),
            changed_at=_changed_at(message.get("changedAt")),
            source_arn=message.get("sourceArn", ""),
            fetch_from_source=fetch,
        )
    except (KeyError, TypeError, ValueError, ddb.AttributeValueError) as exc:
        if isinstance(exc, ChangeError):
            raise
        raise ChangeError("bad_message", f"incomplete change message: {exc!r}") from None


def fetch_from_source(change: Change, client: Any, source_table: str) -> Change | None:
    """Complete a change that travelled without its image: read the item from the source table.

    The item read may be newer than the change; it is written under the change's (older)
    version and marked as read from the source (``read_at``), so the changes in flight between
    the two write table1's current state, never an image older than this one. When the item is
    gone, a delete is on its way too: None (nothing to apply).
    """
    if not change.fetch_from_source:
        return change
    read_at = time.time()
    found = client.get_item(TableName=source_table, Key=change.keys, ConsistentRead=True).get("Item")
    if found is None:
        return None
    check_user_attributes(found)
    return dataclasses.replace(change, new_image=found, fetch_from_source=False, read_at=read_at)


def _stamp(version: dict[str, Any], changed_at: float | None) -> dict[str, dict[str, Any]]:
    stamp: dict[str, dict[str, Any]] = {VERSION: version}
    # No stream record is from before 1970: a time of 0 is how a caller says it has none.
    if changed_at is not None and math.isfinite(changed_at) and changed_at > 0:
        stamp[CHANGED_AT] = {"N": ddb.number_text(Decimal(repr(float(changed_at))))}
    return stamp


def _tombstone(keys: Mapping[str, Any], now: float, tombstone_ttl_s: int) -> dict[str, dict[str, Any]]:
    return {**keys, DELETED: {"BOOL": True}, EXPIRES: {"N": str(int(now) + tombstone_ttl_s)}}


def replica_item(change: Change, now: float, tombstone_ttl_s: int) -> dict[str, dict[str, Any]]:
    """What the replica stores for a change: the new image plus the version (and the change's time,
    when known), or a tombstone."""
    stamp = _stamp(encode_version(change.version), change.changed_at)
    if change.read_at is not None:
        stamp[READ_AT] = read_mark(change.read_at)
    if change.is_delete:
        return {**_tombstone(change.keys, now, tombstone_ttl_s), **stamp}
    if change.new_image is None:
        raise ChangeError("incomplete", "the change has no new image (complete it with fetch_from_source)")
    return {**change.new_image, **stamp}


def source_copy(
    keys: Mapping[str, Any],
    found: Mapping[str, Any] | None,
    version: dict[str, Any],
    read_at: dict[str, str],
    now: float,
    tombstone_ttl_s: int = DEFAULT_TOMBSTONE_TTL_S,
    changed_at: float | None = None,
) -> dict[str, dict[str, Any]]:
    """What the replica stores for table1's state read at ``read_at`` (an N of epoch seconds):
    ``found`` (the item, or None when it is gone, for a tombstone) under ``version``, marked."""
    check_user_attributes(found)
    body = dict(found) if found is not None else _tombstone(keys, now, tombstone_ttl_s)
    return {**body, **_stamp(version, changed_at), READ_AT: read_at}


def read_mark(now: float) -> dict[str, str]:
    """The ``READ_AT`` value for a source read made at ``now``."""
    return {"N": str(int(now))}


def stored_version(item: Mapping[str, Any]) -> int | None:
    """The version a replica item holds (-1 when it holds none); None when it is unreadable."""
    value = item.get(VERSION)
    if value is None:
        return -1
    if "S" in value and re.fullmatch(r"[0-9]{1,40}", value["S"]):
        return int(value["S"])
    if "N" in value:
        try:
            number = Decimal(value["N"])
        except ArithmeticError:
            return None
        return int(number) if number == number.to_integral_value() and number >= 0 else None
    return None


def _unmarked(change: Change) -> tuple[str, dict[str, str], dict[str, dict[str, str]]]:
    # The replica holds no source copy, or one read long enough before this change was made.
    if change.changed_at is None or not math.isfinite(change.changed_at):
        return "attribute_not_exists(#tributary_read_at)", {"#tributary_read_at": READ_AT}, {}
    limit = int(change.changed_at) - SOURCE_READ_MARGIN_S
    return (
        "(attribute_not_exists(#tributary_read_at) OR #tributary_read_at < :tributary_read_limit)",
        {"#tributary_read_at": READ_AT},
        {":tributary_read_limit": {"N": str(limit)}},
    )


class ReplicaBusyError(RuntimeError):
    """The item kept changing under a conditional write: worth retrying later."""


def apply(
    change: Change,
    client: Any,
    table: str,
    now: float | None = None,
    tombstone_ttl_s: int = DEFAULT_TOMBSTONE_TTL_S,
    source_table: str | None = None,
) -> Literal["applied", "stale"]:
    """Write the change if the replica holds an older version (or nothing); ``stale`` otherwise.

    With ``source_table``, an item a backfill or repair copied from table1 (marked ``READ_AT``) is
    never put back to an older image: a change made before the copy writes table1's current
    state under its version instead. Raises ReplicaBusyError when other writers keep winning the race.
    """
    now = time.time() if now is None else now
    versioned, names, values = version_condition(change.version)
    plain = (replica_item(change, now, tombstone_ttl_s), versioned, names, values)
    if source_table is not None:
        unmarked, more_names, more_values = _unmarked(change)
        plain = (plain[0], f"({versioned}) AND {unmarked}", {**names, **more_names}, {**values, **more_values})
    attempt = plain
    for _ in range(WRITE_ATTEMPTS):
        item, condition, names_now, values_now = attempt
        try:
            client.put_item(
                TableName=table,
                Item=item,
                ConditionExpression=condition,
                ExpressionAttributeNames=names_now,
                ExpressionAttributeValues=values_now,
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except client.exceptions.ConditionalCheckFailedException as exc:
            held = exc.response.get("Item") or client.get_item(
                TableName=table, Key=change.keys, ConsistentRead=True
            ).get("Item")
        else:
            return "applied"
        stored = -1 if held is None else stored_version(held)
        if stored is None or stored >= change.version:
            return "stale"
        if source_table is None or held is None or READ_AT not in held:
            attempt = plain  # the item changed between the write and the read: try again
            continue
        # An older version over a copy of table1 that may be newer than this change's image.
        found = client.get_item(TableName=source_table, Key=change.keys, ConsistentRead=True).get("Item")
        attempt = (
            source_copy(
                change.keys,
                found,
                encode_version(change.version),
                held[READ_AT],
                now,
                tombstone_ttl_s,
                change.changed_at,
            ),
            f"({versioned}) AND #tributary_read_at = :tributary_read_at",
            {**names, "#tributary_read_at": READ_AT},
            {**values, ":tributary_read_at": held[READ_AT]},
        )
    raise ReplicaBusyError(f"the replica's item kept changing under {WRITE_ATTEMPTS} conditional writes")


def user_view(item: Mapping[str, Any]) -> dict[str, Any] | None:
    """A replica item as readers should see it: None for a tombstone, else without bookkeeping."""
    if DELETED in item:
        return None
    return {name: value for name, value in item.items() if name not in RESERVED}
