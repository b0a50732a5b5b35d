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
import zlib
from collections import Counter
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
        # How many windows hold each fingerprint. A warm environment carries it from batch to
        # batch (``copy``, ``add``) instead of rebuilding it from every window each time.
        self._index: Counter[bytes] | None = None
        # Each window's part of the encoded state, compressed once: windows never change.
        self._members: dict[tuple[float, bytes], bytes] = {}

    def _fingerprints(self) -> Counter[bytes]:
        if self._index is None:
            self._index = Counter(fp for _, blob in self.windows for fp in _split(blob))
        return self._index

    def contains(self, fingerprint: bytes) -> bool:
        index = self._index
        return fingerprint in (self._fingerprints() if index is None else index)

    def copy(self) -> ShardState:
        """An independent copy: changing it leaves this state as it was."""
        clone = ShardState(list(self.windows))
        if self._index is not None:
            clone._index = self._index.copy()
        clone._members = dict(self._members)
        return clone

    def add(self, newest_arrival: float, fingerprints: list[bytes], window_s: float, max_ids: int) -> None:
        """Remember a committed batch; forget windows older than ``window_s`` and beyond ``max_ids``."""
        if fingerprints:
            self.windows.append((newest_arrival, b"".join(fingerprints)))
            if self._index is not None:
                self._index.update(fingerprints)
        newest = max((until for until, _ in self.windows), default=newest_arrival)
        kept, total = [], 0
        for until, blob in reversed(self.windows):
            if newest - until > window_s or total + len(blob) // DIGEST_BYTES > max_ids:
                break
            kept.append((until, blob))
            total += len(blob) // DIGEST_BYTES
        dropped = self.windows[:len(self.windows) - len(kept)]
        self.windows = list(reversed(kept))
        if self._index is not None and dropped:
            index = self._index
            for _, blob in dropped:
                for fp in _split(blob):
                    count = index.get(fp, 0)
                    if count > 1:
                        index[fp] = count - 1
                    else:
                        index.pop(fp, None)

    def encode(self) -> bytes:
        """The version 1 document, gzip-compressed.

        The document is written as a series of gzip members (which any gzip reader joins):
        its head, one member per window, its tail. A window's member is compressed when the
        window is first encoded and reused after, so a batch compresses only its own ids.
        """
        parts = [_HEAD]
        for i, window in enumerate(self.windows):
            member = self._members.get(window)
            if member is None:
                until, blob = window
                text = json.dumps([until, base64.b64encode(blob).decode("ascii")], separators=(",", ":"))
                member = self._members[window] = _member(text.encode())
            if i:
                parts.append(_COMMA)
            parts.append(member)
        parts.append(_TAIL)
        if len(self._members) > len(self.windows):
            held = set(self.windows)
            self._members = {w: m for w, m in self._members.items() if w in held}
        return b"".join(parts)

    @classmethod
    def decode(cls, data: bytes) -> ShardState:
        """Read what ``encode`` wrote (any gzip stream of the version 1 document)."""
        document = json.loads(gzip.decompress(data))
        if document.get("version") != 1:
            raise ValueError(f"unknown dedupe state version {document.get('version')!r}")
        return cls([(float(until), base64.b64decode(blob)) for until, blob in document["windows"]])


def _split(blob: bytes) -> list[bytes]:
    return [blob[i:i + DIGEST_BYTES] for i in range(0, len(blob), DIGEST_BYTES)]


def _member(text: bytes) -> bytes:
    # Fingerprints are random: Huffman coding takes back base64's expansion, and searching for
    # repeats (what gzip's levels do) would find none, at several times the CPU.
    packer = zlib.compressobj(1, zlib.DEFLATED, 31, 8, zlib.Z_HUFFMAN_ONLY)
    return packer.compress(text) + packer.flush()


_HEAD = _member(b'{"version":1,"windows":[')
_COMMA = _member(b",")
_TAIL = _member(b"]}")
