"""Step 2 of a batch: every record classified (classify.py) and grouped into the objects to write.

``plan_batch`` is pure: no I/O. Each record ends in exactly one place: a lake group (one per
event-time hour), a quarantine group (one per arrival hour), the filtered list or the
duplicates list. Groups keep their records in shard order, and a group's key is derived from
its first record (commit.py says why).
"""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tributary import json_codec, kinesis, lake

from .classify import DUPLICATE, FILTERED, Classifier, ToLake, ToQuarantine, Transform, Verdict
from .dedupe import BatchDedupe
from .records import Position, RecordMeta, ingest_time
from .settings import Settings


@dataclass(slots=True)
class Line:
    """One NDJSON line and the position of the record it came from."""

    position: Position
    sequence_number: str
    data: bytes


@dataclass(slots=True)
class Group:
    """The records of one batch bound for one lake (or quarantine) partition."""

    partition: str
    shard_id: str
    quarantine: bool
    lines: list[Line] = field(default_factory=list)
    suffix: str = lake.NDJSON_GZIP_SUFFIX  # the codec's (lake.Codec.suffix)

    @property
    def first(self) -> Line:
        return self.lines[0]

    def key(self) -> str:
        """``<partition><shard>-<first sequence>-<first subsequence><codec suffix>``.

        Derived only from the shard and the group's first record, so any retry that
        starts at or before that record rewrites this very key (see the README).
        """
        sequence, subsequence = self.first.position
        return f"{self.partition}{self.shard_id}-{sequence:056d}-{max(subsequence, 0):05d}{self.suffix}"

    def lines_before(self, checkpoint: int | None) -> list[Line]:
        if checkpoint is None:
            return self.lines
        return [line for line in self.lines if line.position[0] < checkpoint]


@dataclass(slots=True)
class Plan:
    """A batch, decoded and grouped, before anything is written."""

    groups: list[Group]
    filtered: list[Position]
    received: int
    reasons: Counter[str]
    duplicates: list[Position] = field(default_factory=list)
    first_position: Position | None = None
    sequence_numbers: dict[int, str] = field(default_factory=dict)
    # The sequence number of every record received, sorted: what a checkpoint leaves to the retry.
    sequences: list[int] = field(default_factory=list)


def plan_batch(
    raw_records: Iterable[Mapping[str, Any]],
    settings: Settings,
    transform: Transform,
    dedupe: BatchDedupe | None = None,
) -> Plan:
    """Decode, classify and group one Kinesis batch. Pure: no I/O.

    ``dedupe`` decides which records are producer resends (see dedupe.py); they are dropped
    and counted. Nothing a record holds can make this raise.
    """
    users, rejected = kinesis.decode_batch(raw_records)
    plan = _Grouping(settings)
    for bad in rejected:  # records that could not be decoded: quarantined as they came
        position = kinesis.position(bad.sequence_number, bad.subsequence)
        meta = RecordMeta(bad.shard_id, bad.sequence_number, bad.subsequence, ingest_time(bad.arrival))
        plan.received(position, bad.sequence_number)
        plan.add(ToQuarantine(bad.reason, bad.detail), position, meta, bad.raw, bad.partition_key)

    classify = Classifier(settings, transform, dedupe)
    # The records of a KPL aggregate share a sequence number and an arrival time: each is
    # worked out once per run of records that share it.
    last_sequence: str | None = None
    last_arrival: float | None = None
    sequence, stamp = 0, ""
    for user in users:
        if user.sequence_number != last_sequence:
            last_sequence, sequence = user.sequence_number, int(user.sequence_number)
        if user.arrival != last_arrival:
            last_arrival, stamp = user.arrival, ingest_time(user.arrival)
        position = (sequence, -1 if user.subsequence is None else user.subsequence)
        meta = RecordMeta(user.shard_id, user.sequence_number, user.subsequence, stamp)
        plan.received(position, user.sequence_number)
        plan.add(classify(user.data, meta, sequence, user.arrival), position, meta, user.data, user.partition_key)
    return plan.done(len(users) + len(rejected))


class _Grouping:
    """Where each verdict goes, and what the batch received, in the order records come."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.groups: dict[tuple[str, str, bool], Group] = {}
        self.reasons: Counter[str] = Counter()
        self.filtered: list[Position] = []
        self.duplicates: list[Position] = []
        self.sequence_numbers: dict[int, str] = {}
        self.sequences: list[int] = []
        self.first: Position | None = None
        # A batch mostly falls in one event-time hour: the lake group of the record before.
        self._hour = ""
        self._lake: Group | None = None

    def received(self, position: Position, sequence_number: str) -> None:
        sequence = position[0]
        if not self.sequences or self.sequences[-1] != sequence:
            self.sequence_numbers[sequence] = sequence_number
        self.sequences.append(sequence)
        if self.first is None or position < self.first:
            self.first = position

    def add(self, verdict: Verdict, position: Position, meta: RecordMeta, raw: bytes, partition_key: str) -> None:
        if isinstance(verdict, ToLake):
            hour, group = verdict.time[:13], self._lake  # the partition is the event time's date and hour
            if hour != self._hour or group is None or group.shard_id != meta.shard_id:
                partition = lake.partition_prefix(self.settings.prefix, verdict.time)
                self._hour, group = hour, self._group(partition, meta.shard_id, False)
                self._lake = group
            group.lines.append(Line(position, meta.sequence_number, verdict.line))
        elif verdict is DUPLICATE:
            self.duplicates.append(position)
        elif verdict is FILTERED:
            self.filtered.append(position)
        elif isinstance(verdict, ToQuarantine):
            self.reasons[verdict.reason] += 1
            partition = lake.partition_prefix(self.settings.quarantine_prefix, meta.ingest_time)
            line = _quarantine_line(verdict, raw, meta, partition_key)
            self._group(partition, meta.shard_id, True).lines.append(Line(position, meta.sequence_number, line))

    def _group(self, partition: str, shard_id: str, quarantine: bool) -> Group:
        key = (partition, shard_id, quarantine)
        group = self.groups.get(key)
        if group is None:
            group = self.groups[key] = Group(partition, shard_id, quarantine, suffix=self.settings.codec.suffix)
        return group

    def done(self, received: int) -> Plan:
        ordered = list(self.groups.values())
        for group in ordered:
            group.lines.sort(key=_position)
        ordered.sort(key=lambda g: g.first.position)
        self.sequences.sort()
        return Plan(
            ordered,
            self.filtered,
            received,
            self.reasons,
            self.duplicates,
            self.first,
            self.sequence_numbers,
            self.sequences,
        )


def _position(line: Line) -> Position:
    return line.position


def _quarantine_line(refused: ToQuarantine, raw: bytes, meta: RecordMeta, partition_key: str) -> bytes:
    return json_codec.dumps_line(
        {
            "reason": refused.reason,
            # Both may hold anything a producer sent: written so that the line is always valid UTF-8.
            "detail": json_codec.printable(refused.detail, 1000),
            "shard_id": meta.shard_id,
            "sequence_number": meta.sequence_number,
            "subsequence": meta.subsequence,
            "partition_key": json_codec.printable(partition_key, 256),
            "ingest_time": meta.ingest_time,
            "raw_base64": base64.b64encode(raw).decode("ascii"),
        }
    )
