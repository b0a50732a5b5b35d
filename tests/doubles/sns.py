"""SNS's documented PublishBatch limits, enforced on a boto3 client in front of moto.

moto 5.2.5 checks, for PublishBatch: at most 10 entries (``TooManyEntriesInBatchRequest``),
distinct Ids (``BatchEntryIdsNotDistinct``), a message of at most 262,144 *characters* (a
``Failed`` entry ``InvalidParameter``; bytes and attributes not counted), and message
attributes whose data type starts with String, Number or Binary, whose value is non-empty, and
whose Number value parses. It does not check the size of a call in all (``BatchRequestTooLong``:
in moto ten messages of 40 KB publish in one call, which SNS refuses), an empty call
(``EmptyBatchRequest``), the form of Ids (``InvalidBatchEntryId``), an empty message, attribute
names, or sizes in UTF-8 bytes.

``SnsLimits(client)`` hooks a boto3 SNS client (moto's, under the ``aws`` fixture) so that a
PublishBatch call SNS would refuse raises what SNS returns, as the client's own modeled
exception, before moto sees it; a call within the limits goes on to moto, which delivers it to
the topic's subscriptions. The limits, from the SNS API Reference (PublishBatch,
PublishBatchRequestEntry, MessageAttributeValue) and the Developer Guide (message attributes):

- 1 to 10 entries per call; Ids unique within the call, 1 to 80 characters of ``A-Za-z0-9_-``;
- a message non-empty UTF-8 text; a message and its attributes at most 262,144 bytes, and the
  whole call (every message and every attribute's name, data type and value) at most 262,144
  bytes (both are the topic's ``MaximumMessageSize``, 256 KiB by default);
- an attribute name of 1 to 256 characters of ``A-Za-z0-9_.-``, not starting or ending with a
  period, without two periods in a row, not starting with ``AWS.`` or ``Amazon.`` in any case;
  a data type of String, String.Array, Number or Binary (at most 256 bytes); a non-empty value
  (``StringValue`` for String, String.Array and Number, ``BinaryValue`` for Binary), a Number
  that parses, a String.Array that is a JSON array.

The error codes are the ones botocore's SNS model declares for PublishBatch; where the
documentation does not say whether an invalid entry fails the call or only the entry, the
double fails the call. Not modelled: the 10-attribute cap of raw delivery to SQS (SNS accepts
such a message and discards it at delivery), FIFO topics, throughput quotas.

``faults`` scripts what happens to the next calls within the limits, one item per call:
``None`` (normal), ``CallFault`` (the call raises, nothing delivered), ``EntryFault`` (those
entries are reported in ``Failed`` and not delivered).
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

MAX_ENTRIES = 10
MAX_BYTES = 262_144
DATA_TYPES = ("String", "String.Array", "Number", "Binary")
_ID = re.compile(r"[A-Za-z0-9_-]{1,80}")
_ATTRIBUTE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,256}")


@dataclass(frozen=True)
class CallFault:
    """The whole call fails with this error (for example ``Throttled``, 429, or ``InternalError``, 500)."""

    code: str
    message: str
    status: int = 400


@dataclass(frozen=True)
class EntryFault:
    """These entry Ids are reported in ``Failed`` (and not delivered); the others publish."""

    ids: tuple[str, ...]
    code: str = "InternalError"
    message: str = "Internal error"
    sender_fault: bool = False


class Refused(Exception):  # noqa: N818 - a refusal, not a bug of the double
    """A call SNS refuses: its error code, message and HTTP status."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.status = code, message, status


def entry_bytes(entry: Mapping[str, Any]) -> int:
    """The bytes SNS counts for one entry: the message and each attribute's name, data type and value."""
    size = len(str(entry.get("Message", "")).encode("utf-8", "surrogatepass"))
    for name, value in (entry.get("MessageAttributes") or {}).items():
        size += len(name.encode("utf-8")) + len(str(value.get("DataType", "")).encode("utf-8"))
        if value.get("StringValue") is not None:
            size += len(str(value["StringValue"]).encode("utf-8", "surrogatepass"))
        if value.get("BinaryValue") is not None:
            size += len(value["BinaryValue"])
    return size


def check(entries: Sequence[Mapping[str, Any]], max_bytes: int = MAX_BYTES) -> None:
    """Raise ``Refused`` as SNS would for a PublishBatch call with these entries."""
    if not entries:
        raise Refused("EmptyBatchRequest", "The batch request doesn't contain any entries.")
    if len(entries) > MAX_ENTRIES:
        raise Refused("TooManyEntriesInBatchRequest", "The batch request contains more entries than permissible.")
    ids = [entry.get("Id") for entry in entries]
    for entry_id in ids:
        if not isinstance(entry_id, str) or not _ID.fullmatch(entry_id):
            raise Refused(
                "InvalidBatchEntryId",
                f"The Id of a batch entry in a batch request doesn't abide by the specification: {entry_id!r}",
            )
    if len(set(ids)) != len(ids):
        raise Refused("BatchEntryIdsNotDistinct", "Two or more batch entries in the request have the same Id.")
    for entry in entries:
        _check_message(entry)
        for name, value in (entry.get("MessageAttributes") or {}).items():
            _check_attribute(name, value)
        if entry_bytes(entry) > max_bytes:
            raise Refused(
                "InvalidParameter",
                f"Invalid parameter: Message too long (entry {entry['Id']}: "
                f"{entry_bytes(entry)} bytes with its attributes, over {max_bytes})",
            )
    total = sum(entry_bytes(entry) for entry in entries)
    if total > max_bytes:
        raise Refused(
            "BatchRequestTooLong",
            f"The length of all the batch messages put together is more than the "
            f"limit ({total} bytes, over {max_bytes}).",
        )


def _check_message(entry: Mapping[str, Any]) -> None:
    message = entry.get("Message")
    if not isinstance(message, str) or not message:
        raise Refused("InvalidParameter", f"Invalid parameter: Empty message (entry {entry['Id']})")
    try:
        message.encode("utf-8")
    except UnicodeEncodeError:
        raise Refused("InvalidParameter", f"Invalid parameter: Message is not UTF-8 (entry {entry['Id']})") from None


def _check_attribute(name: str, value: Mapping[str, Any]) -> None:
    if (
        not _ATTRIBUTE_NAME.fullmatch(name)
        or name.startswith(".")
        or name.endswith(".")
        or ".." in name
        or name.lower().startswith(("aws.", "amazon."))
    ):
        raise Refused("InvalidParameter", f"Invalid parameter: message attribute name {name!r}")
    data_type = value.get("DataType")
    if data_type not in DATA_TYPES:
        raise Refused(
            "InvalidParameter", f"The message attribute '{name}' has an invalid message attribute type {data_type!r}"
        )
    if data_type == "Binary":
        if not value.get("BinaryValue"):
            raise Refused(
                "ParameterValueInvalid",
                f"The message attribute '{name}' must contain non-empty message "
                "attribute value for message attribute type 'Binary'.",
            )
        return
    text = value.get("StringValue")
    if not isinstance(text, str) or not text:
        raise Refused(
            "ParameterValueInvalid",
            f"The message attribute '{name}' must contain non-empty message "
            f"attribute value for message attribute type '{data_type}'.",
        )
    if data_type == "Number":
        try:
            number = Decimal(text)
        except InvalidOperation:
            number = None
        if number is None or not number.is_finite():
            raise Refused("ParameterValueInvalid", f"Could not cast message attribute '{name}' value to number.")
    if data_type == "String.Array":
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        if not isinstance(parsed, list):
            raise Refused("ParameterValueInvalid", f"The message attribute '{name}' is not a JSON array.")


class SnsLimits:
    """Hooks ``client`` (a boto3 SNS client) so that its PublishBatch calls obey SNS's limits.

    ``calls`` holds the entries of every call that passed the limits (and any scripted fault);
    ``refused`` the error code of every call that did not.
    """

    def __init__(self, client: Any, max_bytes: int = MAX_BYTES) -> None:
        self.client = client
        self.max_bytes = max_bytes
        self.calls: list[list[dict[str, Any]]] = []
        self.refused: list[str] = []
        self.faults: deque[CallFault | EntryFault | None] = deque()
        self._failing: list[dict[str, Any]] = []
        events = client.meta.events
        events.register("before-parameter-build.sns.PublishBatch", self._before, unique_id=f"sns-limits-{id(self)}")
        events.register("after-call.sns.PublishBatch", self._after, unique_id=f"sns-limits-after-{id(self)}")

    def _before(self, params: dict[str, Any], **_: Any) -> None:
        entries = params.get("PublishBatchRequestEntries") or []
        try:
            check(entries, self.max_bytes)
        except Refused as refused:
            self._raise(refused.code, refused.message, refused.status)
        fault = self.faults.popleft() if self.faults else None
        if isinstance(fault, CallFault):
            self._raise(fault.code, fault.message, fault.status)
        self.calls.append([dict(entry) for entry in entries])
        self._failing = []
        if isinstance(fault, EntryFault):
            self._failing = [
                {"Id": entry["Id"], "Code": fault.code, "Message": fault.message, "SenderFault": fault.sender_fault}
                for entry in entries
                if entry["Id"] in fault.ids
            ]
            # Failed entries are not delivered: only the others go on to moto.
            params["PublishBatchRequestEntries"] = [entry for entry in entries if entry["Id"] not in fault.ids]

    def _after(self, parsed: dict[str, Any], **_: Any) -> None:
        if self._failing:
            parsed.setdefault("Failed", []).extend(self._failing)
            self._failing = []

    def _raise(self, code: str, message: str, status: int) -> None:
        self.refused.append(code)
        error = {
            "Error": {"Code": code, "Message": message, "Type": "Sender" if status < 500 else "Receiver"},
            "ResponseMetadata": {"HTTPStatusCode": status},
        }
        raise self.client.exceptions.from_code(code)(error, "PublishBatch")
