"""Applying a batch of table1's stream records to table2, in order, stopping at the first failure."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tributary import replica

Apply = Callable[[replica.Change], str]


@dataclass
class BatchResult:
    """The checkpoint to report (None when the whole batch is applied) and what happened."""

    checkpoint: str | None = None
    counts: Counter[str] = field(default_factory=Counter)
    error: str = ""

    def response(self) -> dict[str, list[dict[str, str]]]:
        return {"batchItemFailures": [] if self.checkpoint is None else [{"itemIdentifier": self.checkpoint}]}


def apply_batch(records: Iterable[Mapping[str, Any]], apply: Apply) -> BatchResult:
    """Apply each record; on the first failure report its sequence number as the checkpoint.

    Records after a failure are retried by Lambda from the checkpoint, so they are not
    attempted now. A change that can never apply (a reserved attribute, a malformed record)
    fails the same way: the mapping's retries and bisection isolate it and send it to the
    on-failure destination, and the shard moves on.
    """
    result = BatchResult()
    for record in records:
        sequence = record.get("dynamodb", {}).get("SequenceNumber", "")
        try:
            outcome = apply(replica.from_stream_record(record))
        except Exception as exc:
            result.checkpoint = sequence
            result.counts["failed"] += 1
            result.error = f"{type(exc).__name__}: {exc}"[:500]
            return result
        result.counts[outcome] += 1
    return result
