"""Injected faults: ``FAULTS=s3_put_error:0.05,throttle:0.02,crash:0.01,timeout:0.01,duplicate_delivery:0.05``.

Each fault has a probability; decisions come from one seeded generator per fault and
place (``SEED=``), so a run can be repeated. Where each fault strikes:

- ``s3_put_error``: the embedded AWS answers an S3 PutObject or CopyObject with 503 SlowDown.
- ``throttle``: the embedded AWS throttles Kinesis (some records of a PutRecords call fail,
  or a GetRecords call is refused) and DynamoDB writes.
- ``crash``: the function's worker process dies in the middle of an invocation.
- ``timeout``: the function's worker hangs until the runtime kills it at its timeout.
- ``duplicate_delivery``: an event source mapping delivers a batch or message again.
"""

from __future__ import annotations

import hashlib
import random
import threading
from dataclasses import dataclass, field

KNOWN = ("s3_put_error", "throttle", "crash", "timeout", "duplicate_delivery")


class FaultSpecError(ValueError):
    """A FAULTS value that cannot be read."""


def parse(spec: str) -> dict[str, float]:
    """``name:probability,...`` to a dict; raise FaultSpecError saying what is wrong."""
    faults: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in (spec or "").split(","))):
        name, sep, value = part.partition(":")
        if name not in KNOWN:
            raise FaultSpecError(f"unknown fault {name!r}; known: {', '.join(KNOWN)}")
        try:
            probability = float(value) if sep else 0.05
        except ValueError:
            raise FaultSpecError(f"{name}: {value!r} is not a probability") from None
        if not 0.0 <= probability <= 1.0:
            raise FaultSpecError(f"{name}: probability {probability} is not between 0 and 1")
        faults[name] = probability
    return faults


@dataclass
class Faults:
    """Seeded fault decisions, safe to share between threads."""

    rates: dict[str, float] = field(default_factory=dict)
    seed: int = 0
    counts: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._rngs: dict[str, random.Random] = {}

    def enabled(self, name: str) -> bool:
        return self.rates.get(name, 0.0) > 0.0

    def fire(self, name: str, where: str = "") -> bool:
        """Decide whether ``name`` strikes now (and count it when it does)."""
        rate = self.rates.get(name, 0.0)
        if rate <= 0.0:
            return False
        key = f"{name}/{where}"
        with self._lock:
            rng = self._rngs.get(key)
            if rng is None:
                digest = hashlib.sha256(f"{self.seed}/{key}".encode()).digest()
                rng = self._rngs[key] = random.Random(int.from_bytes(digest[:8], "big"))
            hit = rng.random() < rate
            if hit:
                self.counts[name] = self.counts.get(name, 0) + 1
            return hit

    def as_env(self) -> str:
        """The spec, for handing to worker processes."""
        return ",".join(f"{k}:{v}" for k, v in self.rates.items())
