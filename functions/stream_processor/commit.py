"""Step 3 of a batch: write the plan's objects, then find the exact checkpoint and make the lake
agree with it.

The checkpoint S is the lowest Kinesis sequence number of a group that could not be written.
Every written group whose first record is before S but which also holds records at or after
S is rewritten under its own key with only its records before S. If such a rewrite fails, S
moves down to that group's first record and the check repeats; S only ever decreases, so this
ends. Then the dedupe state is stored as of S; if that fails, S is the batch's first record.
This directory's README ("Exactly once") says why that makes every record land once.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial

from tributary import batch

from .dedupe import BatchDedupe
from .plan import Group, Line, Plan
from .records import Position
from .settings import Settings

Put = Callable[[str, bytes, Mapping[str, str]], None]
Compress = Callable[[bytes], bytes]


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
        return batch.from_checkpoint(self.checkpoint)


def commit(plan: Plan, put: Put, settings: Settings, dedupe: BatchDedupe | None = None) -> Outcome:
    """Write every group through ``put(key, body, metadata)``; trim what a failure leaves after
    the checkpoint; store ``dedupe``'s state as of the checkpoint. Never raises for a failed
    write: a failure only lowers the checkpoint."""
    compress = partial(settings.codec.compress, level=settings.level)
    written, checkpoint, failures = _write(plan.groups, put, compress)
    if checkpoint is not None:
        checkpoint, trim_failures = _trim(written, checkpoint, put, compress)
        failures += trim_failures
    if dedupe is not None and plan.sequences and plan.first_position is not None:
        try:
            dedupe.commit(checkpoint, plan.sequences[-1] + 1)
        except Exception:
            # Without the entries recorded, report the whole batch as failed: the retry starts
            # from the state this attempt read, so it decides and writes exactly as this one did.
            failures += 1
            checkpoint = plan.first_position[0]
    return _outcome(plan, written, checkpoint, failures)


def _write(groups: list[Group], put: Put, compress: Compress) -> tuple[list[Group], int | None, int]:
    """Each group once: the groups written, the lowest first sequence of a failed one, the failures."""
    written: list[Group] = []
    checkpoint: int | None = None
    failures = 0
    for group in groups:
        try:
            put(group.key(), _body(group.lines, compress), _metadata(group.lines))
        except Exception:
            failures += 1
            sequence = group.first.position[0]
            checkpoint = sequence if checkpoint is None else min(checkpoint, sequence)
        else:
            written.append(group)
    return written, checkpoint, failures


def _trim(written: list[Group], checkpoint: int, put: Put, compress: Compress) -> tuple[int, int]:
    """Rewrite each written group that straddles the checkpoint with only its records before it;
    a failed rewrite lowers the checkpoint to that group's first record, and the check repeats."""
    failures = 0
    while True:
        lowered = False
        for group in written:
            first = group.first.position[0]
            if first >= checkpoint or group.lines[-1].position[0] < checkpoint:
                continue
            keep = group.lines_before(checkpoint)
            try:
                put(group.key(), _body(keep, compress), _metadata(keep))
            except Exception:
                failures += 1
                checkpoint, lowered = first, True
                break
        if not lowered:
            # A lower checkpoint makes groups trimmed for the old one straddle again: the next
            # round rewrites them; without one, every straddling group is trimmed.
            return checkpoint, failures


def _outcome(plan: Plan, written: list[Group], checkpoint: int | None, failures: int) -> Outcome:
    def before(position: Position) -> bool:
        return checkpoint is None or position[0] < checkpoint

    def count(lines: list[Line]) -> int:
        # Without a checkpoint every line counts: no need to look at each.
        return len(lines) if checkpoint is None else sum(1 for line in lines if line.position[0] < checkpoint)

    return Outcome(
        # The sequence number exactly as Kinesis wrote it (the lake key pads it).
        checkpoint=None if checkpoint is None else plan.sequence_numbers.get(checkpoint, str(checkpoint)),
        received=plan.received,
        written=sum(count(g.lines) for g in plan.groups if not g.quarantine),
        quarantined=sum(count(g.lines) for g in plan.groups if g.quarantine),
        filtered=sum(1 for position in plan.filtered if before(position)),
        duplicates=sum(1 for position in plan.duplicates if before(position)),
        retried=0 if checkpoint is None else len(plan.sequences) - bisect_left(plan.sequences, checkpoint),
        objects_written=sum(1 for g in written if checkpoint is None or g.first.position[0] < checkpoint),
        write_failures=failures,
        reasons=plan.reasons,
    )


def _body(lines: list[Line], compress: Compress) -> bytes:
    return compress(b"".join([line.data for line in lines]))


def _metadata(lines: list[Line]) -> dict[str, str]:
    return {
        "first-sequence": lines[0].sequence_number,
        "last-sequence": lines[-1].sequence_number,
        "records": str(len(lines)),
    }
