"""Event source mappings for Kinesis and DynamoDB Streams, with Lambda's documented semantics.

Per shard, records are delivered in order, in batches of at most ``batch_size`` (or what
arrived within the batching window); with a parallelization factor above 1 the shard is
split into that many lanes by partition key, each lane in order. After an invocation:

- success (no response, an empty response, or an empty or null ``batchItemFailures``):
  the lane moves past the batch;
- ``batchItemFailures``: the checkpoint is the lowest reported sequence number; the records
  before it are done and the rest is retried (with bisect on, the batch is split there);
- a malformed response (an item without a non-empty ``itemIdentifier`` that names a record
  of the batch) or a function error (exception, timeout, crash): the whole batch is retried,
  split in two first when ``BisectBatchOnFunctionError`` is on;
- every retry counts toward ``MaximumRetryAttempts``; when they are exhausted, or records are
  older than ``MaximumRecordAgeInSeconds``, the on-failure destination receives the
  invocation record (shard and sequence range, not the records) and the lane moves on.
"""

from __future__ import annotations

import functools
import hashlib
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from local.functions import Invocation

MAX_PAYLOAD_BYTES = 6 * 1024 * 1024


@dataclass(frozen=True)
class StreamSettings:
    """A stream event source mapping's settings."""

    batch_size: int = 100
    window_s: float = 0.0
    parallelization_factor: int = 1
    bisect: bool = False
    max_retries: int = -1
    max_record_age_s: int = -1
    starting_position: str = "TRIM_HORIZON"
    report_batch_item_failures: bool = True

    @classmethod
    def from_mapping(cls, mapping: dict[str, Any]) -> StreamSettings:
        """The settings of an event source mapping as Lambda's GetEventSourceMapping returns it."""
        return cls(
            batch_size=mapping["BatchSize"],
            window_s=mapping.get("MaximumBatchingWindowInSeconds", 0),
            parallelization_factor=mapping.get("ParallelizationFactor", 1),
            bisect=mapping.get("BisectBatchOnFunctionError", False),
            max_retries=mapping.get("MaximumRetryAttempts", -1),
            max_record_age_s=mapping.get("MaximumRecordAgeInSeconds", -1),
            starting_position=mapping.get("StartingPosition", "TRIM_HORIZON"),
            report_batch_item_failures="ReportBatchItemFailures" in mapping.get("FunctionResponseTypes", []),
        )


@dataclass(frozen=True)
class Record:
    """A stream record as the mapping sees it; ``raw`` is what goes into the event."""

    sequence_number: str
    partition_key: str
    arrival: float
    size: int
    raw: Any


@dataclass
class Batch:
    records: list[Record]
    retries: int = 0


def interpret(invocation: Invocation, batch: Sequence[Record], report_item_failures: bool) -> tuple[str, int]:
    """``("success", n)``, ``("partial", index of the checkpoint)``, ``("failure", 0)`` or ``("error", 0)``."""
    if invocation.function_error:
        return "error", 0
    payload = invocation.payload
    if not report_item_failures or payload is None or payload == {}:
        return "success", len(batch)
    if not isinstance(payload, dict):
        return "failure", 0
    failures = payload.get("batchItemFailures")
    if failures is None or failures == []:
        return "success", len(batch)
    if not isinstance(failures, list):
        return "failure", 0
    index = {r.sequence_number: i for i, r in enumerate(batch)}
    positions = []
    for item in failures:
        identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not isinstance(identifier, str) or not identifier or identifier not in index:
            return "failure", 0
        positions.append(index[identifier])
    return "partial", min(positions)


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(epoch * 1000) % 1000:03d}Z"


@dataclass
class LaneStats:
    invocations: int = 0
    records_delivered: int = 0
    records_done: int = 0
    retries: int = 0
    bisections: int = 0
    partial_failures: int = 0
    function_errors: int = 0
    duplicate_deliveries: int = 0
    sent_to_on_failure: int = 0
    records_to_on_failure: int = 0


class Lane:
    """One ordered sequence of records (a shard, or a partition-key lane of it)."""

    def __init__(
        self,
        settings: StreamSettings,
        invoke: Callable[[list[Record]], Invocation],
        on_failure: Callable[[list[Record], str, int], None],
        now: Callable[[], float] = time.time,
        duplicate: Callable[[], bool] = lambda: False,
    ) -> None:
        self.settings = settings
        self.invoke = invoke
        self.on_failure = on_failure
        self.now = now
        self.duplicate = duplicate
        self.pending: deque[Record] = deque()
        self.retry: deque[Batch] = deque()
        self.first_seen: float | None = None
        self.stats = LaneStats()

    def add(self, records: Sequence[Record]) -> None:
        if records and not self.pending:
            self.first_seen = self.now()
        self.pending.extend(records)

    def busy(self) -> bool:
        return bool(self.pending or self.retry)

    def ready(self) -> bool:
        """A batch is due: a retry, a full batch, or the batching window has elapsed."""
        if self.retry:
            return True
        if not self.pending:
            return False
        if len(self.pending) >= self.settings.batch_size or self.settings.window_s <= 0:
            return True
        return self.first_seen is not None and self.now() - self.first_seen >= self.settings.window_s

    def _next_batch(self) -> Batch:
        if self.retry:
            return self.retry.popleft()
        records: list[Record] = []
        size = 0
        while self.pending and len(records) < self.settings.batch_size:
            if records and size + self.pending[0].size > MAX_PAYLOAD_BYTES:
                break
            record = self.pending.popleft()
            records.append(record)
            size += record.size
        self.first_seen = self.now() if self.pending else None
        return Batch(records)

    def _expire(self, batch: Batch) -> Batch | None:
        limit = self.settings.max_record_age_s
        if limit < 0:
            return batch
        now = self.now()
        expired = [r for r in batch.records if now - r.arrival > limit]
        if not expired:
            return batch
        self._send_to_on_failure(expired, "RecordAgeExceeded", batch.retries)
        rest = [r for r in batch.records if now - r.arrival <= limit]
        return Batch(rest, batch.retries) if rest else None

    def _send_to_on_failure(self, records: list[Record], condition: str, invokes: int) -> None:
        self.stats.sent_to_on_failure += 1
        self.stats.records_to_on_failure += len(records)
        self.on_failure(records, condition, invokes)

    def _requeue(self, records: list[Record], retries: int, split: bool) -> None:
        if self.settings.max_retries >= 0 and retries > self.settings.max_retries:
            self._send_to_on_failure(records, "RetryAttemptsExhausted", retries)
            return
        self.stats.retries += 1
        if split and len(records) > 1:
            self.stats.bisections += 1
            middle = len(records) // 2
            self.retry.appendleft(Batch(records[middle:], retries))
            self.retry.appendleft(Batch(records[:middle], retries))
        else:
            self.retry.appendleft(Batch(records, retries))

    def step(self) -> bool:
        """Deliver one batch; False when there was nothing to deliver."""
        if not self.busy():
            return False
        batch = self._expire(self._next_batch())
        if batch is None or not batch.records:
            return True
        self.stats.invocations += 1
        self.stats.records_delivered += len(batch.records)
        invocation = self.invoke(batch.records)
        kind, index = interpret(invocation, batch.records, self.settings.report_batch_item_failures)
        if kind == "success":
            self.stats.records_done += len(batch.records)
            if self.duplicate():
                # The same batch again, as after a lost response: the function must not mind.
                self.stats.duplicate_deliveries += 1
                self.invoke(batch.records)
            return True
        if kind == "partial":
            self.stats.partial_failures += 1
            self.stats.records_done += index
            self._requeue(batch.records[index:], batch.retries + 1, split=False)
            return True
        if kind == "error":
            self.stats.function_errors += 1
        self._requeue(batch.records, batch.retries + 1, split=self.settings.bisect)
        return True


def lane_of(partition_key: str, lanes: int) -> int:
    """Records with one partition key always go to the same lane (ordered per key)."""
    if lanes <= 1:
        return 0
    return int.from_bytes(hashlib.md5(partition_key.encode(), usedforsecurity=False).digest()[:4], "big") % lanes


@dataclass
class ShardSource:
    """How to read one kind of stream and shape its events."""

    list_shards: Callable[[], list[str]]
    iterator: Callable[[str, str], str]
    read: Callable[[str], tuple[list[Record], str | None]]
    build_event: Callable[[list[Record], str], dict[str, Any]]
    batch_info_key: str
    stream_arn: str


@dataclass
class MappingStats:
    lanes: list[LaneStats] = field(default_factory=list)

    def total(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for lane in self.lanes:
            for key, value in vars(lane).items():
                out[key] = out.get(key, 0) + value
        return out


class StreamMapping:
    """Polls every shard of one stream and drives its lanes until stopped."""

    def __init__(
        self,
        name: str,
        source: ShardSource,
        settings: StreamSettings,
        invoke: Callable[[dict[str, Any]], Invocation],
        send_on_failure: Callable[[dict[str, Any]], None],
        function_arn: str,
        duplicate: Callable[[], bool] = lambda: False,
        poll_interval_s: float = 0.05,
    ) -> None:
        self.name = name
        self.source = source
        self.settings = settings
        self.invoke_event = invoke
        self.send_on_failure = send_on_failure
        self.function_arn = function_arn
        self.duplicate = duplicate
        self.poll_interval_s = poll_interval_s
        self.stats = MappingStats()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lanes: dict[str, list[Lane]] = {}
        self._idle: dict[str, bool] = {}
        self.errors: list[str] = []

    def _lanes_for(self, shard: str) -> list[Lane]:
        lanes = []
        for _ in range(self.settings.parallelization_factor):
            lane = Lane(
                self.settings,
                invoke=functools.partial(self._invoke_shard, shard),
                on_failure=functools.partial(self._on_failure, shard),
                duplicate=self.duplicate,
            )
            self.stats.lanes.append(lane.stats)
            lanes.append(lane)
        return lanes

    def _invoke_shard(self, shard: str, records: list[Record]) -> Invocation:
        return self.invoke_event(self.source.build_event(records, shard))

    def _on_failure(self, shard: str, records: list[Record], condition: str, invoke_count: int) -> None:
        self.send_on_failure(
            {
                "requestContext": {
                    "requestId": str(uuid.uuid4()),
                    "functionArn": self.function_arn,
                    "condition": condition,
                    "approximateInvokeCount": invoke_count,
                },
                "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
                "version": "1.0",
                "timestamp": _iso(time.time()),
                self.source.batch_info_key: {
                    "shardId": shard,
                    "startSequenceNumber": records[0].sequence_number,
                    "endSequenceNumber": records[-1].sequence_number,
                    "approximateArrivalOfFirstRecord": _iso(records[0].arrival),
                    "approximateArrivalOfLastRecord": _iso(records[-1].arrival),
                    "batchSize": len(records),
                    "streamArn": self.source.stream_arn,
                },
            }
        )

    def _run_shard(self, shard: str) -> None:
        lanes = self._lanes_for(shard)
        self._lanes[shard] = lanes
        iterator: str | None = self.source.iterator(shard, self.settings.starting_position)
        pool = ThreadPoolExecutor(max_workers=len(lanes)) if len(lanes) > 1 else None
        try:
            while not self._stop.is_set():
                records: list[Record] = []
                if iterator:
                    try:
                        records, iterator = self.source.read(iterator)
                    except Exception as exc:  # throttled or failed read: try again shortly
                        self.errors.append(f"{shard}: {type(exc).__name__}")
                        records = []
                for record in records:
                    lanes[lane_of(record.partition_key, len(lanes))].add([record])
                ready = [lane for lane in lanes if lane.ready()]
                if ready:
                    self._idle[shard] = False
                    if pool is None:
                        for lane in ready:
                            lane.step()
                    else:
                        list(pool.map(lambda lane: lane.step(), ready))
                    continue
                self._idle[shard] = not any(lane.busy() for lane in lanes)
                self._stop.wait(self.poll_interval_s)
        finally:
            if pool is not None:
                pool.shutdown(wait=True)

    def start(self) -> StreamMapping:
        for shard in self.source.list_shards():
            self._idle[shard] = False
            thread = threading.Thread(target=self._run_shard, args=(shard,), name=f"{self.name}-{shard}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def idle(self) -> bool:
        """Every shard read to its end and every lane empty."""
        return all(self._idle.values())

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=300)
