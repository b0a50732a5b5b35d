"""Kinesis Data Streams records as Lambda receives them, decoded into user records.

``decode_batch`` turns the ``Records`` of a Kinesis event into user records (one per
plain record, several per KPL aggregate) and rejects, each with a reason, the ones
that cannot be read. It never raises for a bad record: bad input is data too.
"""

from __future__ import annotations

import binascii
from base64 import b64decode
from binascii import a2b_base64
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tributary import kpl


@dataclass(frozen=True, slots=True)
class KinesisRecord:
    """The typed view of one entry of a Kinesis event's ``Records``."""

    event_id: str
    shard_id: str
    sequence_number: str
    partition_key: str
    data_b64: str
    arrival: float
    event_source_arn: str

    @classmethod
    def from_event(cls, raw: Mapping[str, Any]) -> KinesisRecord:
        """Read one ``Records`` entry; KeyError means the event is not a Kinesis event."""
        kinesis = raw["kinesis"]
        event_id = raw.get("eventID", "")
        return cls(
            event_id=event_id,
            shard_id=event_id.split(":", 1)[0] if ":" in event_id else "",
            sequence_number=kinesis["sequenceNumber"],
            partition_key=kinesis.get("partitionKey", ""),
            data_b64=kinesis["data"],
            arrival=float(kinesis.get("approximateArrivalTimestamp", 0.0)),
            event_source_arn=raw.get("eventSourceARN", ""),
        )


@dataclass(slots=True)
class UserRecord:
    """One producer record: its bytes and where it sits in the shard. Read-only by convention.

    ``subsequence`` is the index inside a KPL aggregate, None for a plain record.
    """

    # Not frozen: a frozen dataclass sets each field through object.__setattr__, which costs
    # more than the rest of building one, and one is built for every record of every batch.

    data: bytes
    partition_key: str
    shard_id: str
    sequence_number: str
    subsequence: int | None
    arrival: float


@dataclass(frozen=True, slots=True)
class Rejected:
    """A Kinesis record (or an aggregate) that could not be decoded, and why."""

    sequence_number: str
    subsequence: int | None
    shard_id: str
    partition_key: str
    raw: bytes
    reason: str
    detail: str
    arrival: float = 0.0


def position(sequence_number: str, subsequence: int | None = None) -> tuple[int, int]:
    """A record's position, which orders a shard's records: sequence numbers compare as integers,
    never as text, and a record outside a KPL aggregate (no subsequence) comes before the
    aggregated records of its sequence number."""
    return int(sequence_number), -1 if subsequence is None else subsequence


def decode_record(record: KinesisRecord) -> tuple[list[UserRecord], list[Rejected]]:
    """Decode one Kinesis record into user records, or reject it with a reason."""
    try:
        data = b64decode(record.data_b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raw = record.data_b64.encode("utf-8", "replace") if isinstance(record.data_b64, str) else b""
        return [], [
            Rejected(
                record.sequence_number,
                None,
                record.shard_id,
                record.partition_key,
                raw,
                "bad_base64",
                f"data is not base64: {exc}",
                record.arrival,
            )
        ]
    if not kpl.is_aggregated(data):
        return [
            UserRecord(data, record.partition_key, record.shard_id, record.sequence_number, None, record.arrival)
        ], []
    try:
        parts = kpl.deaggregate(data)
    except kpl.KplError as exc:
        return [], [
            Rejected(
                record.sequence_number,
                None,
                record.shard_id,
                record.partition_key,
                data,
                exc.reason,
                str(exc),
                record.arrival,
            )
        ]
    except Exception as exc:  # the protobuf runtime's own refusals (for example a key that is not UTF-8)
        return [], [
            Rejected(
                record.sequence_number,
                None,
                record.shard_id,
                record.partition_key,
                data,
                "kpl_malformed",
                f"{type(exc).__name__}: {str(exc)[:200]}",
                record.arrival,
            )
        ]
    return [
        UserRecord(p.data, p.partition_key, record.shard_id, record.sequence_number, i, record.arrival)
        for i, p in enumerate(parts)
    ], []


def decode_batch(raw_records: Iterable[Mapping[str, Any]]) -> tuple[list[UserRecord], list[Rejected]]:
    """Decode every record of a Kinesis event, in shard order."""
    good: list[UserRecord] = []
    bad: list[Rejected] = []
    for raw in raw_records:
        kinesis = raw["kinesis"]
        # The common case, a plain record in canonical base64, without the general path's
        # intermediate objects. Strict decoding accepts a subset of what the general path
        # accepts, with the same bytes; anything else (bad base64, an aggregate) goes there.
        try:
            data = a2b_base64(kinesis["data"], strict_mode=True)
        except (binascii.Error, ValueError, TypeError):
            data = None
        if data is None or data[:4] == kpl.MAGIC:
            users, rejected = decode_record(KinesisRecord.from_event(raw))
            good.extend(users)
            bad.extend(rejected)
            continue
        event_id = raw.get("eventID", "")
        good.append(
            UserRecord(
                data,
                kinesis.get("partitionKey", ""),
                event_id.split(":", 1)[0] if ":" in event_id else "",
                kinesis["sequenceNumber"],
                None,
                float(kinesis.get("approximateArrivalTimestamp", 0.0)),
            )
        )
    return good, bad
