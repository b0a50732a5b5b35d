"""How records are laid out in the data lake: compressed NDJSON under Hive-style partitions.

An object's codec is in its key: ``.ndjson.gz`` (gzip) or ``.ndjson.zst`` (Zstandard), the
extensions Athena, Trino, Spark and DuckDB pick the decompressor by. The stream processor writes
one codec (``LAKE_CODEC``); readers take whatever each key says, so a lake holds both after a
change of codec.
"""

from __future__ import annotations

import functools
import gzip
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from tributary import json_codec


@functools.cache
def _zstd() -> ModuleType:
    """Python 3.14's ``compression.zstd``, or its backport on older runtimes (Lambda's 3.13);
    looked up once, on first use, so a gzip lake never imports it."""
    try:
        from compression import zstd  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        from backports import zstd  # type: ignore[import-not-found,no-redef,unused-ignore]
    return zstd  # type: ignore[no-any-return,unused-ignore]


def _gzip(data: bytes, level: int) -> bytes:
    # A zero timestamp, so equal input gives equal bytes (and equal ETags).
    return gzip.compress(data, compresslevel=level, mtime=0)


def _zstd_compress(data: bytes, level: int) -> bytes:
    zstd = _zstd()
    # The frame carries its content's checksum, as a gzip member carries its CRC-32: a damaged
    # object fails to decompress instead of yielding other bytes.
    options = {zstd.CompressionParameter.compression_level: level, zstd.CompressionParameter.checksum_flag: 1}
    return bytes(zstd.compress(data, options=options))


def _zstd_decompress(data: bytes) -> bytes:
    return bytes(_zstd().decompress(data))


@dataclass(frozen=True, slots=True)
class Codec:
    """One way of compressing lake objects."""

    name: str
    suffix: str  # the key's ending
    content_encoding: str  # the object's Content-Encoding
    default_level: int
    min_level: int
    max_level: int
    _compress: Callable[[bytes, int], bytes]
    _decompress: Callable[[bytes], bytes]

    def level(self, given: int | str | None) -> int:
        """``given`` as a level of this codec (its default when None or empty); ValueError otherwise."""
        if given is None or given == "":
            return self.default_level
        try:
            value = int(given)
        except (TypeError, ValueError):
            raise ValueError(f"{self.name} compression level {given!r} is not an integer") from None
        if not self.min_level <= value <= self.max_level:
            raise ValueError(f"{self.name} compression level {value} is outside {self.min_level} to {self.max_level}")
        return value

    def compress(self, data: bytes, level: int | None = None) -> bytes:
        """``data`` compressed; equal input and level give equal bytes."""
        return self._compress(data, self.default_level if level is None else level)

    def decompress(self, data: bytes) -> bytes:
        """The bytes of one stream, or of several concatenated (members or frames)."""
        return self._decompress(data)


# zlib level 6 is gzip's own default: most of level 9's ratio at a fraction of its CPU.
GZIP = Codec("gzip", ".ndjson.gz", "gzip", 6, 1, 9, _gzip, gzip.decompress)
# Level 3 is zstd's default, and Athena's when it writes ZSTD.
ZSTD = Codec("zstd", ".ndjson.zst", "zstd", 3, 1, 19, _zstd_compress, _zstd_decompress)
CODECS = {codec.name: codec for codec in (GZIP, ZSTD)}
DEFAULT_CODEC = GZIP.name
# gzip stays the default until the engines users query the lake with all read zstd NDJSON
# (README, "Querying the lake").
DEFAULT_COMPRESSION_LEVEL = GZIP.default_level
NDJSON_GZIP_SUFFIX = GZIP.suffix
SUFFIXES = tuple(codec.suffix for codec in CODECS.values())


def codec(name: str | None) -> Codec:
    """The codec called ``name`` (the default when None or empty); ValueError naming the choices."""
    chosen = CODECS.get(name or DEFAULT_CODEC)
    if chosen is None:
        raise ValueError(f"lake codec {name!r} is not one of {sorted(CODECS)}")
    return chosen


def codec_of(key: str) -> Codec | None:
    """The codec a lake key's ending names, or None for a key that is no lake object."""
    return next((c for c in CODECS.values() if key.endswith(c.suffix)), None)


def stem(key: str) -> str:
    """A lake key without its codec's ending: the same object under any codec."""
    found = codec_of(key)
    return key[: -len(found.suffix)] if found else key


def encode_ndjson(objects: Iterable[Any]) -> bytes:
    """One compact JSON document per line, each line ending in a newline."""
    return b"".join(json_codec.dumps_line(o) for o in objects)


def decode_ndjson(data: bytes) -> list[Any]:
    """The inverse of encode_ndjson; blank lines are ignored."""
    return [json_codec.loads(line) for line in data.splitlines() if line.strip()]


def gzip_bytes(data: bytes, level: int = DEFAULT_COMPRESSION_LEVEL) -> bytes:
    """gzip with a zero timestamp, so equal input gives equal bytes (and equal ETags)."""
    return GZIP.compress(data, level)


def gunzip_bytes(data: bytes) -> bytes:
    """Decompress one gzip stream (or several concatenated)."""
    return gzip.decompress(data)


def decompress_object(key: str, data: bytes) -> bytes:
    """A lake object's NDJSON, by the codec its key names; ValueError for another key."""
    found = codec_of(key)
    if found is None:
        raise ValueError(f"{key!r} ends in none of {list(SUFFIXES)}")
    return found.decompress(data)


def partition_prefix(prefix: str, utc_time: str) -> str:
    """``<prefix>/dt=YYYY-MM-DD/hour=HH/`` for a UTC RFC 3339 time ending in Z."""
    return f"{prefix}/dt={utc_time[:10]}/hour={utc_time[11:13]}/"
