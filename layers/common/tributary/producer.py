"""Putting records into Kinesis with PutRecords, never silently dropping one.

``Producer.send`` packs entries into calls of at most 500 records and 5 MiB, resubmits
only the records a call reports as failed (jittered exponential backoff, a bounded
number of attempts), and returns a ``Report`` naming every record it could not send.
With ``aggregate=True`` small records are packed into KPL aggregates first, so a
shard's 1,000 records/s limit stops capping them.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from tributary import aws, kpl

MAX_RECORDS_PER_CALL = 500
MAX_BYTES_PER_CALL = 5 * 1024 * 1024
MAX_RECORD_BYTES = 1024 * 1024  # data plus partition key
MAX_PARTITION_KEY_CHARS = 256
PAYLOAD_UNIT = 25 * 1024  # Kinesis bills PUT payload units of 25 KB


@dataclass(frozen=True, slots=True)
class Entry:
    """One record to put: its bytes and the partition key that picks its shard."""

    data: bytes
    partition_key: str

    @property
    def size(self) -> int:
        return len(self.data) + len(self.partition_key.encode("utf-8"))


@dataclass(frozen=True, slots=True)
class Failure:
    """A record the producer gave up on, and the last reason Kinesis gave."""

    entry: Entry
    error_code: str
    error_message: str


@dataclass(slots=True)
class Report:
    """What ``send`` did. ``failed`` lists every user record not sent; nothing else is missing."""

    records: int = 0
    sent: int = 0
    kinesis_records: int = 0
    calls: int = 0
    retried: int = 0
    payload_units: int = 0
    failed: list[Failure] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """A summary for logs and the CLI."""
        return {
            "records": self.records,
            "sent": self.sent,
            "failed": len(self.failed),
            "kinesis_records": self.kinesis_records,
            "calls": self.calls,
            "retried": self.retried,
            "payload_units": self.payload_units,
            "failure_reasons": sorted({f.error_code for f in self.failed}),
        }


@dataclass(frozen=True, slots=True)
class _Unit:
    """What is put as one Kinesis record: a plain entry or an aggregate of several."""

    entry: Entry
    members: tuple[Entry, ...]


def calls(units: Iterable[_Unit]) -> Iterator[list[_Unit]]:
    """Split units into PutRecords calls within the 500-record and 5 MiB limits."""
    batch: list[_Unit] = []
    size = 0
    for unit in units:
        if batch and (len(batch) == MAX_RECORDS_PER_CALL or size + unit.entry.size > MAX_BYTES_PER_CALL):
            yield batch
            batch, size = [], 0
        batch.append(unit)
        size += unit.entry.size
    if batch:
        yield batch


class Producer:
    """Sends entries to one stream. ``client`` defaults to the process's Kinesis client."""

    def __init__(
        self,
        stream_name: str,
        client: Any = None,
        max_attempts: int = 6,
        base_delay: float = 0.1,
        max_delay: float = 5.0,
        aggregate: bool = False,
        max_aggregate_bytes: int = kpl.DEFAULT_MAX_AGGREGATE_BYTES,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts is at least 1")
        self.stream_name = stream_name
        self.client = client
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.aggregate = aggregate
        self.max_aggregate_bytes = max_aggregate_bytes
        self.sleep = sleep
        self.rng = rng or random.Random()

    def _client(self) -> Any:
        if self.client is None:
            self.client = aws.client("kinesis")
        return self.client

    def _units(self, entries: Iterable[Entry], report: Report) -> Iterator[_Unit]:
        aggregator = kpl.Aggregator(self.max_aggregate_bytes) if self.aggregate else None
        pending: list[Entry] = []
        for entry in entries:
            report.records += 1
            problem = _check(entry)
            if problem:
                report.failed.append(Failure(entry, "InvalidRecord", problem))
                continue
            if aggregator is None:
                yield _Unit(entry, (entry,))
                continue
            if entry.size > self.max_aggregate_bytes // 2:
                # A large record gains nothing from aggregation; send it as it is.
                yield _Unit(entry, (entry,))
                continue
            for key, blob in aggregator.add(entry.partition_key, entry.data):
                yield _Unit(Entry(blob, key), tuple(pending))
                pending = []
            pending.append(entry)
        if aggregator is not None:
            for key, blob in aggregator.flush():
                yield _Unit(Entry(blob, key), tuple(pending))

    def send(self, entries: Iterable[Entry]) -> Report:
        """Put every entry; return the report (check ``report.failed``)."""
        report = Report()
        for batch in calls(self._units(entries, report)):
            self._put_with_retries(batch, report)
        return report

    def _put_with_retries(self, batch: list[_Unit], report: Report) -> None:
        pending = batch
        errors: dict[int, tuple[str, str]] = {}
        for attempt in range(self.max_attempts):
            if attempt:
                report.retried += sum(len(u.members) for u in pending)
                ceiling = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
                self.sleep(self.rng.uniform(0, ceiling))  # "full jitter"
            report.calls += 1
            try:
                response = self._client().put_records(
                    StreamName=self.stream_name,
                    Records=[{"Data": u.entry.data, "PartitionKey": u.entry.partition_key} for u in pending],
                )
            except Exception as exc:  # the whole call failed: every record in it is retried
                code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
                errors = {i: (code, str(exc)) for i in range(len(pending))}
                continue
            results = response.get("Records", [])
            if len(results) != len(pending):
                mismatch = ("MalformedResponse", "PutRecords returned a different number of results")
                errors = dict.fromkeys(range(len(pending)), mismatch)
                continue
            retry: list[_Unit] = []
            errors = {}
            for unit, result in zip(pending, results, strict=True):
                if result.get("ErrorCode"):
                    errors[len(retry)] = (result["ErrorCode"], result.get("ErrorMessage", ""))
                    retry.append(unit)
                else:
                    report.sent += len(unit.members)
                    report.kinesis_records += 1
                    report.payload_units += -(-unit.entry.size // PAYLOAD_UNIT)
            pending = retry
            if not pending:
                return
        for index, unit in enumerate(pending):
            code, message = errors.get(index, ("Unknown", ""))
            report.failed.extend(Failure(member, code, message) for member in unit.members)


def _check(entry: Entry) -> str | None:
    if not entry.partition_key or len(entry.partition_key) > MAX_PARTITION_KEY_CHARS:
        return f"partition key must be 1 to {MAX_PARTITION_KEY_CHARS} characters"
    if entry.size > MAX_RECORD_BYTES:
        return f"{entry.size} bytes with its partition key is over Kinesis's 1 MiB record limit"
    return None
