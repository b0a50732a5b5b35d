"""Exactly once through compaction, against a model.

Hypothesis interleaves, in any order: batches the stream processor writes (into open and closed
hours, so late records too), the processor rewriting an object it may still rewrite (a trim
after a failed write moves its tail to a new object), compaction runs that die after any
S3 write, two runs committing the same hour, the clock moving, and queries. Each query runs
the events view (the SQL Athena runs) at a start time anywhere in the last day, and must
count every record the lake holds exactly once.

The bucket is an in-memory S3 with the behaviour the protocol relies on, as AWS documents it:
strong read-after-write consistency for reads and lists, ``If-None-Match: *`` refusing a put
over an existing key (412), ``If-Match`` refusing a read of a changed object (412), and
``LastModified`` from the test's clock.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import itertools
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from lake_compactor import compact, handler
from lake_compactor.settings import Settings
from local.query import Lake
from tests.examples import FEW
from tests.lake_writer import BUCKET, envelope, land
from tributary import json_codec, lake, lake_catalog

TABLE = lake_catalog.load().tables["events"]
SETTLE_S, EFFECTIVE_S, DELETE_S = 600, 300, 3600
CONFIG = Settings(
    bucket=BUCKET,
    lateness_s=0,
    settle_s=SETTLE_S,
    lookback_hours=6,
    effective_after_s=EFFECTIVE_S,
    delete_after_s=DELETE_S,
)


class Crash(BaseException):
    """The invocation dies here (timeout, out of memory): nothing after it runs."""


def _precondition_failed(operation: str) -> ClientError:
    return ClientError(
        {
            "Error": {
                "Code": "PreconditionFailed",
                "Message": "At least one of the pre-conditions you specified did not hold",
            },
            "ResponseMetadata": {"HTTPStatusCode": 412},
        },
        operation,
    )


class MemoryS3:
    """The S3 calls the stream processor, the compactor and the query engine make."""

    def __init__(self, clock: Any) -> None:
        self.clock = clock
        self.objects: dict[str, tuple[bytes, str, datetime]] = {}
        self.crash_after: int | None = None  # mutating calls before the process dies

    def _mutate(self) -> None:
        if self.crash_after is not None:
            if self.crash_after == 0:
                self.crash_after = None
                raise Crash
            self.crash_after -= 1

    def put_object(self, Bucket: str, Key: str, Body: Any, IfNoneMatch: str | None = None, **_: Any) -> dict:  # noqa: N803 - boto3's parameter names
        data = Body if isinstance(Body, bytes) else Body.read()
        if IfNoneMatch == "*" and Key in self.objects:
            raise _precondition_failed("PutObject")
        self._mutate()
        etag = '"' + hashlib.md5(data).hexdigest() + '"'
        self.objects[Key] = (data, etag, self.clock())
        return {"ETag": etag}

    def get_object(self, Bucket: str, Key: str, IfMatch: str | None = None) -> dict:  # noqa: N803 - boto3's parameter names
        if Key not in self.objects:
            raise ClientError(
                {"Error": {"Code": "NoSuchKey"}, "ResponseMetadata": {"HTTPStatusCode": 404}}, "GetObject"
            )
        data, etag, _ = self.objects[Key]
        if IfMatch is not None and IfMatch != etag:
            raise _precondition_failed("GetObject")
        return {"Body": io.BytesIO(data), "ETag": etag}

    def delete_objects(self, Bucket: str, Delete: dict) -> dict:  # noqa: N803 - boto3's parameter names
        for item in Delete["Objects"]:
            self._mutate()
            self.objects.pop(item["Key"], None)
        return {}

    def get_paginator(self, name: str) -> Any:
        assert name == "list_objects_v2"
        store = self

        class Paginator:
            def paginate(self, Bucket: str, Prefix: str, Delimiter: str = "") -> list[dict]:  # noqa: N803 - boto3's
                contents, common = [], set()
                for key, (data, etag, modified) in sorted(store.objects.items()):
                    if not key.startswith(Prefix):
                        continue
                    rest = key[len(Prefix) :]
                    if Delimiter and Delimiter in rest:  # S3 rolls keys up to their next delimiter
                        common.add(Prefix + rest[: rest.index(Delimiter) + 1])
                    else:
                        contents.append({"Key": key, "ETag": etag, "Size": len(data), "LastModified": modified})
                return [{"Contents": contents, "CommonPrefixes": [{"Prefix": p} for p in sorted(common)]}]

        return Paginator()


def _ids(data: bytes) -> list[str]:
    return [json_codec.loads(line)["id"] for line in gzip.decompress(data).splitlines() if line]


class Compaction(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = datetime(2026, 12, 3, 12, 0, 30, tzinfo=UTC)
        self.s3 = MemoryS3(lambda: self.now)
        self.counter = itertools.count()
        self.records: Counter[str] = Counter()  # every record the lake holds, once each

    def clock(self) -> datetime:
        return self.now

    def hour_start(self, hours_ago: int) -> datetime:
        return self.now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=hours_ago)

    @rule(hours_ago=st.integers(0, 3), count=st.integers(1, 6), shard=st.sampled_from(["0", "1"]))
    def write(self, hours_ago: int, count: int, shard: str) -> None:
        """A batch whose records' event time is in an hour up to 3 hours back (late ones too)."""
        start = self.hour_start(hours_ago)
        names = [f"r{next(self.counter)}" for _ in range(count)]
        times = [(start + timedelta(minutes=n % 60)).strftime("%Y-%m-%dT%H:%M:%SZ") for n in range(count)]
        land(
            self.s3,
            [envelope(name, time) for name, time in zip(names, times, strict=True)],
            f"shardId-00000000000{shard}",
        )
        self.records.update(names)

    @precondition(lambda self: self._young())
    @rule(data=st.data())
    def processor_rewrites(self, data: st.DataObject) -> None:
        """A trim: an object the processor may still rewrite keeps its head, its tail moves to a new object."""
        key = data.draw(st.sampled_from(self._young()))
        raw, _, _ = self.s3.objects[key]
        lines = [line + b"\n" for line in gzip.decompress(raw).splitlines() if line]
        if len(lines) < 2:
            return
        cut = data.draw(st.integers(1, len(lines) - 1))
        self.s3.put_object(Bucket=BUCKET, Key=key, Body=lake.gzip_bytes(b"".join(lines[:cut])))
        tail = key.replace(".ndjson.gz", f"-{next(self.counter)}.ndjson.gz")
        self.s3.put_object(Bucket=BUCKET, Key=tail, Body=lake.gzip_bytes(b"".join(lines[cut:])))

    def _young(self) -> list[str]:
        settled = self.now - timedelta(seconds=SETTLE_S)
        return [
            key for key, (_, _, modified) in self.s3.objects.items() if key.startswith("events/") and modified > settled
        ]

    @rule(crash_after=st.none() | st.integers(0, 6))
    def compaction_run(self, crash_after: int | None) -> None:
        """A scheduled run, dying after ``crash_after`` more S3 writes (or running to the end)."""
        self.s3.crash_after = crash_after
        try:
            handler.run(self.s3, CONFIG, TABLE, self.clock)
        except Crash:
            pass
        finally:
            self.s3.crash_after = None

    @rule(hours_ago=st.integers(1, 3))
    def two_runs_at_once(self, hours_ago: int) -> None:
        start = self.hour_start(hours_ago)
        dt, hour = start.strftime("%Y-%m-%d"), start.strftime("%H")
        first = compact.read_hour(self.s3, CONFIG, TABLE, dt, hour)
        second = compact.read_hour(self.s3, CONFIG, TABLE, dt, hour)
        todo = compact.pending(first, self.now, CONFIG)
        if not todo:
            return
        with self._converter() as (to_parquet, workdir):
            compact.compact(self.s3, CONFIG, TABLE, first, todo, to_parquet, workdir, self.clock)
            with pytest.raises(compact.CommitConflictError):
                compact.compact(self.s3, CONFIG, TABLE, second, todo, to_parquet, workdir, self.clock)

    def _converter(self) -> Any:
        import contextlib
        import functools
        import tempfile
        from pathlib import Path

        from lake_compactor import convert

        @contextlib.contextmanager
        def made() -> Any:
            with tempfile.TemporaryDirectory() as tmp:
                connection = convert.connect("500MB", Path(tmp) / "duckdb")
                yield functools.partial(convert.to_parquet, connection, TABLE.columns), Path(tmp)
                connection.close()

        return made()

    @rule(seconds=st.sampled_from([1, 30, EFFECTIVE_S - 1, EFFECTIVE_S, SETTLE_S, DELETE_S, DELETE_S + EFFECTIVE_S]))
    def time_passes(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)

    @rule(started_ago=st.integers(0, DELETE_S - 1))
    def query(self, started_ago: int) -> None:
        """A query that started ``started_ago`` seconds ago (queries run for less than a day)."""
        self._assert_exactly_once([self.now - timedelta(seconds=started_ago)])

    @invariant()
    def queries_that_started_at_the_edges(self) -> None:
        """After every step: queries that start now, and that started just before and just after
        the margins the protocol relies on."""
        ago = [0, 1, EFFECTIVE_S - 1, EFFECTIVE_S, EFFECTIVE_S + 1, SETTLE_S + 1, DELETE_S - 1]
        self._assert_exactly_once([self.now - timedelta(seconds=s) for s in ago])

    def _assert_exactly_once(self, starts: list[datetime]) -> None:
        with Lake(self.s3, BUCKET) as lake_copy:
            lake_copy.sync()
            for query_start in starts:
                got = Counter(row[0] for row in lake_copy.query("SELECT id FROM events", at=query_start).rows)
                assert got == self.records, {
                    "query_start": query_start.isoformat(),
                    "twice": sorted(k for k, v in got.items() if v > 1),
                    "missing": sorted(k for k in self.records if k not in got),
                }


TestEveryQueryCountsEveryRecordOnce = Compaction.TestCase
TestEveryQueryCountsEveryRecordOnce.settings = settings(
    max_examples=4 if FEW else 25,  # each example runs dozens of queries: make unit runs a handful
    stateful_step_count=8 if FEW else 16,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
