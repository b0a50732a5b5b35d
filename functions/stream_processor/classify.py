"""Step 1 of a batch: each record's fate, decided once and returned as one typed verdict.

A valid record goes ``ToLake`` (its NDJSON line and event time); a record refused for what it
is goes ``ToQuarantine`` with a reason code and a sentence; a record the transform dropped is
``FILTERED``; a producer's resend of a committed record is ``DUPLICATE`` (dedupe.py). Nothing a
record holds can make classification raise: what was not foreseen is ``processing_error``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from tributary import envelope, json_codec

from .dedupe import BatchDedupe, digest
from .records import RecordMeta
from .settings import Settings
from .transform import TransformError

Transform = Callable[[dict[str, Any], RecordMeta], "dict[str, Any] | None"]


@dataclass(slots=True)
class ToLake:
    """A valid record: its NDJSON line (newline included) and its normalised event time.
    Read-only by convention: not frozen, since one is built for every valid record (records.py)."""

    line: bytes
    time: str


@dataclass(frozen=True, slots=True)
class ToQuarantine:
    """A record refused for what it is: the reason code and a sentence."""

    reason: str
    detail: str


@dataclass(frozen=True, slots=True)
class Filtered:
    """The transform returned None: dropped on purpose, counted, not lost."""


@dataclass(frozen=True, slots=True)
class Duplicate:
    """A resend of a record the shard already committed."""


FILTERED: Final = Filtered()
DUPLICATE: Final = Duplicate()

Verdict = ToLake | ToQuarantine | Filtered | Duplicate


class Classifier:
    """The verdict on each record of one batch, called in shard order (dedupe depends on it)."""

    __slots__ = ("_check", "_dumps_line", "_limit", "_loads", "_transform", "_validate")

    def __init__(self, settings: Settings, transform: Transform, dedupe: BatchDedupe | None = None) -> None:
        self._limit = settings.max_record_bytes
        self._transform = transform
        self._check = dedupe.check if dedupe is not None else None
        self._loads, self._dumps_line, self._validate = json_codec.loads, json_codec.dumps_line, envelope.validate

    def __call__(self, data: bytes, meta: RecordMeta, sequence: int, arrival: float) -> Verdict:
        """``data`` is the user record's bytes, ``sequence`` its sequence number as an integer
        and ``arrival`` Kinesis's arrival timestamp."""
        # One frame per record: this runs for every record of every batch.
        try:
            if len(data) > self._limit:
                return ToQuarantine("oversize", f"{len(data)} bytes is over the {self._limit}-byte limit")
            try:
                record = self._validate(self._loads(data))
            except json_codec.JsonError as exc:
                return ToQuarantine(exc.reason, str(exc))
            except envelope.EnvelopeError as exc:
                return ToQuarantine(exc.reason, exc.detail)
            if self._check is not None and self._check(digest(record.id), sequence, arrival):
                return DUPLICATE
            try:
                out = self._transform(record.as_dict(), meta)
            except TransformError as exc:
                return ToQuarantine("transform_rejected", str(exc))
            except Exception as exc:  # a team's transform must not be able to lose a record
                return ToQuarantine("transform_error", f"{type(exc).__name__}: {exc}")
            if out is None:
                return FILTERED
            try:
                line = self._dumps_line(out)
            except RecursionError:
                return ToQuarantine("not_json", "nested too deeply to write back")
            except (TypeError, ValueError) as exc:  # what the transform returned is not JSON
                return ToQuarantine("transform_error", f"{type(exc).__name__}: {exc}")
            return ToLake(line, record.time)
        except Exception as exc:
            # A record this code did not foresee: quarantined with what went wrong, never the batch failed.
            return ToQuarantine("processing_error", f"{type(exc).__name__}: {exc}")
