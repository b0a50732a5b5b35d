"""The lake as tables: what ``lake_tables.json`` declares, and the compaction log.

Terraform builds the Glue catalog from ``lake_tables.json``; the lake compactor and the local
query engine read the same file, so the three never disagree about a column.

An hour of ``events`` is raw gzip NDJSON objects until the compactor rewrites them into Parquet.
Which side a query reads is decided by the hour's compaction log: immutable objects
``<log_prefix>/dt=D/hour=H/<generation>.ndjson``, each written once (a conditional put), whose
lines say which Parquet files a run added and which raw objects they replace. A line applies
to a query that starts at or after its ``effective_at``, a margin after the line was written:
a query that starts before it reads the hour as if the run had not happened, and a query that
starts after it started after the write and so reads the line, on both sides of the view. The
compactor's README proves it and lists the failure cases.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

TABLES_FILE = Path(__file__).with_name("lake_tables.json")
ADD = "add"
REPLACE = "replace"
ACTIONS = (ADD, REPLACE)
TIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: str
    comment: str


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    comment: str
    prefix: str
    columns: tuple[Column, ...]
    compacted_prefix: str | None = None
    log_prefix: str | None = None
    # The order of a compacted file's rows: a query that filters on these reads fewer row groups.
    sort_by: tuple[str, ...] = ()

    def compaction(self) -> tuple[str, str]:
        """The Parquet prefix and the log prefix of a table that is compacted."""
        if self.compacted_prefix is None or self.log_prefix is None:
            raise ValueError(f"the {self.name} table is not compacted (lake_tables.json)")
        return self.compacted_prefix, self.log_prefix


@dataclass(frozen=True, slots=True)
class Catalog:
    tables: dict[str, Table]
    partition_keys: tuple[Column, ...]
    log_columns: tuple[Column, ...]


def _columns(raw: Iterable[dict[str, str]]) -> tuple[Column, ...]:
    return tuple(Column(c["name"], c["type"], c["comment"]) for c in raw)


def load(path: Path = TABLES_FILE) -> Catalog:
    """The tables ``lake_tables.json`` declares."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    tables = {
        name: Table(
            name,
            spec["comment"],
            spec["prefix"],
            _columns(spec["columns"]),
            spec.get("compacted_prefix"),
            spec.get("log_prefix"),
            tuple(spec.get("sort_by", ())),
        )
        for name, spec in raw["tables"].items()
    }
    for table in tables.values():
        unknown = sorted(set(table.sort_by) - {c.name for c in table.columns})
        if unknown:
            raise ValueError(f"{path}: the {table.name} table sorts by columns it does not have: {unknown}")
    return Catalog(tables, _columns(raw["partition_keys"]), _columns(raw["compaction_log_columns"]))


def hour_prefix(prefix: str, dt: str, hour: str) -> str:
    """``<prefix>/dt=YYYY-MM-DD/hour=HH/``, the layout the stream processor writes."""
    return f"{prefix}/dt={dt}/hour={hour}/"


def log_key(log_prefix: str, dt: str, hour: str, generation: int) -> str:
    return f"{hour_prefix(log_prefix, dt, hour)}{generation:08d}.ndjson"


def generation_of(key: str) -> int | None:
    """The generation a log object's key names, or None for any other object."""
    name = key.rsplit("/", 1)[-1]
    stem = name.removesuffix(".ndjson")
    return int(stem) if stem != name and len(stem) == 8 and stem.isdigit() else None


def s3_uri(bucket: str, key: str) -> str:
    """How Athena's ``"$path"`` names an object."""
    return f"s3://{bucket}/{key}"


def key_of(uri: str, bucket: str) -> str:
    prefix = f"s3://{bucket}/"
    if not uri.startswith(prefix):
        raise ValueError(f"{uri} is not in s3://{bucket}/")
    return uri[len(prefix) :]


def stamp(moment: datetime) -> str:
    """``effective_at``: UTC with milliseconds, a form Athena and DuckDB both cast to timestamp."""
    return moment.astimezone(UTC).strftime(TIME_FORMAT)[:-3]


def parse_stamp(text: str) -> datetime:
    return datetime.strptime(text + "000", TIME_FORMAT).replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class LogLine:
    """One line of an hour's compaction log."""

    generation: int
    action: str
    file: str
    etag: str
    records: int
    effective_at: str

    def to_json(self) -> dict[str, Any]:
        return {
            "generation": self.generation,
            "action": self.action,
            "file": self.file,
            "etag": self.etag,
            "records": self.records,
            "effective_at": self.effective_at,
        }

    @classmethod
    def from_json(cls, raw: Any) -> LogLine:
        if not isinstance(raw, dict):
            raise ValueError("a compaction log line is a JSON object")
        line = cls(
            int(raw["generation"]),
            str(raw["action"]),
            str(raw["file"]),
            str(raw["etag"]),
            int(raw["records"]),
            str(raw["effective_at"]),
        )
        if line.action not in ACTIONS:
            raise ValueError(f"unknown compaction log action {line.action!r}")
        parse_stamp(line.effective_at)
        return line

    def applies(self, query_start: datetime) -> bool:
        """Whether a query that started at ``query_start`` applies this line (the view's rule)."""
        return parse_stamp(self.effective_at) <= query_start


def encode_log(lines: Iterable[LogLine]) -> bytes:
    return b"".join(json.dumps(line.to_json(), sort_keys=True).encode("utf-8") + b"\n" for line in lines)


def decode_log(data: bytes) -> list[LogLine]:
    return [LogLine.from_json(json.loads(text)) for text in data.decode("utf-8").splitlines() if text.strip()]


@dataclass(frozen=True, slots=True)
class Visible:
    """What a query reads of one hour: the Parquet files and the raw objects."""

    parquet: frozenset[str]
    raw: frozenset[str]


def visible(lines: Iterable[LogLine], parquet: Iterable[str], raw: Iterable[str], query_start: datetime) -> Visible:
    """The view's rule in Python (``terraform/sql/events_view.sql`` is the same rule in SQL): a
    Parquet file counts when a line that applies adds it; a raw object counts unless a line
    that applies replaces it."""
    applied = [line for line in lines if line.applies(query_start)]
    added = {line.file for line in applied if line.action == ADD}
    replaced = {line.file for line in applied if line.action == REPLACE}
    return Visible(frozenset(p for p in parquet if p in added), frozenset(r for r in raw if r not in replaced))


# --- the tables as DuckDB reads them (the compactor and the local query engine) ---------------

DUCKDB_TYPES = {"string": "VARCHAR", "bigint": "BIGINT", "int": "INTEGER", "double": "DOUBLE", "boolean": "BOOLEAN"}


def sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def sql_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def duckdb_read_columns(columns: Iterable[Column]) -> str:
    """read_json's ``columns``: the payload as JSON (any value), the rest as declared."""
    kinds = {c.name: "JSON" if c.name == "payload" else DUCKDB_TYPES[c.type] for c in columns}
    return "{" + ", ".join(f"{sql_literal(name)}: {sql_literal(kind)}" for name, kind in kinds.items()) + "}"


def duckdb_select(columns: Iterable[Column]) -> str:
    """The declared columns, the payload as its JSON text (a string column, as in the catalog)."""
    return ", ".join(
        f'CAST("{c.name}" AS VARCHAR) AS "{c.name}"' if c.name == "payload" else f'"{c.name}"' for c in columns
    )
