"""SQL over the embedded AWS's lake, with DuckDB playing Athena.

moto has no query engine, so locally DuckDB reads the lake: the objects are copied out of the
embedded AWS with boto3, and each table of the Glue catalog becomes a DuckDB view over them,
from the same description Terraform builds the catalog from (``lake_tables.json``: columns,
partitions as ``dt=``/``hour=`` directories, Athena's ``"$path"`` as the object's S3 URI). The
``events`` view is the very SQL Terraform gives Athena (``terraform/sql/events_view.sql``), and
the saved queries are the named queries' files. The README ("Querying the lake") lists where
Athena and DuckDB differ.

    python -m local.query "SELECT dt, hour, count(*) FROM events GROUP BY 1, 2"   # make query SQL=...
    python -m local.query --saved records_per_hour

It reaches the stack ``make local KEEP=1`` leaves running (``dist/local/endpoint.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3

from stack.topology import TEMPLATE_VARIABLE
from tributary import lake, lake_catalog
from tributary.lake_catalog import DUCKDB_TYPES, Catalog, Column, Table, duckdb_read_columns, duckdb_select, sql_literal

ROOT = Path(__file__).resolve().parent.parent
SQL_DIR = ROOT / "terraform" / "sql"
ENDPOINT_FILE = ROOT / "dist" / "local" / "endpoint.json"


def statement(path: Path) -> str:
    """A SQL file without its comment lines, as Terraform passes it to Athena."""
    return "\n".join(line for line in path.read_text(encoding="utf-8").split("\n") if not line.strip().startswith("--"))


def view_sql(name: str, table: Table) -> str:
    """The view's SELECT, rendered as Terraform's templatestring renders it (``${name}`` only)."""
    values = {
        "columns": ", ".join(f'"{c.name}"' for c in table.columns),
        "raw": f"{name}_raw",
        "compacted": f"{name}_compacted",
        "log": f"{name}_compaction_log",
    }
    return TEMPLATE_VARIABLE.sub(lambda m: values[m.group(1)], statement(SQL_DIR / "events_view.sql"))


def saved_queries() -> dict[str, str]:
    return {path.stem: statement(path) for path in sorted((SQL_DIR / "queries").glob("*.sql"))}


@dataclass(frozen=True, slots=True)
class Result:
    columns: list[str]
    rows: list[tuple[Any, ...]]


def _empty(columns: tuple[Column, ...], partition_keys: tuple[Column, ...]) -> str:
    """A view with the table's columns and no rows (a prefix with no object yet)."""
    typed = [f'CAST(NULL AS {DUCKDB_TYPES[c.type]}) AS "{c.name}"' for c in (*columns, *partition_keys)]
    return f'SELECT {", ".join(typed)}, CAST(NULL AS VARCHAR) AS "$path" WHERE false'


class Lake:
    """The lake bucket's tables, copied out of an S3 endpoint and queried with DuckDB."""

    def __init__(self, s3: Any, bucket: str, catalog: Catalog | None = None, workdir: Path | None = None) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.catalog = catalog or lake_catalog.load()
        self._own = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="tributary-lake-"))
        self.objects_read = 0
        self.bytes_read = 0

    def close(self) -> None:
        if self._own:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Lake:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _prefixes(self) -> Iterator[str]:
        for table in self.catalog.tables.values():
            yield table.prefix
            if table.compacted_prefix and table.log_prefix:
                yield table.compacted_prefix
                yield table.log_prefix

    def sync(self) -> None:
        """Make the local copy the bucket's current objects under the tables' prefixes."""
        shutil.rmtree(self.workdir / "s3", ignore_errors=True)
        root = self.workdir / "s3"
        for prefix in self._prefixes():
            for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix + "/"):
                for item in page.get("Contents", []):
                    path = root / item["Key"]
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(self.s3.get_object(Bucket=self.bucket, Key=item["Key"])["Body"].read())

    def connect(self, at: datetime | None = None) -> Any:
        """A DuckDB connection with a view per catalog table. ``at`` fixes the time the events
        view's ``current_timestamp`` reads (a query starting then), for tests of the rule."""
        import duckdb

        connection = duckdb.connect()
        connection.execute("SET TimeZone = 'UTC'")
        connection.execute("SET enable_progress_bar = false")
        root = self.workdir / "s3"
        for name, table in self.catalog.tables.items():
            compacted = table.compacted_prefix is not None
            raw_name = f"{name}_raw" if compacted else name
            raw_suffixes = tuple(suffix.lstrip(".") for suffix in lake.SUFFIXES)  # each object's codec by its key
            self._view(connection, raw_name, root / table.prefix, raw_suffixes, table.columns, json_lines=True)
            if compacted:
                compacted_prefix, log_prefix = table.compaction()
                self._view(connection, f"{name}_compacted", root / compacted_prefix, ("parquet",), table.columns)
                self._view(
                    connection,
                    f"{name}_compaction_log",
                    root / log_prefix,
                    ("ndjson",),
                    self.catalog.log_columns,
                    json_lines=True,
                )
                sql = view_sql(name, table)
                if at is not None:
                    sql = sql.replace("current_timestamp", f"TIMESTAMPTZ {sql_literal(at.astimezone(UTC).isoformat())}")
                connection.execute(f'CREATE VIEW "{name}" AS {sql}')
        return connection

    def _view(
        self,
        connection: Any,
        name: str,
        base: Path,
        suffixes: tuple[str, ...],
        columns: tuple[Column, ...],
        json_lines: bool = False,
    ) -> None:
        files = sorted({path for suffix in suffixes for path in base.glob(f"dt=*/hour=*/*.{suffix}")})
        if not files:
            connection.execute(f'CREATE VIEW "{name}" AS {_empty(columns, self.catalog.partition_keys)}')
            return
        glob = "[" + ", ".join(sql_literal(str(path)) for path in files) + "]"
        hive = "hive_partitioning = true, hive_types = {'dt': 'VARCHAR', 'hour': 'VARCHAR'}, filename = '__file'"
        if json_lines:
            source = (
                f"read_json({glob}, format = 'newline_delimited', columns = {duckdb_read_columns(columns)}, {hive}, "
                "maximum_object_size = 67108864)"
            )
        else:
            source = f"read_parquet({glob}, {hive})"
        root = sql_literal(str(self.workdir / "s3") + "/")
        path = f"{sql_literal(f's3://{self.bucket}/')} || replace(__file, {root}, '')"
        partitions = ", ".join(f'"{c.name}"' for c in self.catalog.partition_keys)
        connection.execute(
            f'CREATE VIEW "{name}" AS SELECT {duckdb_select(columns)}, {partitions}, {path} AS "$path" FROM {source}'
        )
        self.objects_read += len(files)
        self.bytes_read += sum(f.stat().st_size for f in files)

    def query(self, sql: str, at: datetime | None = None) -> Result:
        connection = self.connect(at)
        try:
            cursor = connection.execute(sql)
            return Result([d[0] for d in cursor.description], cursor.fetchall())
        finally:
            connection.close()


def _table(result: Result) -> str:
    widths = [
        max(len(str(v)) for v in [name, *(row[i] for row in result.rows)]) for i, name in enumerate(result.columns)
    ]
    lines = ["  ".join(str(name).ljust(w) for name, w in zip(result.columns, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)) for row in result.rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.query", description=__doc__.split("\n\n")[0])
    parser.add_argument("sql", nargs="?", help="the SQL to run (the tables and views of the catalog)")
    parser.add_argument("--saved", choices=sorted(saved_queries()), help="run one of the named queries instead")
    args = parser.parse_args(argv)
    if bool(args.sql) == bool(args.saved):
        parser.error('give SQL (make query SQL="...") or --saved NAME')
    if not ENDPOINT_FILE.is_file():
        print("no local stack is running: start one with `make local KEEP=1`, then query it from another shell")
        return 2
    kept = json.loads(ENDPOINT_FILE.read_text())
    os.environ.update(kept["environment"])
    s3 = boto3.session.Session().client("s3")
    with Lake(s3, kept["lake_bucket"]) as lake:
        lake.sync()
        try:
            result = lake.query(args.sql or saved_queries()[args.saved])
        except Exception as exc:  # DuckDB's own message says what is wrong with the SQL
            print(f"query failed: {exc}", file=sys.stderr)
            return 1
    print(_table(result))
    print(f"({len(result.rows)} rows; {lake.objects_read} objects, {lake.bytes_read} bytes read)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
