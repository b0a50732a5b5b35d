"""Putting records into Kinesis with PutRecords, never silently dropping one.

``Producer.send`` packs entries into calls of at most 500 records and 5 MiB, resubmits
only the records a call reports as failed (jittered exponential backoff, a bounded
number of attempts), and returns a ``Report`` naming every record it could not send.
An error no retry can mend (no such stream, no credentials or region, an unreachable
endpoint, access denied, a refused request or KMS key) stops the send at the first call
that meets it, and an endpoint that never accepts a connection after that call's
attempts: every record not yet sent is reported with that error, none is missing.

With ``aggregate=True`` small records are packed into KPL aggregates first, so a
shard's 1,000 records/s limit stops capping them. Like the KPL, the producer keeps one
aggregate per shard: it reads the stream's shard map (ListShards), puts each record in
the aggregate of the shard its partition key hashes to, and sends the aggregate with an
ExplicitHashKey inside that shard. Every user record therefore reaches the shard Kinesis
would have chosen for it alone, which per-key order and the consumer's per-shard dedupe
rely on. When Kinesis answers with another shard than the map predicted, the map is read
again before more records are aggregated, and failed aggregates are rebuilt under it.
"""

from __future__ import annotations

import bisect
import hashlib
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
INVALID_RECORD = "InvalidRecord"

# Errors that fail every retry the same way: the stream, the credentials, the region, the
# endpoint, the permissions or the request itself is wrong. Throttling, InternalFailure,
# 5xx answers and timeouts are not here: those pass, so they are retried.
FATAL_ERRORS = frozenset(
    {
        "ResourceNotFoundException",
        "AccessDeniedException",
        "ValidationException",
        "InvalidArgumentException",
        "KMSAccessDeniedException",
        "KMSDisabledException",
        "KMSInvalidStateException",
        "KMSNotFoundException",
        "KMSOptInRequired",
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "IncompleteSignature",
        "MissingAuthenticationToken",
        "ExpiredTokenException",
        "NoCredentialsError",
        "PartialCredentialsError",
        "NoRegionError",
        "EndpointConnectionError",
        "ParamValidationError",
    }
)
# A connection that cannot even be opened, after every attempt of a call: the next call would
# wait the same way, so the send stops there instead of spending the same time on each call.
UNREACHABLE_ERRORS = frozenset({"ConnectTimeoutError"})


def is_fatal(code: str) -> bool:
    """True for an error code no retry can mend.

    A bare HTTP status as the code means the answer was not an AWS error; a 4xx one (other than
    timeout and too-many-requests) comes from an endpoint that is not Kinesis, or not this stream's.
    """
    if code in FATAL_ERRORS:
        return True
    return code.isdigit() and 400 <= int(code) < 500 and int(code) not in (408, 429)


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
    """A record the producer gave up on, and the last reason Kinesis gave.

    ``retryable`` says whether sending the record again later may succeed: True after
    throttling or a service fault, False for a record Kinesis would never accept and for
    an error that stopped the send (fix its cause first).
    """

    entry: Entry
    error_code: str
    error_message: str
    retryable: bool = True


@dataclass(slots=True)
class Report:
    """What ``send`` did. ``failed`` lists every user record not sent; nothing else is missing.

    ``records == sent + len(failed)`` always. ``fatal`` names the error that stopped the
    send early, if one did.
    """

    records: int = 0
    sent: int = 0
    kinesis_records: int = 0
    calls: int = 0
    retried: int = 0
    payload_units: int = 0
    failed: list[Failure] = field(default_factory=list)
    fatal: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """A summary for logs and the CLI."""
        return {
            "records": self.records,
            "sent": self.sent,
            "failed": len(self.failed),
            "failed_retryable": sum(1 for f in self.failed if f.retryable),
            "kinesis_records": self.kinesis_records,
            "calls": self.calls,
            "retried": self.retried,
            "payload_units": self.payload_units,
            "failure_reasons": sorted({f.error_code for f in self.failed}),
            "fatal": self.fatal,
        }


def hash_key(partition_key: str) -> int:
    """The hash key Kinesis gives a partition key: its UTF-8 MD5 as a 128-bit big-endian integer."""
    return int.from_bytes(hashlib.md5(partition_key.encode("utf-8"), usedforsecurity=False).digest(), "big")


@dataclass(frozen=True, slots=True)
class Shard:
    """An open shard and its inclusive hash key range."""

    shard_id: str
    starting_hash_key: int
    ending_hash_key: int


class ShardMap:
    """The open shards of a stream, looked up by hash key."""

    def __init__(self, shards: Iterable[Shard]) -> None:
        self.shards = tuple(sorted(shards, key=lambda s: s.starting_hash_key))
        self._starts = [s.starting_hash_key for s in self.shards]

    def shard_for(self, key: int) -> Shard | None:
        """The shard whose range holds ``key``; None if the listing left a gap there."""
        index = bisect.bisect_right(self._starts, key) - 1
        if index >= 0 and key <= self.shards[index].ending_hash_key:
            return self.shards[index]
        return None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ShardMap) and self.shards == other.shards


def list_open_shards(client: Any, stream_name: str) -> ShardMap:
    """The stream's open shards (ListShards, every page)."""
    shards: list[Shard] = []
    request: dict[str, Any] = {"StreamName": stream_name}
    while True:
        page = client.list_shards(**request)
        for shard in page.get("Shards", []):
            if "EndingSequenceNumber" in shard.get("SequenceNumberRange", {}):
                continue  # closed by a split or merge: it takes no more records
            keys = shard["HashKeyRange"]
            shards.append(Shard(shard["ShardId"], int(keys["StartingHashKey"]), int(keys["EndingHashKey"])))
        token = page.get("NextToken")
        if not token:
            return ShardMap(shards)
        request = {"NextToken": token}  # Kinesis refuses StreamName next to NextToken


@dataclass(frozen=True, slots=True)
class _Member:
    """An accepted user record: ``index`` is its place in the input, which retries and regrouping keep."""

    index: int
    entry: Entry
    hash_key: int


@dataclass(frozen=True, slots=True)
class _Unit:
    """What is put as one Kinesis record: a plain entry or an aggregate of several.

    ``shard_id`` is the shard the map predicts for it (None without a map) and
    ``generation`` the map it was built under.
    """

    entry: Entry
    members: tuple[_Member, ...]
    explicit_hash_key: str | None = None
    shard_id: str | None = None
    generation: int = 0

    def request(self) -> dict[str, Any]:
        record: dict[str, Any] = {"Data": self.entry.data, "PartitionKey": self.entry.partition_key}
        if self.explicit_hash_key is not None:
            record["ExplicitHashKey"] = self.explicit_hash_key
        return record


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


class _FatalError(Exception):
    """An error no retry can mend; the send ends and reports what it had not sent."""

    def __init__(self, operation: str, code: str, message: str) -> None:
        super().__init__(f"{code} from {operation}: {message.rstrip('.')}")
        self.code = code
        self.message = message


def _error(exc: Exception) -> tuple[str, str]:
    """The error code and message of a failed call: AWS's own, else botocore's exception."""
    response = getattr(exc, "response", None)
    error = response.get("Error", {}) if isinstance(response, dict) else {}
    code = error.get("Code") or type(exc).__name__
    if error.get("Message"):
        return code, error["Message"]
    if code.isdigit():  # botocore names an answer that holds no AWS error by its HTTP status
        return code, f"an HTTP {code} answer that holds no AWS error"
    return code, str(exc)


class _Buffer:
    """The aggregate being built for one shard, and the members it holds."""

    def __init__(self, shard_id: str, max_bytes: int, generation: int) -> None:
        self.shard_id = shard_id
        self.generation = generation
        self.aggregator = kpl.Aggregator(max_bytes)
        self.members: list[_Member] = []

    def add(self, member: _Member) -> list[_Unit]:
        done = [
            self._unit(blob, key) for key, blob in self.aggregator.add(member.entry.partition_key, member.entry.data)
        ]
        self.members.append(member)
        return done

    def flush(self) -> list[_Unit]:
        return [self._unit(blob, key) for key, blob in self.aggregator.flush()]

    def _unit(self, blob: bytes, key: str) -> _Unit:
        members, self.members = tuple(self.members), []
        # The first record's hash key is inside this shard, so the aggregate lands where its records belong.
        return _Unit(Entry(blob, key), members, str(members[0].hash_key), self.shard_id, self.generation)


class Producer:
    """Sends entries to one stream. ``client`` defaults to the process's Kinesis client.

    ``stopped`` holds the error that stopped the current or last ``send`` early, else None.
    """

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
        self.stopped: str | None = None
        self._shards: ShardMap | None = None
        self._stale = True
        self._generation = 0

    def _client(self) -> Any:
        if self.client is None:
            self.client = aws.client("kinesis")
        return self.client

    def send(self, entries: Iterable[Entry]) -> Report:
        """Put every entry; return the report (check ``report.failed`` and ``report.fatal``).

        After an error no retry can mend, the rest of ``entries`` is still read, so that each
        record is in the report; ``stopped`` is set meanwhile, for a caller pacing its input.
        """
        self.stopped = None
        if self.aggregate and self._shards is None:
            self._stale = True  # a map that could not be read last time may be readable now
        run = _Send(self)
        remaining = iter(entries)
        try:
            for entry in remaining:
                run.add(entry)
            run.finish()
        except _FatalError as stop:
            self.stopped = str(stop)
            run.abandon(stop, remaining)
        return run.report

    def _backoff(self, attempt: int) -> None:
        ceiling = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        self.sleep(self.rng.uniform(0, ceiling))  # "full jitter"

    def _refresh(self) -> None:
        """Read the shard map again; without one, records go out plain until the next send."""
        for attempt in range(self.max_attempts):
            if attempt:
                self._backoff(attempt)
            try:
                shards = list_open_shards(self._client(), self.stream_name)
            except Exception as exc:  # listing is retried like a call; a fatal error ends the send
                code, message = _error(exc)
                if is_fatal(code):
                    raise _FatalError("ListShards", code, message) from None
                continue
            self._stale = False
            if shards != self._shards:
                self._shards = shards
                self._generation += 1
            return
        # The KPL does the same without a shard map: Kinesis still routes plain records right.
        self._stale = False
        if self._shards is not None:
            self._shards = None
            self._generation += 1

    def _route(self, member: _Member, buffers: dict[str, _Buffer]) -> list[_Unit]:
        """The units completed by adding ``member`` under the current shard map."""
        shard = self._shards.shard_for(member.hash_key) if self._shards is not None else None
        if shard is None:
            return [_Unit(member.entry, (member,), generation=self._generation)]
        buffer = buffers.get(shard.shard_id)
        if buffer is None:
            buffer = buffers[shard.shard_id] = _Buffer(shard.shard_id, self.max_aggregate_bytes, self._generation)
        if member.entry.size > self.max_aggregate_bytes // 2:
            # A large record gains nothing from aggregation; the smaller ones of its shard go
            # first, or it would overtake the earlier records of its own key.
            alone = _Unit(member.entry, (member,), shard_id=shard.shard_id, generation=self._generation)
            return [*buffer.flush(), alone]
        return buffer.add(member)

    def _regroup(self, units: list[_Unit]) -> list[_Unit]:
        """Units built under an older shard map, rebuilt from their members under the current one."""
        current = [u for u in units if u.generation == self._generation]
        members = sorted((m for u in units if u.generation != self._generation for m in u.members), key=_seq)
        buffers: dict[str, _Buffer] = {}
        rebuilt: list[_Unit] = []
        for member in members:
            rebuilt.extend(self._route(member, buffers))
        for buffer in buffers.values():
            rebuilt.extend(buffer.flush())
        return current + rebuilt


def _seq(member: _Member) -> int:
    return member.index


class _Send:
    """The state of one ``send``: what is accepted, aggregated, queued for the next call, or outstanding."""

    def __init__(self, producer: Producer) -> None:
        self.producer = producer
        self.report = Report()
        self.buffers: dict[str, _Buffer] = {}
        self.built_under = producer._generation
        self.batch: list[_Unit] = []
        self.batch_bytes = 0
        # Accepted and neither sent nor failed yet, in input order: on a fatal error these are the unsent ones.
        self.outstanding: dict[int, _Member] = {}

    def add(self, entry: Entry) -> None:
        self.report.records += 1
        problem = _check(entry)
        if problem:
            self.report.failed.append(Failure(entry, INVALID_RECORD, problem, retryable=False))
            return
        producer = self.producer
        member = _Member(self.report.records, entry, hash_key(entry.partition_key) if producer.aggregate else 0)
        self.outstanding[member.index] = member
        if not producer.aggregate:
            self._queue(_Unit(entry, (member,)))
            return
        self._settle()
        for unit in producer._route(member, self.buffers):
            self._queue(unit)

    def finish(self) -> None:
        while self.batch or self.buffers:
            if self.producer.aggregate:
                self._settle()
            if self.buffers:
                buffers, self.buffers = self.buffers, {}
                for buffer in buffers.values():
                    for unit in buffer.flush():
                        self._queue(unit)
            else:
                batch, self.batch, self.batch_bytes = self.batch, [], 0
                self._put(batch)

    def abandon(self, stop: _FatalError, remaining: Iterator[Entry]) -> None:
        """Report every record not sent with the error that stopped the send, the unread ones too."""
        self.report.fatal = str(stop)
        for member in self.outstanding.values():
            self.report.failed.append(Failure(member.entry, stop.code, stop.message, retryable=False))
        self.outstanding.clear()
        for entry in remaining:
            self.report.records += 1
            problem = _check(entry)
            code, message = (INVALID_RECORD, problem) if problem else (stop.code, stop.message)
            self.report.failed.append(Failure(entry, code, message, retryable=False))

    def _settle(self) -> None:
        """Read the shard map again if an answer contradicted it, and rebuild what is not sent yet."""
        producer = self.producer
        if producer._stale:
            producer._refresh()
        if self.built_under == producer._generation:
            return
        members = [m for u in self.batch for m in u.members]
        members.extend(m for b in self.buffers.values() for m in b.members)
        self.batch, self.batch_bytes, self.buffers = [], 0, {}
        self.built_under = producer._generation
        for member in sorted(members, key=_seq):
            for unit in producer._route(member, self.buffers):
                self._queue(unit)

    def _queue(self, unit: _Unit) -> None:
        size = unit.entry.size
        if self.batch and (len(self.batch) == MAX_RECORDS_PER_CALL or self.batch_bytes + size > MAX_BYTES_PER_CALL):
            # The new unit waits in the next batch, where a shard map change can still rebuild it.
            batch, self.batch, self.batch_bytes = self.batch, [unit], size
            self._put(batch)
            return
        self.batch.append(unit)
        self.batch_bytes += size

    def _put(self, batch: list[_Unit]) -> None:
        producer = self.producer
        pending = [(unit, "Unknown", "") for unit in batch]
        for attempt in range(producer.max_attempts):
            units = [unit for unit, _, _ in pending]
            if attempt:
                self.report.retried += sum(len(u.members) for u in units)
                producer._backoff(attempt)
                if producer.aggregate and producer._stale:
                    producer._refresh()
                    units = producer._regroup(units)
            pending = []
            for call in calls(units):
                pending.extend(self._call(call))
            if not pending:
                return
        if all(code in UNREACHABLE_ERRORS for _, code, _ in pending):
            _, code, message = pending[0]
            raise _FatalError("PutRecords", code, f"{message} ({producer.max_attempts} attempts)")
        for unit, code, message in pending:
            for member in unit.members:
                del self.outstanding[member.index]
                self.report.failed.append(Failure(member.entry, code, message, retryable=True))

    def _call(self, units: list[_Unit]) -> list[tuple[_Unit, str, str]]:
        """One PutRecords call; the units to try again, each with its error."""
        producer = self.producer
        self.report.calls += 1
        try:
            response = producer._client().put_records(
                StreamName=producer.stream_name, Records=[u.request() for u in units]
            )
        except Exception as exc:  # the whole call failed: every record in it is retried
            code, message = _error(exc)
            if is_fatal(code):
                raise _FatalError("PutRecords", code, message) from None
            return [(u, code, message) for u in units]
        results = response.get("Records", [])
        if len(results) != len(units):
            return [(u, "MalformedResponse", "PutRecords returned a different number of results") for u in units]
        retry: list[tuple[_Unit, str, str]] = []
        fatal: _FatalError | None = None
        for unit, result in zip(units, results, strict=True):
            code = result.get("ErrorCode")
            if code:
                retry.append((unit, code, result.get("ErrorMessage", "")))
                if is_fatal(code):
                    fatal = fatal or _FatalError("PutRecords", code, result.get("ErrorMessage", ""))
                continue
            for member in unit.members:
                del self.outstanding[member.index]
            self.report.sent += len(unit.members)
            self.report.kinesis_records += 1
            self.report.payload_units += -(-unit.entry.size // PAYLOAD_UNIT)
            if unit.shard_id is not None and result.get("ShardId", unit.shard_id) != unit.shard_id:
                producer._stale = True
        if fatal is not None:
            raise fatal
        return retry


def _check(entry: Entry) -> str | None:
    if not entry.partition_key or len(entry.partition_key) > MAX_PARTITION_KEY_CHARS:
        return f"partition key must be 1 to {MAX_PARTITION_KEY_CHARS} characters"
    if entry.size > MAX_RECORD_BYTES:
        return f"{entry.size} bytes with its partition key is over Kinesis's 1 MiB record limit"
    return None
