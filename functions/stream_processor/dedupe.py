"""Dropping producer resends: records whose envelope ``id`` the shard already committed.

Kinesis is at least once at the producer edge: a producer that resends after an
unknown outcome (a timeout, a 5xx from the HTTP endpoint) may put a record twice.
Resends of a record carry its partition key, so they reach the same shard. For each
shard the processor keeps, in one state object, an *entry* per committed record: the
fingerprint of its id, its ordinal (how many entries the shard had before it) and its
second (the newest arrival second among the shard's valid records up to it, so seconds
never decrease along the shard).

The decision for a record at position p depends only on the records before p:

    duplicate(p)  <=>  some entry e before p has p's fingerprint,
                       ordinal(e) >= ordinal(p) - max_ids   (one of the last max_ids entries), and
                       second(p) - second(e) <= window_s    (within the window)

Everything in that rule is a function of the shard's records before p, never of how they
were split into batches or of what a failed attempt wrote. The state written after an
attempt holds exactly the entries before its checkpoint, with the ordinal and second
reached there; a retry starts at that checkpoint and so decides every record as the
first attempt did, and groups them into the same objects under the same keys. Pruning
only drops windows no later record can match (every record after the checkpoint has an
ordinal and a second at least those of the checkpoint), so it never changes a decision.

The state is written after the lake objects and holds only entries of records before the
checkpoint, so a crash between the two leaves entries out (the retry rewrites the same
keys) and never puts in an entry whose record is not in the lake or the quarantine.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import zlib
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import chain, repeat

DIGEST_BYTES = 16  # collisions are out of reach (2^-64 for a billion ids)
VERSION = 2


class UnreadableStateError(ValueError):
    """A state object this version cannot read (damaged, or written by another version)."""


def digest(record_id: str) -> bytes:
    """A fixed-size fingerprint of an id (state stays small whatever the ids look like)."""
    return hashlib.blake2b(record_id.encode("utf-8", "surrogatepass"), digest_size=DIGEST_BYTES).digest()


@dataclass(frozen=True, slots=True)
class Window:
    """What one invocation committed: its entries, ordinals ``first`` onwards.

    ``start`` is the sequence number the invocation's batch started at and ``end`` the one it
    committed up to (exclusive); ``before`` and ``newest`` are the shard's newest second when
    it started and once it committed; ``seconds`` is run-length encoded, ``(second, count)``
    pairs in entry order.
    """

    start: int
    end: int
    first: int
    fingerprints: bytes
    seconds: tuple[tuple[int, int], ...]
    before: int | None
    newest: int | None

    @property
    def size(self) -> int:
        return len(self.fingerprints) // DIGEST_BYTES

    @property
    def last_second(self) -> int | None:
        return self.seconds[-1][0] if self.seconds else self.newest

    def entries(self) -> list[tuple[bytes, int, int]]:
        """(fingerprint, ordinal, second) of each entry."""
        ordinals = range(self.first, self.first + self.size)
        return list(zip(self.fingerprint_list(), ordinals, self._seconds(), strict=True))

    def fingerprint_list(self) -> list[bytes]:
        """Each entry's fingerprint, in entry order."""
        blob = self.fingerprints
        return [blob[i : i + DIGEST_BYTES] for i in range(0, len(blob), DIGEST_BYTES)]

    def latest(self) -> dict[bytes, tuple[int, int]]:
        """fingerprint -> (ordinal, second) of its last entry in this window."""
        ordinals = range(self.first, self.first + self.size)
        return dict(zip(self.fingerprint_list(), zip(ordinals, self._seconds(), strict=True), strict=True))

    def _seconds(self) -> chain[int]:
        return chain.from_iterable(repeat(second, count) for second, count in self.seconds)


@dataclass
class ShardState:
    """A shard's entries, one window per committed invocation, and where the shard stands."""

    windows: list[Window] = field(default_factory=list)
    next_ordinal: int = 0
    newest_second: int | None = None

    def __post_init__(self) -> None:
        # fingerprint -> (ordinal, second) of its latest entry. A warm environment carries it
        # from batch to batch (``updated``) instead of rebuilding it from every window.
        self._index: dict[bytes, tuple[int, int]] | None = None
        # Each window's part of the encoded state, compressed once: windows never change.
        self._members: dict[Window, bytes] = {}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ShardState):
            return NotImplemented
        return (self.windows, self.next_ordinal, self.newest_second) == (
            other.windows,
            other.next_ordinal,
            other.newest_second,
        )

    def index(self) -> dict[bytes, tuple[int, int]]:
        """The latest entry of each fingerprint."""
        if self._index is None:
            index: dict[bytes, tuple[int, int]] = {}
            for window in self.windows:
                index.update(window.latest())
            self._index = index
        return self._index

    def batch(
        self,
        window_s: float,
        max_ids: int,
        start: int | None = None,
        save: Callable[[ShardState], None] | None = None,
    ) -> BatchDedupe:
        """The decisions for one batch that starts at sequence number ``start``; ``save`` stores
        the state the batch commits (``BatchDedupe.commit``).

        A batch that starts where the newest window started is Lambda delivering it again
        (after a crash that followed the state write, or a duplicate delivery): it is decided
        on the state as it was before that window, so it decides as that invocation did.
        A batch that starts inside the newest window (Lambda gave up the first half of a
        bisected batch and moved on to the second) is decided without that window: its
        records are not taken for duplicates of themselves, at the cost of remembering less.
        A batch older than the newest window (delivered out of order) is decided on the state
        before it and writes no state, so the newer windows stay.
        """
        if start is None or not self.windows:
            return BatchDedupe(self, window_s, max_ids, start, save=save)
        newest = self.windows[-1]
        if newest.start >= start:
            kept = [w for w in self.windows if w.start < start]
            dropped = self.windows[len(kept)]
            view = ShardState(kept, dropped.first, dropped.before)
            return BatchDedupe(
                view,
                window_s,
                max_ids,
                start,
                "older" if newest.start > start else "again",
                writes=newest.start == start,
                save=save,
            )
        if start < newest.end:
            view = ShardState(self.windows[:-1], newest.first, newest.before)
            return BatchDedupe(view, window_s, max_ids, start, "inside", save=save)
        return BatchDedupe(self, window_s, max_ids, start, save=save)

    def updated(self, window: Window, window_s: float, max_ids: int) -> ShardState:
        """A new state: this one plus ``window``, without the windows that no record from the
        window's start onwards can match. This state is left as it was."""
        clone = ShardState([*self.windows, window], window.first + window.size, window.newest)
        clone._members = dict(self._members)
        index = dict(self._index) if self._index is not None else None
        if index is not None:
            index.update(window.latest())
        clone._index = index
        # Pruned from where the window's batch started, not where it ended: Lambda may deliver
        # that batch again, and its records must find what they found the first time.
        clone._prune(self.next_ordinal - max_ids, None if self.newest_second is None else self.newest_second - window_s)
        return clone

    def _prune(self, floor_ordinal: int, floor_second: float | None) -> None:
        # Seconds and ordinals only grow along the shard: what goes is a run of the oldest windows.
        keep = 0
        while keep < len(self.windows):
            window = self.windows[keep]
            last = window.last_second
            if window.first + window.size - 1 >= floor_ordinal and (
                floor_second is None or last is None or last >= floor_second
            ):
                break
            keep += 1
        dropped, self.windows = self.windows[:keep], self.windows[keep:]
        if dropped and self._index is not None:
            index = self._index
            for window in dropped:
                end = window.first + window.size
                for fp in window.fingerprint_list():
                    latest = index.get(fp)
                    if latest is not None and latest[0] < end:
                        del index[fp]
        if len(self._members) > len(self.windows):
            held = set(self.windows)
            self._members = {w: m for w, m in self._members.items() if w in held}

    def encode(self) -> bytes:
        """The version 2 document, gzip-compressed.

        The document is written as a series of gzip members (which any gzip reader joins):
        its head, one member per window, its tail. A window's member is compressed when the
        window is first encoded and reused after, so a batch compresses only its own entries.
        """
        head = json.dumps(
            {"version": VERSION, "next": self.next_ordinal, "newest": self.newest_second}, separators=(",", ":")
        )
        parts = [_member(head[:-1].encode() + b',"windows":[')]
        for i, window in enumerate(self.windows):
            member = self._members.get(window)
            if member is None:
                text = json.dumps(
                    [
                        str(window.start),
                        str(window.end),
                        window.first,
                        base64.b64encode(window.fingerprints).decode("ascii"),
                        window.seconds,
                        window.before,
                        window.newest,
                    ],
                    separators=(",", ":"),
                )
                member = self._members[window] = _member(text.encode())
            if i:
                parts.append(_COMMA)
            parts.append(member)
        parts.append(_TAIL)
        return b"".join(parts)

    @classmethod
    def decode(cls, data: bytes) -> ShardState:
        """Read what ``encode`` wrote, or a version 1 state; raise UnreadableStateError otherwise."""
        try:
            document = json.loads(gzip.decompress(data))
            version = document.get("version") if isinstance(document, dict) else None
            if version == VERSION:
                windows = [
                    Window(
                        int(start),
                        int(end),
                        int(first),
                        base64.b64decode(blob, validate=True),
                        tuple((int(s), int(c)) for s, c in seconds),
                        _second(before),
                        _second(newest),
                    )
                    for start, end, first, blob, seconds, before, newest in document["windows"]
                ]
                state = cls(windows, int(document["next"]), _second(document["newest"]))
            elif version == 1:
                state = _from_version_1(document["windows"])
            else:
                raise UnreadableStateError(f"unknown dedupe state version {str(version)[:40]!r}")
            _check_consistent(state)
        except UnreadableStateError:
            raise
        except Exception as exc:  # whatever a damaged object makes the reader do, the shard goes on
            raise UnreadableStateError(f"{type(exc).__name__}: {str(exc)[:200]}") from None
        return state


def _check_consistent(state: ShardState) -> None:
    expected = state.windows[0].first if state.windows else state.next_ordinal
    for window in state.windows:
        if len(window.fingerprints) % DIGEST_BYTES or any(c < 1 for _, c in window.seconds):
            raise UnreadableStateError("a window's fingerprints or seconds are damaged")
        if sum(c for _, c in window.seconds) != window.size or window.first != expected:
            raise UnreadableStateError("a window's entries do not follow on from the one before")
        expected = window.first + window.size
    if expected != state.next_ordinal:
        raise UnreadableStateError("the state's next ordinal does not follow its last window")


def _second(value: object) -> int | None:
    return None if value is None else int(str(value))


def _from_version_1(windows: list[list[object]]) -> ShardState:
    # Version 1 kept (newest arrival, fingerprints) per window and no ordinals: number the
    # entries in order, each at its window's second. The same object always reads the same.
    out, ordinal, newest = [], 0, None
    for until, blob in windows:
        fingerprints = base64.b64decode(str(blob), validate=True)
        count = len(fingerprints) // DIGEST_BYTES
        second = int(float(str(until)))
        before: int | None = newest
        newest = second if newest is None else max(newest, second)
        if count:
            out.append(Window(-1, -1, ordinal, fingerprints, ((newest, count),), before, newest))
            ordinal += count
    return ShardState(out, ordinal, newest)


class BatchDedupe:
    """One batch's decisions, in shard order, over a state it never changes.

    ``check`` is called once per valid record, in shard order. ``state_before(seq)`` is the
    state to write when the batch commits everything before sequence number ``seq``, and
    ``commit(seq)`` stores it through the ``save`` the batch was opened with.
    """

    def __init__(
        self,
        state: ShardState,
        window_s: float,
        max_ids: int,
        start: int | None = None,
        redelivery: str = "",
        writes: bool = True,
        save: Callable[[ShardState], None] | None = None,
    ) -> None:
        self.state = state
        self._save = save
        self.start = start
        # "again", "older" or "inside" when the batch starts at or before where the state stands.
        self.redelivery = redelivery
        self.writes = writes and redelivery != "older"
        self.window_s = window_s
        self.max_ids = max_ids
        self._index = state.index()
        self._own: dict[bytes, tuple[int, int]] = {}
        self._ordinal = state.next_ordinal
        self._newest = state.newest_second
        # Per valid record, in shard order: its sequence number, the ordinal and second reached
        # with it; and the entries of the batch.
        self._marks_seq: list[int] = []
        self._marks: list[tuple[int, int]] = []
        self._entries: list[tuple[bytes, int]] = []

    def check(self, fingerprint: bytes, sequence: int, arrival: float) -> bool:
        """True when the record is a duplicate; otherwise it becomes an entry."""
        second = int(arrival)
        newest = self._newest
        if newest is None or second > newest:
            self._newest = newest = second
        latest = self._own.get(fingerprint) or self._index.get(fingerprint)
        duplicate = (
            latest is not None and latest[0] >= self._ordinal - self.max_ids and newest - latest[1] <= self.window_s
        )
        if not duplicate:
            self._own[fingerprint] = (self._ordinal, newest)
            self._entries.append((fingerprint, newest))
            self._ordinal += 1
        self._marks_seq.append(sequence)
        self._marks.append((self._ordinal, newest))
        return duplicate

    def commit(self, sequence: int | None, end: int) -> None:
        """Store the state as of ``sequence`` (``state_before``), when there is one to store.
        Raises what saving raised: the caller then reports the whole batch as failed."""
        state = self.state_before(sequence, end)
        if state is not None and self._save is not None:
            self._save(state)

    def state_before(self, sequence: int | None, end: int) -> ShardState | None:
        """The state to write once every record before ``sequence`` (all, when None) is committed;
        ``end`` is the batch's last sequence number plus one. None when there is nothing to write:
        the batch changed nothing, or it is older than the state (delivered out of order)."""
        if not self.writes:
            return None
        upto = len(self._marks_seq) if sequence is None else bisect_left(self._marks_seq, sequence)
        base = self.state
        next_ordinal, newest = self._marks[upto - 1] if upto else (base.next_ordinal, base.newest_second)
        if next_ordinal == base.next_ordinal and newest == base.newest_second and not self.redelivery:
            return None  # no entry and no newer second: the state would say the same
        entries = self._entries[: next_ordinal - base.next_ordinal]
        runs: list[tuple[int, int]] = []
        for _, second in entries:
            if runs and runs[-1][0] == second:
                runs[-1] = (second, runs[-1][1] + 1)
            else:
                runs.append((second, 1))
        start = self.start if self.start is not None else -1
        window = Window(
            start,
            end if sequence is None else sequence,
            base.next_ordinal,
            b"".join(fp for fp, _ in entries),
            tuple(runs),
            base.newest_second,
            newest,
        )
        return base.updated(window, self.window_s, self.max_ids)


def _member(text: bytes) -> bytes:
    # Fingerprints are random: Huffman coding takes back base64's expansion, and searching for
    # repeats (what gzip's levels do) would find none, at several times the CPU.
    packer = zlib.compressobj(1, zlib.DEFLATED, 31, 8, zlib.Z_HUFFMAN_ONLY)
    return packer.compress(text) + packer.flush()


_COMMA = _member(b",")
_TAIL = _member(b"]}")
