"""Interleaved measurement: the things compared run in turns, so a noisy neighbour hurts them alike."""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Mapping

Clock = Callable[[], int]
# A case is what to time, or a pair: what to do first, untimed, and what to time.
Case = Callable[[], object] | tuple[Callable[[], object], Callable[[], object]]


def interleaved(
    cases: Mapping[str, Case],
    repeats: int,
    warmup: int = 1,
    clock: Clock = time.process_time_ns,
) -> dict[str, list[int]]:
    """Run each case ``repeats`` times in turns (A, B, A, B, ...); nanoseconds per run, per case.

    The order is reversed every other round so neither case always runs first, and garbage
    left by one run is collected before the next starts, so no case pays for another's.
    """
    names = list(cases)
    pairs = {name: case if isinstance(case, tuple) else (_nothing, case) for name, case in cases.items()}
    for _ in range(warmup):
        for name in names:
            setup, run = pairs[name]
            setup()
            run()
    samples: dict[str, list[int]] = {name: [] for name in names}
    for round_ in range(repeats):
        for name in names if round_ % 2 == 0 else reversed(names):
            setup, run = pairs[name]
            setup()
            gc.collect()
            started = clock()
            run()
            samples[name].append(clock() - started)
    return samples


def _nothing() -> None:
    return None


def median(samples: list[int]) -> float:
    """The median of a list of samples."""
    return float(statistics.median(samples))


def spread(samples: list[int]) -> float:
    """Half the interquartile range over the median: how much the repetitions disagree."""
    if len(samples) < 4:
        return 0.0
    q1, _, q3 = statistics.quantiles(samples, n=4)
    middle = statistics.median(samples)
    return (q3 - q1) / 2 / middle if middle else 0.0
