"""The lake as a table: one hour compacted to Parquet against the same hour as raw NDJSON.

The hour is laid out as the stream processor lays it out at ``rate`` records/s (objects of
``records_per_object`` lines, gzip level 6, the processor's own lines): a full hour by default.
The compaction is the compactor's own conversion (``lake_compactor.convert``), run in a child
process so that its peak memory (DuckDB's included, which Python's allocator does not see) is
the child's maximum resident set. Then one query, an hour's records per type (what a dashboard
asks), runs on DuckDB over both forms, and the bytes each form makes Athena scan are counted:
all of every raw object, and of the Parquet file only the column chunks the query reads.
"""

from __future__ import annotations

import functools
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import timing
from bench.report import Compared, Result, Section

QUERY = "SELECT type, count(*) FROM {source} GROUP BY type ORDER BY type"
COLUMNS_READ = ("type",)


def _hour(directory: Path, rate: int, records_per_object: int) -> list[Path]:
    from tributary import json_codec, lake

    total, paths = rate * 3600, list[Path]()
    types = ("device.reading", "device.status", "device.alert")
    for start in range(0, total, records_per_object):
        lines = []
        for n in range(start, min(start + records_per_object, total)):
            second = n // rate
            lines.append(
                json_codec.dumps_line(
                    {
                        "id": f"sensor-{n % 1000:05d}-{n:09d}",
                        "type": types[n % 3],
                        "source": f"iot/sensor-{n % 1000:05d}",
                        "time": f"2026-12-03T10:{second // 60:02d}:{second % 60:02d}.{n % 1000:03d}Z",
                        "payload": {"device_id": f"sensor-{n % 1000:05d}", "temperature_c": 15 + n % 200 / 10},
                        "ingest_time": f"2026-12-03T10:{second // 60:02d}:{second % 60:02d}.500Z",
                        "shard_id": f"shardId-00000000000{n % 4}",
                        "sequence_number": f"{49_600_000_000_000_000_000_000_000_000_000_000_000_000_000 + n}",
                    }
                )
            )
        path = directory / f"{len(paths):06d}.ndjson.gz"
        path.write_bytes(lake.gzip_bytes(b"".join(lines)))
        paths.append(path)
    return paths


_CHILD = """
import json, resource, sys, time
from pathlib import Path
from lake_compactor import convert
from tributary import lake_catalog
inputs, out, memory = [Path(p) for p in json.loads(sys.argv[1])], Path(sys.argv[2]), sys.argv[3]
connection = convert.connect(memory, out.parent / "duckdb-tmp")
started = time.perf_counter()
done = convert.to_parquet(connection, lake_catalog.load().tables["events"].columns, inputs, out)
seconds = time.perf_counter() - started
print(json.dumps({"seconds": seconds, "records": done.records,
                  "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _compact(inputs: list[Path], out: Path, memory_limit: str) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-c", _CHILD, json.dumps([str(p) for p in inputs]), str(out), memory_limit],
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def _run(connection: Any, sql: str) -> None:
    connection.execute(sql).fetchall()


def run(repeats: int, rate: int = 1000, records_per_object: int = 3300, memory_limit: str = "2000MB") -> Section:
    """A full hour at ``rate`` records/s, compacted; then the hour's query on both forms."""
    import duckdb

    section = Section("8. Lake query: one hour compacted to Parquet against raw NDJSON")
    with tempfile.TemporaryDirectory(prefix="bench-lake-") as tmp:
        directory = Path(tmp)
        raw = _hour(directory, rate, records_per_object)
        parquet = directory / "hour.parquet"
        compaction = _compact(raw, parquet, memory_limit)
        raw_bytes = sum(p.stat().st_size for p in raw)
        connection = duckdb.connect()
        connection.execute("SET enable_progress_bar = false")
        chunks = connection.execute(
            "SELECT path_in_schema, sum(total_compressed_size) FROM parquet_metadata(?) GROUP BY 1", [str(parquet)]
        ).fetchall()
        scanned_parquet = sum(size for column, size in chunks if column in COLUMNS_READ)
        files = "[" + ", ".join(f"'{p}'" for p in raw) + "]"
        sources = {
            "raw": f"read_json({files}, format = 'newline_delimited', compression = 'gzip', "
            "columns = {'type': 'VARCHAR'})",
            "parquet": f"read_parquet('{parquet}')",
        }
        answers = {name: connection.execute(QUERY.format(source=s)).fetchall() for name, s in sources.items()}
        assert answers["raw"] == answers["parquet"], answers
        samples = timing.interleaved(
            {name: functools.partial(_run, connection, QUERY.format(source=s)) for name, s in sources.items()},
            repeats,
            clock=time.perf_counter_ns,  # DuckDB runs on every core: wall time, not one process's CPU
        )
        parquet_bytes = parquet.stat().st_size
    seconds = {name: timing.median(values) / 1e9 for name, values in samples.items()}
    records = rate * 3600
    section.results += [
        Result(
            "Bytes a one-hour query scans, Parquet / raw NDJSON",
            scanned_parquet / raw_bytes,
            "ratio",
            (
                Compared("raw NDJSON (every object, all of it)", raw_bytes, "B"),
                Compared("Parquet (the column chunks the query reads)", scanned_parquet, "B"),
            ),
            goal="<= 0.2",
        ),
        Result(
            "Bytes the hour takes, Parquet / raw NDJSON (a query of every column scans this)",
            parquet_bytes / raw_bytes,
            "ratio",
            (Compared("raw NDJSON", raw_bytes, "B"), Compared("Parquet, zstd", parquet_bytes, "B")),
            goal="<= 0.2",
        ),
        Result(
            "Objects a one-hour query reads, Parquet / raw",
            1 / len(raw),
            "ratio",
            (Compared("raw objects", len(raw), "objects"), Compared("Parquet files", 1, "files")),
        ),
        Result(
            "DuckDB query time on the hour, Parquet / raw",
            seconds["parquet"] / seconds["raw"],
            "ratio",
            (Compared("raw", seconds["raw"], "s"), Compared("Parquet", seconds["parquet"], "s")),
        ),
        Result(
            "Compaction of the hour: seconds",
            compaction["seconds"],
            "s",
            (Compared("records", records, "records"), Compared("peak resident memory", compaction["max_rss_mb"], "MB")),
            note=f"lake_compactor.convert in a child process, DuckDB memory_limit {memory_limit}",
        ),
    ]
    section.detail = {
        "rate_records_per_s": rate,
        "records": records,
        "raw_objects": len(raw),
        "raw_bytes": raw_bytes,
        "parquet_bytes": parquet_bytes,
        "parquet_scanned_bytes": scanned_parquet,
        "compaction": compaction,
        "query": QUERY,
        "self_max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    return section
