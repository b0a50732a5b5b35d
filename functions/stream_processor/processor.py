"""The stream processor's logic: Kinesis batch in, lake objects and a checkpoint out.

``plan_batch`` is pure: it decodes, validates, transforms and groups a batch into
objects. ``commit`` writes them through a ``put`` callable and returns the exact
checkpoint to report to Lambda. The rule that makes the checkpoint exact is in
this directory's README ("Exactly once").
"""

from __future__ import annotations

import base64
import time
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from tributary import batch, envelope, json_codec, kinesis, lake

from .dedupe import BatchDedupe, ShardState, digest
from .transform import RecordMeta, TransformError

Transform = Callable[[dict[str, Any], RecordMeta], "dict[str, Any] | None"]
Put = Callable[[str, bytes, Mapping[str, str]], None]
Save = Callable[[ShardState], None]

DEFAULT_MAX_RECORD_BYTES = 1_048_576


@dataclass(frozen=True, slots=True)
class Settings:
    """What the processor needs from its environment."""

    bucket: str
    prefix: str = "events"
    quarantine_prefix: str = "quarantine"
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES
    compression_level: int = lake.DEFAULT_COMPRESSION_LEVEL
    dedupe_window_s: float = 300.0
    dedupe_max_ids: int = 100_000
    state_prefix: str = "_state/dedupe"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Read settings from the function's environment variables."""
        return cls(
            bucket=env["LAKE_BUCKET"],
            prefix=env.get("LAKE_PREFIX", "events").strip("/"),
            quarantine_prefix=env.get("QUARANTINE_PREFIX", "quarantine").strip("/"),
            max_record_bytes=int(env.get("MAX_RECORD_BYTES", DEFAULT_MAX_RECORD_BYTES)),
            compression_level=int(env.get("COMPRESSION_LEVEL", lake.DEFAULT_COMPRESSION_LEVEL)),
            dedupe_window_s=float(env.get("DEDUPE_WINDOW_SECONDS", 300)),
            dedupe_max_ids=int(env.get("DEDUPE_MAX_IDS", 100_000)),
            state_prefix=env.get("STATE_PREFIX", "_state/dedupe").strip("/"),
        )


@dataclass(slots=True)
class Line:
    """One NDJSON line and the position of the record it came from."""

    position: tuple[int, int]
    sequence_number: str
    data: bytes


@dataclass(slots=True)
class Group:
    """The records of one batch bound for one lake (or quarantine) partition."""

    partition: str
    shard_id: str
    quarantine: bool
    lines: list[Line] = field(default_factory=list)

    @property
    def first(self) -> Line:
        return self.lines[0]

    def key(self) -> str:
        """``<partition><shard>-<first sequence>-<first subsequence>.ndjson.gz``.

        Derived only from the shard and the group's first record, so any retry that
        starts at or before that record rewrites this very key (see the README).
        """
        seq, sub = self.first.position
        return f"{self.partition}{self.shard_id}-{seq:056d}-{max(sub, 0):05d}{lake.NDJSON_GZIP_SUFFIX}"

    def lines_before(self, checkpoint: int | None) -> list[Line]:
        if checkpoint is None:
            return self.lines
        return [line for line in self.lines if line.position[0] < checkpoint]


@dataclass(slots=True)
class Plan:
    """A batch, decoded and grouped, before anything is written."""

    groups: list[Group]
    filtered: list[tuple[int, int]]
    received: int
    reasons: Counter[str]
    duplicates: list[tuple[int, int]] = field(default_factory=list)
    first_position: tuple[int, int] | None = None
    sequence_numbers: dict[int, str] = field(default_factory=dict)
    # The sequence number of every record received, sorted: what a checkpoint leaves to the retry.
    sequences: list[int] = field(default_factory=list)
    dedupe: BatchDedupe | None = None


@dataclass(slots=True)
class Outcome:
    """What ``commit`` did: the checkpoint (None when the batch is done) and the counts."""

    checkpoint: str | None
    received: int
    written: int
    quarantined: int
    filtered: int
    duplicates: int
    retried: int
    objects_written: int
    write_failures: int
    reasons: Counter[str]

    @property
    def balanced(self) -> bool:
        """Every record received is counted once, each outcome counted on its own."""
        return self.received == self.written + self.quarantined + self.filtered + self.duplicates + self.retried

    def batch_item_failures(self) -> batch.BatchResponse:
        """The response Lambda expects with ReportBatchItemFailures."""
        return batch.retry_from(self.checkpoint)


@lru_cache(maxsize=8192)
def _iso_second(second: int) -> str:
    try:
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
    except (OverflowError, OSError, ValueError):  # not a time Kinesis writes; keep the record anyway
        return "1970-01-01T00:00:00"


def ingest_time(arrival: float) -> str:
    """Kinesis's arrival timestamp as RFC 3339 UTC with milliseconds."""
    second, milli = divmod(round(arrival * 1000), 1000)
    return f"{_iso_second(second)}.{milli:03d}Z"


def _quarantine_line(reason: str, detail: str, raw: bytes, meta: RecordMeta, partition_key: str) -> bytes:
    return json_codec.dumps_line(
        {
            "reason": reason,
            # Both may hold anything a producer sent: written so that the line is always valid UTF-8.
            "detail": json_codec.printable(detail, 1000),
            "shard_id": meta.shard_id,
            "sequence_number": meta.sequence_number,
            "subsequence": meta.subsequence,
            "partition_key": json_codec.printable(partition_key, 256),
            "ingest_time": meta.ingest_time,
            "raw_base64": base64.b64encode(raw).decode("ascii"),
        }
    )


class _QuarantineError(Exception):
    """A record refused for what it is: the reason code and a sentence."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def plan_batch(
    raw_records: Iterable[Mapping[str, Any]],
    settings: Settings,
    transform: Transform,
    dedupe: BatchDedupe | None = None,
) -> Plan:
    """Decode, validate, transform and group one Kinesis batch. Pure: no I/O.

    ``dedupe`` decides which records are producer resends (see dedupe.py); they are dropped
    and counted. Every record ends in exactly one of: a lake group, a quarantine group,
    filtered, duplicates. Nothing a record holds can make this raise.
    """
    users, rejected = kinesis.decode_batch(raw_records)
    groups: dict[tuple[str, str, bool], Group] = {}
    reasons: Counter[str] = Counter()
    filtered: list[tuple[int, int]] = []
    duplicates: list[tuple[int, int]] = []
    sequence_numbers: dict[int, str] = {}
    sequences: list[int] = []
    first: tuple[int, int] | None = None

    def group_for(partition: str, shard_id: str, quarantine: bool) -> Group:
        key = (partition, shard_id, quarantine)
        group = groups.get(key)
        if group is None:
            group = groups[key] = Group(partition, shard_id, quarantine)
        return group

    def quarantine(reason: str, detail: str, raw: bytes, meta: RecordMeta, pk: str, pos: tuple[int, int]) -> None:
        reasons[reason] += 1
        partition = lake.partition_prefix(settings.quarantine_prefix, meta.ingest_time)
        line = Line(pos, meta.sequence_number, _quarantine_line(reason, detail, raw, meta, pk))
        group_for(partition, meta.shard_id, True).lines.append(line)

    for bad in rejected:
        meta = RecordMeta(bad.shard_id, bad.sequence_number, bad.subsequence, ingest_time(bad.arrival))
        pos = kinesis.sequence_key(bad.sequence_number, bad.subsequence)
        if first is None or pos < first:
            first = pos
        sequence_numbers[pos[0]] = bad.sequence_number
        sequences.append(pos[0])
        quarantine(bad.reason, bad.detail, bad.raw, meta, bad.partition_key, pos)

    # Per record, only what differs from the record before is worked out again: the records
    # of a KPL aggregate share a sequence number and an arrival time, and a batch mostly
    # falls in one event-time hour, so one partition and one group.
    loads, dumps_line, validate = json_codec.loads, json_codec.dumps_line, envelope.validate
    check = dedupe.check if dedupe is not None else None
    limit = settings.max_record_bytes
    last_sequence: str | None = None
    last_arrival: float | None = None
    last_hour = ""
    sequence = 0
    arrived = ""
    group: Group | None = None
    for user in users:
        if user.sequence_number != last_sequence:
            last_sequence = user.sequence_number
            sequence = int(last_sequence)
            sequence_numbers[sequence] = last_sequence
        if user.arrival != last_arrival:
            last_arrival = user.arrival
            arrived = ingest_time(last_arrival)
        sequences.append(sequence)
        meta = RecordMeta(user.shard_id, user.sequence_number, user.subsequence, arrived)
        pos = (sequence, -1 if user.subsequence is None else user.subsequence)
        if first is None or pos < first:
            first = pos
        data = user.data
        try:
            if len(data) > limit:
                raise _QuarantineError("oversize", f"{len(data)} bytes is over the {limit}-byte limit")
            try:
                record = validate(loads(data))
            except json_codec.JsonError as exc:
                raise _QuarantineError(exc.reason, str(exc)) from None
            except envelope.EnvelopeError as exc:
                raise _QuarantineError(exc.reason, exc.detail) from None
            if check is not None and check(digest(record.id), sequence, user.arrival):
                duplicates.append(pos)
                continue
            try:
                out = transform(record.as_dict(), meta)
            except TransformError as exc:
                raise _QuarantineError("transform_rejected", str(exc)) from None
            except Exception as exc:  # a team's transform must not be able to lose a record
                raise _QuarantineError("transform_error", f"{type(exc).__name__}: {exc}") from None
            if out is None:
                filtered.append(pos)
                continue
            try:
                line = dumps_line(out)
            except RecursionError:
                raise _QuarantineError("not_json", "nested too deeply to write back") from None
            except (TypeError, ValueError) as exc:  # what the transform returned is not JSON
                raise _QuarantineError("transform_error", f"{type(exc).__name__}: {exc}") from None
        except _QuarantineError as refused:
            quarantine(refused.reason, refused.detail, data, meta, user.partition_key, pos)
            continue
        except Exception as exc:
            # A record this code did not foresee: quarantined with what went wrong, never the batch failed.
            quarantine("processing_error", f"{type(exc).__name__}: {exc}", data, meta, user.partition_key, pos)
            continue
        # The partition is the event time's date and hour: a slice of the normalised time.
        hour = record.time[:13]
        if hour != last_hour or group is None or group.shard_id != user.shard_id:
            last_hour = hour
            group = group_for(lake.partition_prefix(settings.prefix, record.time), user.shard_id, False)
        group.lines.append(Line(pos, user.sequence_number, line))

    ordered = list(groups.values())
    for each in ordered:
        each.lines.sort(key=_position)
    ordered.sort(key=lambda g: g.first.position)
    sequences.sort()
    return Plan(
        ordered, filtered, len(users) + len(rejected), reasons, duplicates, first, sequence_numbers, sequences, dedupe
    )


def _position(line: Line) -> tuple[int, int]:
    return line.position


def _body(lines: list[Line], level: int) -> bytes:
    return lake.gzip_bytes(b"".join([line.data for line in lines]), level)


def _metadata(lines: list[Line]) -> dict[str, str]:
    return {
        "first-sequence": lines[0].sequence_number,
        "last-sequence": lines[-1].sequence_number,
        "records": str(len(lines)),
    }


def commit(plan: Plan, put: Put, settings: Settings, save: Save | None = None) -> Outcome:
    """Write every group; on failures, find the exact checkpoint and make the lake agree with it.

    The checkpoint S is the lowest Kinesis sequence number of a group that could not
    be written. Every written group whose first record is before S but which also
    holds records at or after S is rewritten under its own key with only its records
    before S. If such a rewrite fails, S moves down to that group's first record and
    the check repeats; S only ever decreases, so this ends. Then ``save`` stores the
    dedupe state as of S; if that fails, S is the batch's first record.
    """
    failures = 0
    written: list[Group] = []
    checkpoint: int | None = None
    for group in plan.groups:
        try:
            put(group.key(), _body(group.lines, settings.compression_level), _metadata(group.lines))
        except Exception:
            failures += 1
            seq = group.first.position[0]
            checkpoint = seq if checkpoint is None else min(checkpoint, seq)
        else:
            written.append(group)

    trimmed: set[int] = set()
    while checkpoint is not None:
        lowered = False
        for group in written:
            first_seq = group.first.position[0]
            if first_seq >= checkpoint or id(group) in trimmed:
                continue
            if group.lines[-1].position[0] < checkpoint:
                continue
            keep = group.lines_before(checkpoint)
            try:
                put(group.key(), _body(keep, settings.compression_level), _metadata(keep))
            except Exception:
                failures += 1
                checkpoint = first_seq
                lowered = True
                break
            trimmed.add(id(group))
        if not lowered:
            break
        # A lower checkpoint: groups trimmed for the old one may need trimming again.
        trimmed.clear()

    state = None
    if save is not None and plan.dedupe is not None and plan.sequences:
        state = plan.dedupe.state_before(checkpoint, plan.sequences[-1] + 1)
    if state is not None and save is not None and plan.first_position is not None:
        try:
            save(state)
        except Exception:
            # Without the entries recorded, report the whole batch as failed: the retry starts
            # from the state this attempt read, so it decides and writes exactly as this one did.
            failures += 1
            checkpoint = plan.first_position[0]

    def before(pos: tuple[int, int]) -> bool:
        return checkpoint is None or pos[0] < checkpoint

    def count(lines: list[Line]) -> int:
        # Without a checkpoint every line counts: no need to look at each.
        return len(lines) if checkpoint is None else sum(1 for line in lines if line.position[0] < checkpoint)

    lake_lines = sum(count(g.lines) for g in plan.groups if not g.quarantine)
    quarantined = sum(count(g.lines) for g in plan.groups if g.quarantine)
    filtered = sum(1 for pos in plan.filtered if before(pos))
    duplicates = sum(1 for pos in plan.duplicates if before(pos))
    retried = 0 if checkpoint is None else len(plan.sequences) - bisect_left(plan.sequences, checkpoint)
    objects = sum(1 for g in written if checkpoint is None or g.first.position[0] < checkpoint)
    return Outcome(
        checkpoint=None if checkpoint is None else _sequence_text(plan, checkpoint),
        received=plan.received,
        written=lake_lines,
        quarantined=quarantined,
        filtered=filtered,
        duplicates=duplicates,
        retried=retried,
        objects_written=objects,
        write_failures=failures,
        reasons=plan.reasons,
    )


def _sequence_text(plan: Plan, checkpoint: int) -> str:
    # Report the sequence number exactly as Kinesis wrote it (the lake key pads it).
    return plan.sequence_numbers.get(checkpoint, str(checkpoint))
