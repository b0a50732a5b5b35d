"""NDJSON objects (gzip or zstd, by their names' endings) → one Parquet file (zstd), with DuckDB.

DuckDB reads the stream processor's lines with the table's declared columns (``payload``, any
JSON value, kept as its JSON text) and writes Parquet natively; nothing here parses a line in
Python. It counts each input file's lines as it reads them, so the run can check that the
Parquet file holds exactly the records of the objects it replaces.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tributary.lake_catalog import Column, duckdb_read_columns, duckdb_select, sql_identifier, sql_literal


class ConvertError(RuntimeError):
    """DuckDB refused the input or could not write the output; the run stops before committing."""


@dataclass(frozen=True, slots=True)
class Converted:
    path: Path
    records: int
    per_input: dict[str, int]  # input file path → its records


def connect(memory_limit: str, temp_dir: Path) -> Any:
    import duckdb

    temp_dir.mkdir(parents=True, exist_ok=True)
    connection = duckdb.connect(
        config={
            "memory_limit": memory_limit,
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
        f"columns = {duckdb_read_columns(columns)}, filename = '__input', maximum_object_size = 67108864)"
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
