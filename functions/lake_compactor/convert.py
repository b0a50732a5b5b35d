"""NDJSON objects (gzip or zstd, by their names' endings) → one Parquet file (zstd), with DuckDB.

DuckDB reads the stream processor's lines with the table's declared columns (``payload``, any
JSON value, kept as its JSON text) and writes Parquet natively; nothing here parses a line in
Python. It counts each input file's lines as it reads them, so the run can check that the
Parquet file holds exactly the records of the objects it replaces.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tributary.lake_catalog import Column, duckdb_read_columns, duckdb_select, sql_identifier, sql_literal

# The longest line DuckDB reads: a quarantined record of Kinesis's largest size, base64, fits.
MAX_OBJECT_BYTES = 64 * 1024 * 1024
# DuckDB's JSON reader allocates buffers of twice that (128 MiB) per thread. Two threads at
# 500 MB ran out of memory on three files of 15 lines; two at 768 MiB and three at 1200 MB
# converted 40 such files every time. So each thread gets 384 MiB of the limit.
MEMORY_PER_THREAD = 3 * 2 * MAX_OBJECT_BYTES
_UNITS = {"": 1, "B": 1, "BYTES": 1, "KB": 1000, "MB": 1000**2, "GB": 1000**3, "TB": 1000**4}
_UNITS |= {"KIB": 1024, "MIB": 1024**2, "GIB": 1024**3, "TIB": 1024**4}
_SIZE = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*")


class ConvertError(RuntimeError):
    """DuckDB refused the input or could not write the output; the run stops before committing."""


@dataclass(frozen=True, slots=True)
class Converted:
    path: Path
    records: int
    per_input: dict[str, int]  # input file path → its records


def size_bytes(text: str) -> int | None:
    """A DuckDB memory size ("1500MB", "2 GiB", "0.5GB") in bytes; None if it is not one."""
    match = _SIZE.fullmatch(text)
    unit = _UNITS.get(match.group(2).upper()) if match else None
    return None if match is None or unit is None else int(float(match.group(1)) * unit)


def threads_for(memory_limit: str, cpus: int | None = None) -> int:
    """DuckDB's threads: one per CPU, as many as ``memory_limit`` holds the JSON reader's
    buffers for (``MEMORY_PER_THREAD``), at least one."""
    cpus = cpus if cpus is not None else os.cpu_count() or 1
    limit = size_bytes(memory_limit)
    return cpus if limit is None else max(1, min(cpus, limit // MEMORY_PER_THREAD))


def connect(memory_limit: str, temp_dir: Path) -> Any:
    import duckdb

    temp_dir.mkdir(parents=True, exist_ok=True)
    connection = duckdb.connect(
        config={
            "memory_limit": memory_limit,
            "threads": threads_for(memory_limit),
            "temp_directory": str(temp_dir),
            "preserve_insertion_order": "false",
        }
    )
    connection.execute("SET TimeZone = 'UTC'")
    connection.execute("SET enable_progress_bar = false")  # it would draw on the function's log
    return connection


def to_parquet(
    connection: Any, columns: Sequence[Column], inputs: Sequence[Path], out: Path, sort_by: Sequence[str] = ()
) -> Converted:
    """Write every line of ``inputs`` (NDJSON, ``.ndjson.gz`` or ``.ndjson.zst``) to ``out`` as
    Parquet with zstd, its rows in ``sort_by`` order (the table's, from lake_tables.json)."""
    import duckdb

    if not inputs:
        raise ConvertError("nothing to convert")
    files = "[" + ", ".join(sql_literal(str(p)) for p in inputs) + "]"
    source = (
        f"read_json({files}, format = 'newline_delimited', compression = 'auto_detect', "
        f"columns = {duckdb_read_columns(columns)}, filename = '__input', maximum_object_size = {MAX_OBJECT_BYTES})"
    )
    order = f" ORDER BY {', '.join(sql_identifier(name) for name in sort_by)}" if sort_by else ""
    try:
        connection.execute(f"CREATE OR REPLACE TEMP TABLE lines AS SELECT * FROM {source}")
        per_input = dict(connection.execute("SELECT __input, count(*) FROM lines GROUP BY __input").fetchall())
        connection.execute(
            f"COPY (SELECT {duckdb_select(columns)} FROM lines{order}) "
            f"TO {sql_literal(str(out))} (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880)"
        )
        written = connection.execute(f"SELECT count(*) FROM read_parquet({sql_literal(str(out))})").fetchone()[0]
    except duckdb.Error as exc:
        raise ConvertError(f"DuckDB: {exc}") from exc
    finally:
        connection.execute("DROP TABLE IF EXISTS lines")
    total = sum(per_input.values())
    if written != total:
        raise ConvertError(f"the Parquet file holds {written} records, the input {total}")
    return Converted(out, total, {str(Path(k)): v for k, v in per_input.items()})
