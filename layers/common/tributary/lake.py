"""How records are laid out in the data lake: gzip NDJSON under Hive-style partitions."""

from __future__ import annotations

import gzip
from collections.abc import Iterable
from typing import Any

from tributary import json_codec

# zlib level 6 is gzip's own default: most of level 9's ratio at a fraction of its CPU.
DEFAULT_COMPRESSION_LEVEL = 6
NDJSON_GZIP_SUFFIX = ".ndjson.gz"


def encode_ndjson(objects: Iterable[Any]) -> bytes:
    """One compact JSON document per line, each line ending in a newline."""
    return b"".join(json_codec.dumps_line(o) for o in objects)


def decode_ndjson(data: bytes) -> list[Any]:
    """The inverse of encode_ndjson; blank lines are ignored."""
    return [json_codec.loads(line) for line in data.splitlines() if line.strip()]


def gzip_bytes(data: bytes, level: int = DEFAULT_COMPRESSION_LEVEL) -> bytes:
    """gzip with a zero timestamp, so equal input gives equal bytes (and equal ETags)."""
    return gzip.compress(data, compresslevel=level, mtime=0)


def gunzip_bytes(data: bytes) -> bytes:
    """Decompress one gzip stream (or several concatenated)."""
    return gzip.decompress(data)


def partition_prefix(prefix: str, utc_time: str) -> str:
    """``<prefix>/dt=YYYY-MM-DD/hour=HH/`` for a UTC RFC 3339 time ending in Z."""
    return f"{prefix}/dt={utc_time[:10]}/hour={utc_time[11:13]}/"
