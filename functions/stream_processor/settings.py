"""What the stream processor reads from its environment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from tributary import lake

DEFAULT_MAX_RECORD_BYTES = 1_048_576


@dataclass(frozen=True, slots=True)
class Settings:
    """The function's settings (``function.json``'s environment)."""

    bucket: str
    prefix: str = "events"
    quarantine_prefix: str = "quarantine"
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES
    codec: lake.Codec = lake.GZIP
    compression_level: int | None = None  # None: the codec's own default (gzip 6, zstd 3)
    dedupe_window_s: float = 300.0
    dedupe_max_ids: int = 100_000
    state_prefix: str = "_state/dedupe"

    @property
    def level(self) -> int:
        """The level objects are compressed at."""
        return self.codec.level(self.compression_level)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Read settings from the function's environment variables (ValueError for a codec or a
        level that does not exist: the invocation fails before it reads the batch)."""
        codec = lake.codec(env.get("LAKE_CODEC"))
        return cls(
            bucket=env["LAKE_BUCKET"],
            prefix=env.get("LAKE_PREFIX", "events").strip("/"),
            quarantine_prefix=env.get("QUARANTINE_PREFIX", "quarantine").strip("/"),
            max_record_bytes=int(env.get("MAX_RECORD_BYTES", DEFAULT_MAX_RECORD_BYTES)),
            codec=codec,
            # The codec's own default (gzip 6, zstd 3) unless COMPRESSION_LEVEL says otherwise.
            compression_level=codec.level(env.get("COMPRESSION_LEVEL")),
            dedupe_window_s=float(env.get("DEDUPE_WINDOW_SECONDS", 300)),
            dedupe_max_ids=int(env.get("DEDUPE_MAX_IDS", 100_000)),
            state_prefix=env.get("STATE_PREFIX", "_state/dedupe").strip("/"),
        )
