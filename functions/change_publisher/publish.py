"""table1's stream records to SNS messages, in PublishBatch calls within SNS's limits.

SNS takes at most ten entries per PublishBatch call, and 262,144 bytes for one message and for
one call in all, where a message counts its body and every attribute's name, data type and value
(UTF-8 bytes). A record refused for what it is (not a DynamoDB change, a reserved attribute)
never becomes a message: it is poison, parked with ``tributary.parking`` so that the changes
behind it publish. Everything here is pure but for the callables the handler passes in (SNS, SQS).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from tributary import batch, parking, replica

MAX_ENTRIES = 10  # PublishBatch: entries per call
MAX_BYTES = 262_144  # SNS: one message with its attributes, and one PublishBatch call in all

PublishBatch = Callable[[list[dict[str, Any]]], Mapping[str, Any]]
Park = Callable[[list[str]], int]


class CheckpointError(RuntimeError):
    """The first record to retry has no sequence number and none precedes it: only a whole-batch retry."""


@dataclass(frozen=True, slots=True)
class PublishEntry:
    """One change as a PublishBatch entry; ``position`` is its record's index in the event, ``size``
    the bytes SNS counts for it (the message and its attributes)."""

    position: int
    message: str
    attributes: dict[str, dict[str, str]]
    size: int


@dataclass(frozen=True, slots=True)
class Poison:
    """A record that can never become a change message, and why."""

    position: int
    reason: str
    detail: str
    record: Mapping[str, Any]
    source_arn: str = ""


@dataclass(frozen=True, slots=True)
class Batch:
    """An event's records, read: each record's identifier ("" when it has no usable one), and
    the entries to publish and the poison to park, in stream order."""

    identifiers: list[str]
    entries: list[PublishEntry]
    poison: list[Poison]

    def poison_before(self, position: int | None) -> list[Poison]:
        """The poison ahead of ``position`` (all of it for None): what to park now."""
        return [p for p in self.poison if position is None or p.position < position]


@dataclass
class Progress:
    """How far one step (publishing, parking) got: the positions it finished, in order, and the
    position it stopped at (None: it finished everything), with the error that stopped it."""

    done: list[int] = field(default_factory=list)
    stopped_at: int | None = None
    error_code: str = ""
    error_message: str = ""


@dataclass(frozen=True, slots=True)
class Outcome:
    """The invocation's answer and its accounting: ``received == published + parked + retried``,
    where ``published`` counts what SNS took and ``parked`` what SQS took, both before the
    checkpoint, and ``retried`` the records at or after it.

    ``checkpoint`` is the itemIdentifier Lambda retries from (None: nothing to retry).
    ``whole_batch`` is set when the first record to retry has no identifier and no record before
    it has one either: only failing the invocation retries it.
    """

    checkpoint: str | None
    received: int
    published: int
    parked: int
    retried: int
    parked_at: tuple[int, ...] = ()
    publish_error: tuple[str, str] | None = None
    parking_error: tuple[str, str] | None = None
    whole_batch: bool = False

    @property
    def balanced(self) -> bool:
        """Every record received is counted once, each outcome counted on its own."""
        return self.received == self.published + self.parked + self.retried

    def response(self) -> batch.BatchResponse:
        """The response Lambda expects with ReportBatchItemFailures."""
        return batch.from_checkpoint(self.checkpoint)


def sequence_number(record: Any) -> str:
    """The record's SequenceNumber (its itemIdentifier), or "" when it has none Lambda could use."""
    stream = record.get("dynamodb") if isinstance(record, Mapping) else None
    value = stream.get("SequenceNumber") if isinstance(stream, Mapping) else None
    return value if isinstance(value, str) and value.isascii() and value.isdigit() else ""


def read(records: Sequence[Any], table: str) -> Batch:
    """Each record as an entry to publish or as poison to park."""
    identifiers: list[str] = []
    entries: list[PublishEntry] = []
    poison: list[Poison] = []
    for position, record in enumerate(records):
        identifiers.append(sequence_number(record))
        try:
            entries.append(_entry(position, record, table))
        except replica.ChangeError as exc:
            kept = record if isinstance(record, Mapping) else {"record": record}
            arn = kept.get("eventSourceARN")
            poison.append(Poison(position, exc.reason, exc.detail, kept, arn if isinstance(arn, str) else ""))
    return Batch(identifiers, entries, poison)


def _entry(position: int, record: Any, table: str) -> PublishEntry:
    if not isinstance(record, Mapping) or not isinstance(record.get("dynamodb"), Mapping):
        raise replica.ChangeError("bad_record", "not a DynamoDB stream record: no dynamodb object")
    change = replica.from_stream_record(record)
    # Every message says it is a change of ``table``: a change of another table is refused (wrong_source).
    parking.check_source(change.source_arn, table)
    attributes = {
        # Subscribers filter on these (the subscription's filter policy).
        "table": {"DataType": "String", "StringValue": table},
        "event_name": {"DataType": "String", "StringValue": change.event_name},
    }
    # Bigger than this, the change travels by reference; the attributes count toward SNS's limit too.
    max_bytes = min(replica.MAX_MESSAGE_BYTES, MAX_BYTES - parking.attributes_size(attributes))
    try:
        message = replica.to_message(change, max_bytes=max_bytes)
    except ValueError as exc:
        raise replica.ChangeError("unencodable", f"{type(exc).__name__}: {exc}") from None
    size = len(message.encode("utf-8")) + parking.attributes_size(attributes)
    if size > MAX_BYTES:  # even by reference: only keys far beyond DynamoDB's limits get here
        raise replica.ChangeError("message_too_large", f"{size} bytes with its attributes, over {MAX_BYTES}")
    return PublishEntry(position, message, attributes, size)


def calls(entries: Iterable[PublishEntry]) -> Iterator[list[PublishEntry]]:
    """The entries, in order, grouped into PublishBatch calls within the entry and byte limits."""
    call: list[PublishEntry] = []
    size = 0
    for entry in entries:
        if call and (len(call) == MAX_ENTRIES or size + entry.size > MAX_BYTES):
            yield call
            call, size = [], 0
        call.append(entry)
        size += entry.size
    if call:
        yield call


def publish(entries: Iterable[PublishEntry], publish_batch: PublishBatch) -> Progress:
    """Publish the entries call by call, up to the first entry SNS does not take.

    Nothing after that entry is sent: Lambda retries it and everything behind it.
    """
    progress = Progress()
    for call in calls(entries):
        request = [{"Id": str(i), "Message": e.message, "MessageAttributes": e.attributes} for i, e in enumerate(call)]
        try:
            response = publish_batch(request)
        except (ClientError, BotoCoreError) as exc:
            progress.stopped_at = call[0].position
            progress.error_code, progress.error_message = describe(exc)
            return progress
        failed = {str(f.get("Id")): f for f in response.get("Failed") or []}
        taken = {str(s.get("Id")) for s in response.get("Successful") or []} - set(failed)
        for i, entry in enumerate(call):
            if str(i) not in taken:
                refusal = failed.get(str(i), {})
                progress.stopped_at = entry.position
                progress.error_code = str(refusal.get("Code") or "NotReported")
                progress.error_message = str(refusal.get("Message") or "neither Successful nor Failed lists it")
                return progress
            progress.done.append(entry.position)
    return progress


def park(poison: Sequence[Poison], function: str, send: Park) -> Progress:
    """Park every poison record (``send`` takes the message bodies); on failure, stop at the first."""
    progress = Progress()
    if not poison:
        return progress
    bodies = [parking.message(parking.Parked(p.reason, p.detail, p.record, p.source_arn), function) for p in poison]
    try:
        send(bodies)
    except (parking.ParkingError, ClientError, BotoCoreError) as exc:
        progress.stopped_at = poison[0].position
        progress.error_code, progress.error_message = describe(exc)
        return progress
    progress.done.extend(p.position for p in poison)
    return progress


def settle(batch: Batch, published: Progress, parked: Progress) -> Outcome:
    """Where Lambda retries from, and how each record ended.

    The retry starts at the first record either step stopped at. A record without an identifier
    cannot be named, so the retry starts at the nearest record before it that has one (that record
    is then published or parked again, which the version guard and replay make harmless).
    """
    received = len(batch.identifiers)
    checkpoint_index = min((s for s in (published.stopped_at, parked.stopped_at) if s is not None), default=received)
    checkpoint: str | None = None
    if checkpoint_index < received:
        named = [p for p in range(checkpoint_index, -1, -1) if batch.identifiers[p]]
        checkpoint_index = named[0] if named else 0
        checkpoint = batch.identifiers[checkpoint_index] or None
    parked_at = tuple(p for p in parked.done if p < checkpoint_index)
    return Outcome(
        checkpoint=checkpoint,
        received=received,
        published=sum(1 for p in published.done if p < checkpoint_index),
        parked=len(parked_at),
        retried=received - checkpoint_index,
        parked_at=parked_at,
        publish_error=(published.error_code, published.error_message) if published.stopped_at is not None else None,
        parking_error=(parked.error_code, parked.error_message) if parked.stopped_at is not None else None,
        whole_batch=checkpoint_index < received and checkpoint is None,
    )


def describe(exc: BaseException) -> tuple[str, str]:
    """An error's AWS error code and message (its own, or the AWS error that caused it), else its class and text."""
    own = getattr(exc, "response", None)
    response = own if isinstance(own, Mapping) else getattr(exc.__cause__, "response", None)
    if isinstance(response, Mapping):
        error = response.get("Error") or {}
        code = str(error.get("Code") or type(exc).__name__)
        return code, str(error.get("Message") or exc) if response is own else str(exc)
    return type(exc).__name__, str(exc)
