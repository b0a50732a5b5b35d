"""Applying a batch of table1's stream records to table2, in order.

A record refused for what it is (``parking.refusal``: a malformed record, a reserved
attribute, an item too big for table2, a change of another table) can never apply, however
often Lambda retries it: it is parked and the batch goes on. Any other failure (throttling,
a 5xx, a failed park) stops the batch at that record, which Lambda retries from.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tributary import batch, parking, replica

Apply = Callable[[replica.Change], str]
Park = Callable[[list[parking.Parked]], object]


@dataclass
class BatchResult:
    """The checkpoint to report (None when the whole batch is handled) and what happened."""

    checkpoint: str | None = None
    counts: Counter[str] = field(default_factory=Counter)
    error: str = ""
    parked: list[parking.Parked] = field(default_factory=list)

    def response(self) -> batch.BatchResponse:
        return batch.from_checkpoint(self.checkpoint)


class CheckpointError(RuntimeError):
    """The batch must be retried from its first record, which has no sequence number to report."""


def sync_batch(records: Sequence[Mapping[str, Any]], apply: Apply, park: Park, source_table: str) -> BatchResult:
    """Apply each record of ``source_table``'s stream; park the refused ones; stop at the first other failure.

    Records after a failure are retried by Lambda from the checkpoint, so they are not
    attempted now. The refused records before it are parked in one go at the end; if that
    fails, the checkpoint moves back to the first of them (the changes applied after it are
    applied again on the retry, which the version guard makes harmless).
    Raises CheckpointError when the batch must be retried from a first record that has no
    sequence number (a failed invocation makes Lambda retry the whole batch).
    """
    result = BatchResult()
    first_parked: int | None = None
    for index, record in enumerate(records):
        try:
            change = replica.from_stream_record(record)
            parking.check_source(change.source_arn, source_table)
            outcome = apply(change)
        except Exception as exc:
            refused = parking.refusal(exc)
            if refused is None:
                result.checkpoint = checkpoint_at(records, index)
                result.counts["failed"] += 1
                result.error = f"{type(exc).__name__}: {exc}"[:500]
                break
            first_parked = index if first_parked is None else first_parked
            result.parked.append(parking.Parked(refused[0], refused[1], record, _source_arn(record)))
            continue
        result.counts[outcome] += 1
    if result.parked and first_parked is not None:
        try:
            park(result.parked)
        except parking.ParkingError as exc:
            result.checkpoint = checkpoint_at(records, first_parked)
            result.counts["failed"] += 1
            result.error = f"ParkingError: {exc}"[:500]
            result.parked = []
            return result
        result.counts["parked"] += len(result.parked)
    return result


def checkpoint_at(records: Sequence[Mapping[str, Any]], index: int) -> str:
    """The sequence number to report so that Lambda retries from ``records[index]``.

    A record without one is retried from the nearest record before it that has one (applied
    again, harmlessly); an empty identifier would fail the whole batch instead.
    """
    for position in range(index, -1, -1):
        sequence = sequence_number(records[position])
        if sequence:
            return sequence
    raise CheckpointError(f"record {index} of the batch must be retried and no record up to it has a sequence number")


def sequence_number(record: Any) -> str:
    """The record's sequence number, or "" for a record without one."""
    stream = record.get("dynamodb") if isinstance(record, Mapping) else None
    sequence = stream.get("SequenceNumber") if isinstance(stream, Mapping) else None
    return sequence if isinstance(sequence, str) and sequence.isascii() and sequence.isdigit() else ""


def _source_arn(record: Any) -> str:
    arn = record.get("eventSourceARN", "") if isinstance(record, Mapping) else ""
    return arn if isinstance(arn, str) else ""
