"""One hour of the lake: read its state, compact what has settled, commit, collect garbage.

A run over an hour is four steps, each safe to stop after (the README's "Exactly once"):

1. **Read** the hour: its raw objects, its Parquet files and its compaction log.
2. **Convert** the raw objects no log line replaces and nothing can rewrite any more (last
   written ``settle_s`` ago) into Parquet files, each uploaded under a name no other run uses.
3. **Commit**: one new log object, generation ``g + 1``, written only if no run wrote it first
   (``If-None-Match: *``), adding the Parquet files and replacing the raw objects, from
   ``effective_after_s`` on. This is the only step queries see.
4. **Collect**: delete what no query can read any more: raw objects replaced by a line that
   applied ``delete_after_s`` ago (and still as the run read them), and Parquet files no line
   adds, written ``delete_after_s`` ago (those of runs that stopped before committing).
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from tributary import lake, lake_catalog, logs
from tributary.lake_catalog import ADD, REPLACE, LogLine, Table

from .convert import Converted, ConvertError
from .settings import Settings

log = logs.get_logger("lake_compactor")
PARQUET_CONTENT_TYPE = "application/vnd.apache.parquet"

Convert = Callable[[Sequence[Path], Path], Converted]


class CommitConflictError(RuntimeError):
    """Another run committed this hour's next generation first; this run's files are unused."""


@dataclass(frozen=True, slots=True)
class StoredObject:
    key: str
    etag: str
    size: int
    last_modified: datetime


@dataclass(slots=True)
class Hour:
    """What a run read of one hour."""

    dt: str
    hour: str
    raw: list[StoredObject] = field(default_factory=list)
    parquet: list[StoredObject] = field(default_factory=list)
    log: list[LogLine] = field(default_factory=list)
    generations: set[int] = field(default_factory=set)

    @property
    def next_generation(self) -> int:
        return max(self.generations, default=0) + 1


def hours_to_visit(now: datetime, settings: Settings) -> list[tuple[str, str]]:
    """Each hour that ended at least ``lateness_s`` ago, back ``lookback_hours``, oldest first."""
    closed = now - timedelta(seconds=settings.lateness_s)
    last = closed.replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    return [
        ((last - timedelta(hours=n)).strftime("%Y-%m-%d"), (last - timedelta(hours=n)).strftime("%H"))
        for n in reversed(range(settings.lookback_hours))
    ]


def hours_with_objects(
    s3: Any, settings: Settings, table: Table, hours: list[tuple[str, str]]
) -> list[tuple[str, str]]:
    """The hours of ``hours`` that hold anything under the table's prefixes (raw objects,
    Parquet files or log objects), found with one delimited listing per prefix and day
    instead of three listings per hour."""
    found: set[tuple[str, str]] = set()
    for day in sorted({dt for dt, _ in hours}):
        for prefix in (table.prefix, *table.compaction()):
            paginator = s3.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=settings.bucket, Prefix=f"{prefix}/dt={day}/", Delimiter="/"):
                for common in page.get("CommonPrefixes", []):
                    name = common["Prefix"].rstrip("/").rsplit("/", 1)[-1]
                    if name.startswith("hour="):
                        found.add((day, name.removeprefix("hour=")))
    return [hour for hour in hours if hour in found]


def _objects(s3: Any, bucket: str, prefix: str) -> Iterator[StoredObject]:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            yield StoredObject(item["Key"], item["ETag"], item["Size"], item["LastModified"])


def read_hour(s3: Any, settings: Settings, table: Table, dt: str, hour: str) -> Hour:
    compacted_prefix, log_prefix = table.compaction()
    state = Hour(dt, hour)
    state.raw = [
        o
        for o in _objects(s3, settings.bucket, lake_catalog.hour_prefix(table.prefix, dt, hour))
        if lake.codec_of(o.key) is not None
    ]
    state.parquet = list(_objects(s3, settings.bucket, lake_catalog.hour_prefix(compacted_prefix, dt, hour)))
    for entry in _objects(s3, settings.bucket, lake_catalog.hour_prefix(log_prefix, dt, hour)):
        generation = lake_catalog.generation_of(entry.key)
        if generation is None:
            continue
        body = s3.get_object(Bucket=settings.bucket, Key=entry.key)["Body"].read()
        state.log += lake_catalog.decode_log(body)
        state.generations.add(generation)
    return state


def _uri(settings: Settings, key: str) -> str:
    return lake_catalog.s3_uri(settings.bucket, key)


def pending(state: Hour, now: datetime, settings: Settings) -> list[StoredObject]:
    """The raw objects to compact: replaced by no line (applied or not), under neither codec's
    ending, and settled."""
    replaced = {lake.stem(line.file) for line in state.log if line.action == REPLACE}
    settled = now - timedelta(seconds=settings.settle_s)
    return [o for o in state.raw if lake.stem(_uri(settings, o.key)) not in replaced and o.last_modified <= settled]


def conflicts(state: Hour, settings: Settings) -> list[str]:
    """Raw objects a line replaces that were written again since (which the settle time is
    there to prevent): their records may now be counted twice or not at all. Written again
    includes under another codec's ending: after a change of ``LAKE_CODEC`` the processor's
    retry puts ``<stem>.ndjson.zst`` and deletes the ``<stem>.ndjson.gz`` a line replaced."""
    replaced: dict[str, set[str]] = {}
    for line in state.log:
        if line.action == REPLACE:
            replaced.setdefault(line.file, set()).add(line.etag)
    stems = {lake.stem(file) for file in replaced}
    found = []
    for o in state.raw:
        uri = _uri(settings, o.key)
        etags = replaced.get(uri)
        if (etags is not None and etags != {o.etag}) or (etags is None and lake.stem(uri) in stems):
            found.append(uri)
    return sorted(found)


def input_budget(settings: Settings, workdir: Path) -> int:
    """The bytes of raw objects one Parquet file is made from: ``MAX_INPUT_BYTES``, or a third of
    the free space in ``workdir`` if that is less. The inputs, the Parquet file and DuckDB's spill
    share the function's ephemeral storage (512 MB unless ``ephemeral_storage_mb`` says more)."""
    return max(1, min(settings.max_input_bytes, shutil.disk_usage(workdir).free // 3))


def input_batches(objects: Sequence[StoredObject], max_bytes: int) -> list[list[StoredObject]]:
    batches: list[list[StoredObject]] = []
    size = 0
    for o in sorted(objects, key=lambda o: o.key):
        if not batches or (size + o.size > max_bytes and batches[-1]):
            batches.append([])
            size = 0
        batches[-1].append(o)
        size += o.size
    return batches


@dataclass(slots=True)
class Compacted:
    """What steps 2 and 3 did: the committed lines, and the objects DuckDB could not read."""

    lines: list[LogLine] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)


def compact(
    s3: Any,
    settings: Settings,
    table: Table,
    state: Hour,
    objects: Sequence[StoredObject],
    convert: Convert,
    workdir: Path,
    now: Callable[[], datetime],
) -> Compacted:
    """Steps 2 and 3 for ``objects`` (CommitConflictError if another run committed the generation
    first). An object DuckDB cannot read stays raw and is reported; the others go on."""
    generation, run = state.next_generation, uuid.uuid4().hex[:12]
    prefix = lake_catalog.hour_prefix(table.compaction()[0], state.dt, state.hour)
    done = Compacted()
    added: list[tuple[str, str, int]] = []
    replaced: list[tuple[StoredObject, int]] = []
    parts = input_batches(objects, input_budget(settings, workdir))
    while parts:
        batch = parts.pop(0)
        inputs = _download(s3, settings, batch, workdir)
        out = workdir / "out.parquet"
        try:
            converted = convert(inputs, out)
        except ConvertError as exc:
            if len(batch) == 1:
                log.error("unreadable lake object", extra={"key": batch[0].key, "error": str(exc)})
                done.unreadable.append(batch[0].key)
            else:  # find the object DuckDB refuses by halves; the rest is compacted
                parts[:0] = [batch[: len(batch) // 2], batch[len(batch) // 2 :]]
            continue
        finally:
            for path in inputs:
                path.unlink(missing_ok=True)
        key = f"{prefix}{generation:08d}-{run}-{len(added):03d}.parquet"
        with out.open("rb") as body:
            put = s3.put_object(Bucket=settings.bucket, Key=key, Body=body, ContentType=PARQUET_CONTENT_TYPE)
        out.unlink()
        added.append((key, put["ETag"], converted.records))
        replaced += [(o, converted.per_input.get(str(p), 0)) for o, p in zip(batch, inputs, strict=True)]
    if not added:
        return done
    effective = lake_catalog.stamp(now() + timedelta(seconds=settings.effective_after_s))
    lines = [LogLine(generation, ADD, _uri(settings, key), etag, records, effective) for key, etag, records in added]
    lines += [LogLine(generation, REPLACE, _uri(settings, o.key), o.etag, n, effective) for o, n in replaced]
    _commit(s3, settings, table, state, generation, lines)
    done.lines = lines
    return done


def _download(s3: Any, settings: Settings, batch: Sequence[StoredObject], workdir: Path) -> list[Path]:
    """Each object as the run listed it (If-Match: a rewrite since then fails the hour's run)."""
    inputs: list[Path] = []
    for o in batch:
        # The object's own ending (.ndjson.gz or .ndjson.zst): DuckDB picks the decompressor by it.
        path = workdir / f"{len(inputs):06d}{o.key.removeprefix(lake.stem(o.key))}"
        response = s3.get_object(Bucket=settings.bucket, Key=o.key, IfMatch=o.etag)
        path.write_bytes(response["Body"].read())
        inputs.append(path)
    return inputs


def _commit(s3: Any, settings: Settings, table: Table, state: Hour, generation: int, lines: list[LogLine]) -> None:
    try:
        s3.put_object(
            Bucket=settings.bucket,
            Key=lake_catalog.log_key(table.compaction()[1], state.dt, state.hour, generation),
            Body=lake_catalog.encode_log(lines),
            ContentType="application/x-ndjson",
            IfNoneMatch="*",
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("PreconditionFailed", "ConditionalRequestConflict"):
            raise CommitConflictError(
                f"{state.dt} {state.hour}: another run committed generation {generation}"
            ) from exc
        raise


@dataclass(frozen=True, slots=True)
class Collected:
    raw: int  # replaced raw objects asked to be deleted
    parquet: int  # unused Parquet files asked to be deleted
    failed: int  # deletes S3 refused (tried again by the next run)


def collect(s3: Any, settings: Settings, state: Hour, now: datetime) -> Collected:
    """Step 4: delete what no query reads any more."""
    horizon = now - timedelta(seconds=settings.delete_after_s)
    current = {_uri(settings, o.key): o for o in state.raw}
    old_raw = {
        line.file
        for line in state.log
        if line.action == REPLACE
        and line.applies(horizon)
        and line.file in current
        and current[line.file].etag == line.etag
    }
    added = {line.file for line in state.log if line.action == ADD}
    unused = [o.key for o in state.parquet if _uri(settings, o.key) not in added and o.last_modified <= horizon]
    raw_keys = [lake_catalog.key_of(uri, settings.bucket) for uri in sorted(old_raw)]
    failed = 0
    for keys in (raw_keys, unused):
        for start in range(0, len(keys), 1000):
            chunk = keys[start : start + 1000]
            response = s3.delete_objects(
                Bucket=settings.bucket, Delete={"Objects": [{"Key": k} for k in chunk], "Quiet": True}
            )
            for error in response.get("Errors", []):  # left for the next run, which tries again
                failed += 1
                log.warning("could not delete", extra={"key": error.get("Key"), "code": error.get("Code")})
    return Collected(len(raw_keys), len(unused), failed)
