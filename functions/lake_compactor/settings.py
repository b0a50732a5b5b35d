"""What the lake compactor reads from its environment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Settings:
    """The function's settings (``function.json``'s environment; Terraform sets the timings)."""

    bucket: str
    table: str = "events"
    # An hour is compacted once it ended this long ago: the lateness most records stay within.
    lateness_s: int = 900
    # A raw object is compacted only once it was last written this long ago: after that the
    # stream processor can no longer rewrite it (its records' maximum age plus its timeout).
    settle_s: int = 86_520
    # How far back a run looks for hours with raw objects left (late records).
    lookback_hours: int = 48
    # A run's log lines apply to queries that start this long after the log was written.
    effective_after_s: int = 300
    # Replaced raw objects and unused Parquet files are deleted this long after their line
    # applies: longer than any query runs.
    delete_after_s: int = 86_400
    # The raw bytes one Parquet file is made from, at most (compressed NDJSON, as stored).
    max_input_bytes: int = 512 * 1024 * 1024
    memory_limit: str = "1500MB"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        return cls(
            bucket=env["LAKE_BUCKET"],
            table=env.get("LAKE_TABLE", "events"),
            lateness_s=int(env.get("LATENESS_SECONDS", 900)),
            settle_s=int(env.get("SETTLE_SECONDS", 86_520)),
            lookback_hours=int(env.get("LOOKBACK_HOURS", 48)),
            effective_after_s=int(env.get("EFFECTIVE_AFTER_SECONDS", 300)),
            delete_after_s=int(env.get("DELETE_AFTER_SECONDS", 86_400)),
            max_input_bytes=int(env.get("MAX_INPUT_BYTES", 512 * 1024 * 1024)),
            memory_limit=env.get("DUCKDB_MEMORY_LIMIT", "1500MB"),
        )
