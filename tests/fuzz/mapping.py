"""Lambda's Kinesis event source mapping for one shard, built from the rules AWS documents.

From the Lambda Developer Guide (Kinesis: "Configuring partial batch response" and
"Error handling"):

- a shard's records are delivered in order, each batch starting at the checkpoint;
- the batch succeeded when the response is null or empty, or its ``batchItemFailures`` is
  null or empty: the checkpoint moves past it;
- otherwise the lowest sequence number among the ``itemIdentifier`` values is the new
  checkpoint: the records before it are done and Lambda retries from it; with
  BisectBatchOnFunctionError on, it retries only the rest of that batch;
- an item whose ``itemIdentifier`` is missing, null or empty fails the whole batch (so does,
  here, one naming a record that is not in the batch);
- a function error (an exception, a timeout) fails the whole batch, which is retried split
  in two when BisectBatchOnFunctionError is on; a response Lambda never receives is the
  same to it, although the function ran.

Retries are unbounded (MaximumRetryAttempts and MaximumRecordAgeInSeconds give records up,
which loses them by design): the faults a test injects are finite, so the shard drains.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Invocation:
    """What the mapping learns from one invocation: the response, or that the function failed."""

    response: Any = None
    function_error: bool = False


@dataclass
class Step:
    """One invocation as the mapping saw it, for the failure report of a test."""

    start: int
    end: int
    outcome: str  # success, partial@<index>, failure, function_error, lost_response


@dataclass
class Drained:
    steps: list[Step] = field(default_factory=list)

    def count(self, outcome: str) -> int:
        return sum(1 for s in self.steps if s.outcome.split("@")[0] == outcome)


def interpret(response: Any, sequence_numbers: Sequence[str]) -> tuple[str, int]:
    """``("success", 0)``, ``("partial", index of the new checkpoint in the batch)`` or ``("failure", 0)``."""
    if response is None or response == {}:
        return "success", 0
    if not isinstance(response, dict):
        return "failure", 0
    items = response.get("batchItemFailures")
    if not items:
        return "success", 0
    if not isinstance(items, list):
        return "failure", 0
    index = {sequence: i for i, sequence in enumerate(sequence_numbers)}
    positions = []
    for item in items:
        identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not isinstance(identifier, str) or identifier not in index:
            return "failure", 0
        positions.append(index[identifier])
    return "partial", min(positions)


def drain(
    sequence_numbers: Sequence[str],
    invoke: Callable[[int, int], Invocation],
    batch_sizes: Sequence[int],
    bisect: bool,
    lost_responses: frozenset[int] = frozenset(),
    max_invocations: int = 1000,
) -> Drained:
    """Deliver the shard's records ``[0, n)`` until the checkpoint passes the last one.

    ``invoke(start, end)`` runs the function on records ``start`` to ``end - 1``. Invocation
    numbers in ``lost_responses`` (1-based) are treated as function errors after they ran.
    """
    drained = Drained()
    checkpoint, sizes = 0, 0
    retry: deque[tuple[int, int]] = deque()  # the rest of a bisected batch, in order
    while checkpoint < len(sequence_numbers):
        assert len(drained.steps) < max_invocations, f"the shard does not drain: {drained.steps[-10:]}"
        if retry:
            start, end = retry.popleft()
        else:
            start, end = checkpoint, min(len(sequence_numbers), checkpoint + batch_sizes[sizes % len(batch_sizes)])
            sizes += 1
        assert start == checkpoint
        invocation = invoke(start, end)
        if len(drained.steps) + 1 in lost_responses and not invocation.function_error:
            invocation, lost = Invocation(function_error=True), True
        else:
            lost = False
        if invocation.function_error:
            drained.steps.append(Step(start, end, "lost_response" if lost else "function_error"))
            if bisect and end - start > 1:
                middle = (start + end) // 2
                retry.extendleft([(middle, end), (start, middle)])
            else:
                retry.appendleft((start, end))
            continue
        kind, index = interpret(invocation.response, sequence_numbers[start:end])
        drained.steps.append(Step(start, end, f"partial@{start + index}" if kind == "partial" else kind))
        if kind == "success":
            checkpoint = end
        elif kind == "partial":
            checkpoint = start + index
            if bisect:
                retry.appendleft((checkpoint, end))
            else:
                retry.clear()
        elif bisect and end - start > 1:
            middle = (start + end) // 2
            retry.extendleft([(middle, end), (start, middle)])
        else:
            retry.appendleft((start, end))
    return drained
