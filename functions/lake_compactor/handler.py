"""Compaction of the lake's closed hours to Parquet. Thin shell: the schedule's event runs every
hour that closed (``compact.hours_to_visit``) through read, convert, commit and collect."""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from tributary import aws, lake_catalog, logs, metrics, tracing

from . import compact, convert
from .settings import Settings

log = logs.get_logger("lake_compactor")
# Stop visiting hours when less than this is left of the invocation (at most a quarter of what
# it started with): the next run goes on.
RESERVE_MS = 120_000


def _now() -> datetime:
    return datetime.now(UTC)


def handle(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """Lambda entry point for the schedule's event (any event runs the same pass)."""
    tracing.init()
    settings = Settings.from_env(os.environ)
    table = lake_catalog.load().tables[settings.table]
    counts = run(aws.client("s3"), settings, table, _now, context)
    metrics.publish(
        {
            "HoursCompacted": counts["hours_compacted"],
            "ObjectsCompacted": counts["objects_compacted"],
            "RecordsCompacted": counts["records_compacted"],
            "ObjectsUnreadable": counts["objects_unreadable"],
            "CompactionConflicts": counts["conflicts"],  # alarmed
            "HoursFailed": counts["hours_failed"],  # alarmed
            "ObjectsDeleted": counts["raw_deleted"] + counts["parquet_deleted"],
        },
        "lake_compactor",
    )
    log.info("compaction", extra={"counts": dict(counts)})
    return {"counts": dict(counts)}


def run(s3: Any, settings: Settings, table: lake_catalog.Table, now: Any, context: Any = None) -> Counter[str]:
    """Every hour to visit, oldest first; an hour that fails is logged and counted, and the others go on."""
    counts: Counter[str] = Counter()
    reserve = min(RESERVE_MS, context.get_remaining_time_in_millis() // 4) if context is not None else 0
    with tempfile.TemporaryDirectory(prefix="compaction-") as tmp:
        workdir = Path(tmp)
        connection = convert.connect(settings.memory_limit, workdir / "duckdb")
        converter = partial(convert.to_parquet, connection, table.columns, sort_by=table.sort_by)
        for dt, hour in compact.hours_with_objects(s3, settings, table, compact.hours_to_visit(now(), settings)):
            if context is not None and context.get_remaining_time_in_millis() < reserve:
                counts["hours_left"] += 1
                continue
            try:
                _hour(s3, settings, table, dt, hour, converter, workdir, now, counts)
            except compact.CommitConflictError as exc:
                log.warning("another run committed first", extra={"error": str(exc)})
                counts["commit_conflicts"] += 1
            except Exception as exc:  # one hour must not stop the others
                log.exception("hour failed", extra={"dt": dt, "hour": hour, "error": str(exc)})
                counts["hours_failed"] += 1
    return counts


def _hour(
    s3: Any,
    settings: Settings,
    table: lake_catalog.Table,
    dt: str,
    hour: str,
    converter: Any,
    workdir: Path,
    now: Any,
    counts: Counter[str],
) -> None:
    state = compact.read_hour(s3, settings, table, dt, hour)
    for uri in compact.conflicts(state, settings):
        log.error("a replaced object was written again after compaction", extra={"file": uri})
        counts["conflicts"] += 1
    todo = compact.pending(state, now(), settings)
    if todo:
        done = compact.compact(s3, settings, table, state, todo, converter, workdir, now)
        counts["objects_unreadable"] += len(done.unreadable)
        if done.lines:
            replaced = [line for line in done.lines if line.action == lake_catalog.REPLACE]
            counts["hours_compacted"] += 1
            counts["objects_compacted"] += len(replaced)
            counts["records_compacted"] += sum(line.records for line in replaced)
            counts["parquet_written"] += len(done.lines) - len(replaced)
            state = compact.read_hour(s3, settings, table, dt, hour)
    collected = compact.collect(s3, settings, state, now())
    counts["raw_deleted"] += collected.raw
    counts["parquet_deleted"] += collected.parquet
    counts["deletes_failed"] += collected.failed
