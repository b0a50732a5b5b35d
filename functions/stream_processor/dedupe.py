"""Dropping producer resends: records whose envelope ``id`` the lake already holds.

Kinesis is at least once at the producer edge: a producer that resends after an
unknown outcome (a timeout, a 5xx from the HTTP endpoint) may put a record twice.
Resends of a record carry its partition key, so they reach the same shard. For each
shard the processor keeps the ids it committed to the lake during the last
``window_s`` seconds (at most ``max_ids``) in one state object; a record whose id is
in that set, or appears earlier in the same batch, is dropped and counted.

The state is written after the lake objects and holds only ids of records before the
checkpoint, so a crash between the two leaves ids out (the retry rewrites the same
keys) and never puts in an id whose record is not in the lake.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
from dataclasses import dataclass, field

DIGEST_BYTES = 16  # collisions are out of reach (2^-64 for a billion ids)


def digest(record_id: str) -> bytes:
    """A fixed-size fingerprint of an id (state stays small whatever the ids look like)."""
    return hashlib.blake2b(record_id.encode("utf-8"), digest_size=DIGEST_BYTES).digest()


@dataclass
class ShardState:
    """The ids a shard committed recently, one window per committed batch."""

    windows: list[tuple[float, bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._index: set[bytes] | None = None

    def contains(self, fingerprint: bytes) -> bool:
        if self._index is None:
            self._index = {
                blob[i:i + DIGEST_BYTES] for _, blob in self.windows for i in range(0, len(blob), DIGEST_BYTES)
            }
        return fingerprint in self._index

    def add(self, newest_arrival: float, fingerprints: list[bytes], window_s: float, max_ids: int) -> None:
        """Remember a committed batch; forget windows older than ``window_s`` and beyond ``max_ids``."""
        if fingerprints:
            self.windows.append((newest_arrival, b"".join(fingerprints)))
        newest = max((until for until, _ in self.windows), default=newest_arrival)
        kept, total = [], 0
        for until, blob in reversed(self.windows):
            if newest - until > window_s or total + len(blob) // DIGEST_BYTES > max_ids:
                break
            kept.append((until, blob))
            total += len(blob) // DIGEST_BYTES
        self.windows = list(reversed(kept))
        self._index = None

    def encode(self) -> bytes:
        document = {"version": 1, "windows": [[until, base64.b64encode(blob).decode("ascii")]
                                              for until, blob in self.windows]}
        return gzip.compress(json.dumps(document, separators=(",", ":")).encode(), compresslevel=1, mtime=0)

    @classmethod
    def decode(cls, data: bytes) -> ShardState:
        document = json.loads(gzip.decompress(data))
        if document.get("version") != 1:
            raise ValueError(f"unknown dedupe state version {document.get('version')!r}")
        return cls([(float(until), base64.b64decode(blob)) for until, blob in document["windows"]])
