"""The lake as a table: one hour compacted to Parquet against the same hour as raw NDJSON.

The hour is laid out as the stream processor lays it out at ``rate`` records/s: objects of
``records_per_object`` of the processor's own lines (the ~1 KB device readings of
``tributary_cli --synthetic``, each payload made unique), gzip level 6, written by every core.
The compaction is the compactor's own: its input batches (``MAX_INPUT_BYTES``, from the
function's declaration) and conversion (``lake_compactor.convert``, with the table's sort
order and the declared DuckDB memory limit), run in a child process so that its peak memory
(DuckDB's included, which Python's allocator does not see) is the child's maximum resident
set. Its peak use of ``/tmp`` (a batch's inputs and its Parquet file) is set against the
declared ephemeral storage. Then one query, an hour's records per type (what a dashboard
asks), runs on DuckDB over both forms, and the bytes each form makes Athena scan are counted:
all of every raw object, and of the Parquet files only the column chunks the query reads.
"""

from __future__ import annotations

import functools
import json
import multiprocessing
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from bench import timing
from bench.report import Compared, Result, Section

QUERY = "SELECT type, count(*) FROM {source} GROUP BY type ORDER BY type"
COLUMNS_READ = ("type",)
# Readings repeat this far apart (about 200 MB of lines): further than any compressor's window.
DISTINCT_READINGS = 200_000
SHARDS = 4


@functools.cache
def _readings(count: int) -> tuple[dict[str, Any], ...]:
    from tributary import json_codec
    from tributary_cli import synthetic

    generated = synthetic.generate(count, seed=17, devices=1000, start=0.0, spread_seconds=1.0)
    return tuple(json_codec.loads(r.data) for r in generated)


def _line(n: int, rate: int) -> bytes:
    """The processor's line for the hour's ``n``-th record: a reading, its payload made unique."""
    from tributary import json_codec

    readings = _readings(min(DISTINCT_READINGS, rate * 3600))
    reading = readings[n % len(readings)]
    second, milli = divmod(n * 1000 // rate, 1000)
    stamp = f"2026-12-03T10:{second // 60:02d}:{second % 60:02d}.{milli:03d}Z"
    return json_codec.dumps_line(
        {
            **reading,
            "id": f"{reading['payload']['device_id']}-{n:09d}",
            "time": stamp,
            "payload": {**reading["payload"], "reading": n},
            "ingest_time": stamp,
            "shard_id": f"shardId-{n % SHARDS:012d}",
            "sequence_number": f"{49_600_000_000_000_000_000_000_000_000_000_000_000_000_000 + n}",
        }
    )


def _write_objects(job: tuple[str, int, int, int, int]) -> list[str]:
    """Objects ``first`` to ``last`` (exclusive) of the hour, gzip level 6, as the processor writes them."""
    from tributary import lake

    directory, first, last, rate, records_per_object = job
    total, paths = rate * 3600, []
    for index in range(first, last):
        start = index * records_per_object
        body = b"".join(_line(n, rate) for n in range(start, min(start + records_per_object, total)))
        path = Path(directory) / f"{index:06d}.ndjson.gz"
        path.write_bytes(lake.gzip_bytes(body))
        paths.append(str(path))
    return paths


def _hour(directory: Path, rate: int, records_per_object: int) -> list[Path]:
    objects = -(-rate * 3600 // records_per_object)
    workers = max(1, min(os.cpu_count() or 1, objects))
    step = -(-objects // workers)
    jobs = [(str(directory), i, min(i + step, objects), rate, records_per_object) for i in range(0, objects, step)]
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        return [Path(p) for paths in pool.map(_write_objects, jobs) for p in paths]


_CHILD = """
import json, resource, sys, time
from pathlib import Path
from lake_compactor import convert
from tributary import lake_catalog
batches, out_dir, memory = json.loads(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
table = lake_catalog.load().tables["events"]
connection = convert.connect(memory, out_dir / "duckdb-tmp")
started, records, outputs, tmp_peak = time.perf_counter(), 0, [], 0
for n, batch in enumerate(batches):
    inputs = [Path(p) for p in batch]
    out = out_dir / f"{n:03d}.parquet"
    records += convert.to_parquet(connection, table.columns, inputs, out, sort_by=table.sort_by).records
    tmp_peak = max(tmp_peak, sum(p.stat().st_size for p in inputs) + out.stat().st_size)
    outputs.append(str(out))
seconds = time.perf_counter() - started
print(json.dumps({"seconds": seconds, "records": records, "outputs": outputs, "tmp_peak_bytes": tmp_peak,
                  "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _compact(batches: list[list[Path]], out_dir: Path, memory_limit: str) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-c", _CHILD, json.dumps([[str(p) for p in b] for b in batches]), str(out_dir), memory_limit],
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def _batches(paths: list[Path], max_bytes: int) -> list[list[Path]]:
    """The compactor's own batching (``compact.input_batches``) of the hour's objects."""
    from lake_compactor import compact

    stored = [compact.StoredObject(str(p), "", p.stat().st_size, datetime.min) for p in paths]
    by_key = {str(p): p for p in paths}
    return [[by_key[o.key] for o in batch] for batch in compact.input_batches(stored, max_bytes)]


def _run(connection: Any, sql: str) -> None:
    connection.execute(sql).fetchall()


def run(repeats: int, rate: int = 1000, records_per_object: int = 3300) -> Section:
    """A full hour at ``rate`` records/s, compacted as the compactor would; then the hour's
    query on both forms."""
    import duckdb

    from stack import declarations

    spec = declarations.load_all()["lake_compactor"]
    memory_limit, max_input = spec.environment["DUCKDB_MEMORY_LIMIT"], int(spec.environment["MAX_INPUT_BYTES"])
    section = Section("8. Lake query: one hour compacted to Parquet against raw NDJSON")
    with tempfile.TemporaryDirectory(prefix="bench-lake-") as tmp:
        directory = Path(tmp)
        raw = _hour(directory, rate, records_per_object)
        raw_bytes = sum(p.stat().st_size for p in raw)
        out_dir = directory / "compacted"
        out_dir.mkdir()
        batches = _batches(raw, max_input)
        compaction = _compact(batches, out_dir, memory_limit)
        parquet = [Path(p) for p in compaction.pop("outputs")]
        connection = duckdb.connect()
        connection.execute("SET enable_progress_bar = false")
        chunks = connection.execute(
            "SELECT path_in_schema, sum(total_compressed_size) FROM parquet_metadata(?) GROUP BY 1",
            [[str(p) for p in parquet]],
        ).fetchall()
        scanned_parquet = sum(size for column, size in chunks if column in COLUMNS_READ)
        raw_files = "[" + ", ".join(f"'{p}'" for p in raw) + "]"
        parquet_files = "[" + ", ".join(f"'{p}'" for p in parquet) + "]"
        sources = {
            "raw": f"read_json({raw_files}, format = 'newline_delimited', compression = 'gzip', "
            "columns = {'type': 'VARCHAR'})",
            "parquet": f"read_parquet({parquet_files})",
        }
        answers = {name: connection.execute(QUERY.format(source=s)).fetchall() for name, s in sources.items()}
        assert answers["raw"] == answers["parquet"], answers
        assert sum(count for _, count in answers["raw"]) == rate * 3600 == compaction["records"], answers
        samples = timing.interleaved(
            {name: functools.partial(_run, connection, QUERY.format(source=s)) for name, s in sources.items()},
            min(repeats, 3),  # a scan of the raw hour takes most of a minute
            clock=time.perf_counter_ns,  # DuckDB runs on every core: wall time, not one process's CPU
        )
        parquet_bytes = sum(p.stat().st_size for p in parquet)
    seconds = {name: timing.median(values) / 1e9 for name, values in samples.items()}
    records = rate * 3600
    tmp_declared = spec.ephemeral_storage_mb * 1024 * 1024
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
            (Compared("raw NDJSON, gzip 6", raw_bytes, "B"), Compared("Parquet, zstd", parquet_bytes, "B")),
        ),
        Result(
            "Objects a one-hour query reads, Parquet / raw",
            len(parquet) / len(raw),
            "ratio",
            (Compared("raw objects", len(raw), "objects"), Compared("Parquet files", len(parquet), "files")),
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
            goal=f"<= {spec.timeout_s}",
            note=f"lake_compactor.convert in a child process, DuckDB memory_limit {memory_limit}",
        ),
        Result(
            "Compaction of the hour: peak resident memory / the function's memory",
            compaction["max_rss_mb"] / spec.memory_mb,
            "ratio",
            (Compared("declared memory", spec.memory_mb, "MB"),),
            goal="<= 1",
        ),
        Result(
            "Compaction of the hour: peak /tmp (a batch's inputs and its Parquet file) / ephemeral storage",
            compaction["tmp_peak_bytes"] / tmp_declared,
            "ratio",
            (Compared("declared ephemeral storage", spec.ephemeral_storage_mb, "MB"),),
            goal="<= 1",
            note="DuckDB's spill, if any, comes on top: the compactor keeps a third of the free space for the inputs",
        ),
    ]
    section.detail = {
        "rate_records_per_s": rate,
        "records": records,
        "raw_objects": len(raw),
        "raw_bytes": raw_bytes,
        "parquet_files": len(parquet),
        "parquet_bytes": parquet_bytes,
        "parquet_scanned_bytes": scanned_parquet,
        "input_batches": len(batches),
        "max_input_bytes": max_input,
        "compaction": compaction,
        "query": QUERY,
        "self_max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    return section
