"""The compactor on lake objects the stream processor itself wrote, queried through the same
events view Athena runs (DuckDB, local/query.py)."""

from __future__ import annotations

import functools
import gzip
import tempfile
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lake_compactor import compact, convert, handler
from lake_compactor.settings import Settings
from local.query import Lake
from tests.examples import examples
from tests.lake_writer import BUCKET, create_bucket, envelope, land
from tributary import json_codec, lake, lake_catalog

TABLE = lake_catalog.load().tables["events"]
START = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
HOUR = (START.strftime("%Y-%m-%d"), START.strftime("%H"))


def at(minutes: float) -> str:
    return (START + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def make_settings(**changes) -> Settings:
    base = {
        "bucket": BUCKET,
        "lateness_s": 0,
        "settle_s": 0,
        "lookback_hours": 200,
        "effective_after_s": 300,
        "delete_after_s": 3600,
    }
    return Settings(**{**base, **changes})


class Clock:
    """The compactor's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


@pytest.fixture
def s3(aws):
    client = boto3.client("s3")
    create_bucket(client)
    return client


def ids(s3, when: datetime) -> Counter[str]:
    with Lake(s3, BUCKET) as lake:
        lake.sync()
        return Counter(row[0] for row in lake.query("SELECT id FROM events", at=when).rows)


def keys(s3, prefix: str) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])]


def test_a_closed_hour_becomes_parquet_and_every_query_counts_each_record_once(s3):
    land(s3, [envelope(f"a{i}", at(i % 60)) for i in range(40)])
    land(s3, [envelope(f"b{i}", at(i % 60)) for i in range(25)], shard="shardId-000000000001")
    expected = Counter({f"a{i}": 1 for i in range(40)} | {f"b{i}": 1 for i in range(25)})
    clock, config = Clock(), make_settings()
    assert ids(s3, clock.now) == expected

    counts = handler.run(s3, config, TABLE, clock)
    assert (counts["hours_compacted"], counts["objects_compacted"], counts["records_compacted"]) == (1, 2, 65)
    assert len(keys(s3, "compacted/events/")) == 1
    assert ids(s3, clock.now) == expected  # committed, not yet effective: the raw side
    assert ids(s3, clock.now + timedelta(seconds=300)) == expected  # effective: the Parquet side

    clock.advance(300 + 3600)
    counts = handler.run(s3, config, TABLE, clock)
    assert counts["raw_deleted"] == 2
    assert counts["hours_compacted"] == 0
    assert keys(s3, "events/") == []
    assert ids(s3, clock.now) == expected


def test_the_parquet_rows_are_the_raw_rows_column_for_column(s3):
    land(s3, [envelope(f"r{i}", at(i), {"i": i, "nested": {"list": [1, "two", None]}}) for i in range(30)])
    clock = Clock()
    with Lake(s3, BUCKET) as lake:
        lake.sync()
        before = sorted(lake.query('SELECT * EXCLUDE ("$path") FROM events_raw').rows)
    handler.run(s3, make_settings(), TABLE, clock)
    with Lake(s3, BUCKET) as lake:
        lake.sync()
        after = sorted(lake.query("SELECT * FROM events", at=clock.now + timedelta(seconds=301)).rows)
        compacted = lake.query("SELECT count(*) FROM events_compacted").rows[0][0]
    assert compacted == 30
    assert after == before


def test_a_compacted_files_rows_are_in_the_tables_sort_order(s3, tmp_path):
    assert TABLE.sort_by == ("shard_id", "sequence_number", "subsequence")
    for shard in (3, 1, 2):
        land(s3, [envelope(f"o{shard}-{i}", at(59 - i)) for i in range(15)], shard=f"shardId-00000000000{shard}")
    handler.run(s3, make_settings(), TABLE, Clock())
    (key,) = keys(s3, "compacted/events/")
    path = tmp_path / "hour.parquet"
    path.write_bytes(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    import duckdb

    rows = duckdb.connect().execute(f"SELECT shard_id, sequence_number, subsequence FROM '{path}'").fetchall()
    assert len(rows) == 45
    assert rows == sorted(rows, key=lambda r: (r[0], r[1], -1 if r[2] is None else r[2]))
    # Another order than the objects' own: the rows follow sort_by, not the order they were read in.
    inputs = []
    for n, raw in enumerate(sorted(keys(s3, "events/"))):
        inputs.append(tmp_path / f"{n}.ndjson.gz")
        inputs[-1].write_bytes(s3.get_object(Bucket=BUCKET, Key=raw)["Body"].read())
    connection = convert.connect("500MB", tmp_path / "duckdb")
    convert.to_parquet(connection, TABLE.columns, inputs, tmp_path / "by-time.parquet", sort_by=("time", "id"))
    times = [r[0] for r in duckdb.connect().execute(f"SELECT time FROM '{tmp_path}/by-time.parquet'").fetchall()]
    assert times == sorted(times)
    assert times[0] == at(45)


@pytest.mark.parametrize(
    ("limit", "expected"),
    [("500MB", 500 * 1000**2), ("1500MB", 1500 * 1000**2), ("2 GiB", 2 * 1024**3), ("0.5GB", 500 * 1000**2)],
)
def test_memory_sizes_are_read_as_duckdb_reads_them(limit, expected):
    assert convert.size_bytes(limit) == expected
    import duckdb

    connection = duckdb.connect(config={"memory_limit": limit})
    (set_to,) = connection.execute("SELECT current_setting('memory_limit')").fetchone()
    # DuckDB shows it with one decimal (1500MB as "1.3 GiB"): the units agree, MB 1000², MiB 1024².
    assert convert.size_bytes(set_to) == pytest.approx(expected, rel=0.08)


def test_duckdb_gets_the_threads_its_memory_limit_holds_the_json_buffers_of():
    assert convert.threads_for("500MB", cpus=6) == 1
    assert convert.threads_for("1500MB", cpus=2) == 2
    assert convert.threads_for("2000MB", cpus=6) == 4
    assert convert.threads_for("10GB", cpus=6) == 6
    assert convert.threads_for("not a size", cpus=3) == 3  # DuckDB refuses it on its own


def test_a_small_memory_limit_converts_many_inputs_on_a_machine_with_many_cpus(tmp_path, monkeypatch):
    """Two threads at 500 MB ran out of memory on eight 15-line files about half the time."""
    monkeypatch.setattr(convert.os, "cpu_count", lambda: 8)
    inputs = []
    for n in range(40):
        inputs.append(tmp_path / f"{n}.ndjson.gz")
        lines = b"".join(envelope(f"f{n}-{i}", at(i)) + b"\n" for i in range(15))
        inputs[-1].write_bytes(gzip.compress(lines))
    connection = convert.connect("500MB", tmp_path / "duckdb")
    assert connection.execute("SELECT current_setting('threads')").fetchone()[0] == 1
    converted = convert.to_parquet(connection, TABLE.columns, inputs, tmp_path / "out.parquet", TABLE.sort_by)
    assert converted.records == 600


def test_a_sort_column_the_table_does_not_have_is_refused(tmp_path):
    raw = json_codec.loads(lake_catalog.TABLES_FILE.read_bytes())
    raw["tables"]["events"]["sort_by"] = ["shard_id", "no_such_column"]
    path = tmp_path / "lake_tables.json"
    path.write_bytes(json_codec.dumps(raw))
    with pytest.raises(ValueError, match="no_such_column"):
        lake_catalog.load(path)


@pytest.mark.parametrize("codecs", [("zstd",), ("gzip", "zstd")])
def test_zstd_objects_and_an_hour_of_both_codecs_compact_once(s3, codecs):
    """A lake whose LAKE_CODEC changed holds both endings in one hour."""
    expected = Counter()
    for n, codec in enumerate(codecs * 2):
        written = land(
            s3, [envelope(f"{codec}-{n}-{i}", at(i)) for i in range(12)], shard=f"shardId-00000000000{n}", codec=codec
        )
        assert all(key.endswith(lake.codec(codec).suffix) for key in written)
        expected.update(f"{codec}-{n}-{i}" for i in range(12))
    clock = Clock()
    assert ids(s3, clock.now) == expected  # the raw side reads each object by its ending
    counts = handler.run(s3, make_settings(), TABLE, clock)
    assert (counts["objects_compacted"], counts["records_compacted"]) == (2 * len(codecs), sum(expected.values()))
    assert ids(s3, clock.now + timedelta(seconds=301)) == expected


def test_with_little_free_ephemeral_storage_an_hour_becomes_more_parquet_files_and_the_same_rows(s3, monkeypatch):
    for shard in range(4):
        land(s3, [envelope(f"s{shard}-{i}", at(i)) for i in range(20)], shard=f"shardId-00000000000{shard}")
    sizes = [o["Size"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="events/")["Contents"]]
    # Free space for about two objects' worth of inputs (a third of it), as a small /tmp holds.
    free = 3 * (max(sizes) * 2 + 1)
    real = compact.shutil.disk_usage
    monkeypatch.setattr(compact.shutil, "disk_usage", lambda path: real(path)._replace(free=free))
    assert compact.input_budget(make_settings(), Path(tempfile.gettempdir())) == free // 3
    clock = Clock()
    counts = handler.run(s3, make_settings(), TABLE, clock)
    assert (counts["objects_compacted"], counts["records_compacted"]) == (4, 80)
    assert len(keys(s3, "compacted/events/")) == 2
    expected = Counter({f"s{shard}-{i}": 1 for shard in range(4) for i in range(20)})
    assert ids(s3, clock.now + timedelta(seconds=301)) == expected


def test_late_records_after_compaction_are_counted_once_and_compacted_next_time(s3):
    land(s3, [envelope(f"r{i}", at(i)) for i in range(20)])
    clock, config = Clock(), make_settings()
    handler.run(s3, config, TABLE, clock)
    clock.advance(400)
    land(s3, [envelope(f"late{i}", at(59)) for i in range(5)])  # the same hour, an hour later
    expected = Counter({f"r{i}": 1 for i in range(20)} | {f"late{i}": 1 for i in range(5)})
    assert ids(s3, clock.now) == expected

    counts = handler.run(s3, config, TABLE, clock)
    assert (counts["hours_compacted"], counts["records_compacted"]) == (1, 5)
    log = keys(s3, "compaction-log/events/")
    assert [key.rsplit("/", 1)[1] for key in log] == ["00000001.ndjson", "00000002.ndjson"]
    for moment in (clock.now, clock.now + timedelta(seconds=301)):
        assert ids(s3, moment) == expected


def test_a_run_that_stops_before_committing_changes_nothing_queries_see(s3, tmp_path):
    land(s3, [envelope(f"r{i}", at(i)) for i in range(10)])
    clock, config = Clock(), make_settings()
    state = compact.read_hour(s3, config, TABLE, *HOUR)

    orphan = make_parquet_then_die(s3, config, state, converter(tmp_path), clock, tmp_path)
    assert orphan
    assert keys(s3, "compaction-log/") == []
    expected = Counter({f"r{i}": 1 for i in range(10)})
    assert ids(s3, clock.now + timedelta(days=1)) == expected

    handler.run(s3, config, TABLE, clock)  # the next run compacts the same objects
    assert ids(s3, clock.now + timedelta(seconds=301)) == expected
    clock.advance(3700)
    counts = handler.run(s3, config, TABLE, clock)
    assert counts["parquet_deleted"] == 1  # the stopped run's file, which no line adds
    assert orphan not in keys(s3, "compacted/")
    assert ids(s3, clock.now) == expected


def make_parquet_then_die(s3, config, state, convert, clock, workdir: Path) -> str:
    """Steps 2 and 3 up to the Parquet upload, then the invocation ends."""
    calls = []
    real_put = s3.put_object

    def put_object(**kwargs):
        if kwargs["Key"].startswith("compaction-log/"):
            raise SystemExit("the invocation ended")
        calls.append(kwargs["Key"])
        return real_put(**kwargs)

    s3.put_object = put_object
    try:
        with pytest.raises(SystemExit):
            compact.compact(s3, config, TABLE, state, compact.pending(state, clock(), config), convert, workdir, clock)
    finally:
        s3.put_object = real_put
    return calls[0]


def converter(workdir: Path):
    connection = convert.connect("500MB", workdir / "duckdb")
    return functools.partial(convert.to_parquet, connection, TABLE.columns)


def test_two_runs_committing_the_same_hour_one_wins_the_other_leaves_nothing_visible(s3, tmp_path):
    land(s3, [envelope(f"r{i}", at(i)) for i in range(10)])
    clock, config = Clock(), make_settings()
    first = compact.read_hour(s3, config, TABLE, *HOUR)
    second = compact.read_hour(s3, config, TABLE, *HOUR)
    to_parquet = converter(tmp_path)
    compact.compact(s3, config, TABLE, first, compact.pending(first, clock(), config), to_parquet, tmp_path, clock)
    with pytest.raises(compact.CommitConflictError):
        compact.compact(
            s3, config, TABLE, second, compact.pending(second, clock(), config), to_parquet, tmp_path, clock
        )
    assert len(keys(s3, "compacted/")) == 2
    assert len(keys(s3, "compaction-log/")) == 1
    assert ids(s3, clock.now + timedelta(seconds=301)) == Counter({f"r{i}": 1 for i in range(10)})


def test_objects_written_less_than_the_settle_time_ago_wait(s3):
    land(s3, [envelope(f"r{i}", at(i)) for i in range(5)])
    counts = handler.run(s3, make_settings(settle_s=3600), TABLE, Clock())
    assert counts["hours_compacted"] == 0
    assert keys(s3, "compacted/") == []


def test_an_object_duckdb_cannot_read_stays_raw_and_the_rest_is_compacted(s3):
    land(s3, [envelope(f"r{i}", at(i)) for i in range(5)])
    bad = f"events/dt={HOUR[0]}/hour={HOUR[1]}/shardId-000000000009-0-00000.ndjson.gz"
    s3.put_object(Bucket=BUCKET, Key=bad, Body=gzip.compress(b'{"id": "x", "time": \n'))
    counts = handler.run(s3, make_settings(), TABLE, Clock())
    assert counts["objects_unreadable"] == 1
    assert counts["records_compacted"] == 5
    assert bad in keys(s3, "events/")


def test_a_replaced_object_written_again_is_reported(s3):
    (key,) = land(s3, [envelope(f"r{i}", at(i)) for i in range(5)])
    clock, config = Clock(), make_settings()
    handler.run(s3, config, TABLE, clock)
    s3.put_object(Bucket=BUCKET, Key=key, Body=gzip.compress(json_codec.dumps_line({"id": "other"})))
    counts = handler.run(s3, config, TABLE, clock)
    assert counts["conflicts"] == 1


def test_a_replaced_object_written_again_under_the_other_codec_is_reported_and_left_raw(s3):
    """A retry after a change of LAKE_CODEC puts the replaced object's records under the
    .ndjson.zst ending and deletes the .ndjson.gz: the same object written again."""
    (key,) = land(s3, [envelope(f"r{i}", at(i)) for i in range(5)])
    clock, config = Clock(), make_settings()
    handler.run(s3, config, TABLE, clock)
    rewritten = lake.stem(key) + lake.ZSTD.suffix
    lines = b"".join(envelope(f"r{i}", at(i)) + b"\n" for i in range(5))
    s3.put_object(Bucket=BUCKET, Key=rewritten, Body=lake.ZSTD.compress(lines, 3))
    s3.delete_object(Bucket=BUCKET, Key=key)
    counts = handler.run(s3, config, TABLE, clock)
    assert counts["conflicts"] == 1
    assert counts["objects_compacted"] == 0  # never compacted a second time
    assert rewritten in keys(s3, "events/")


def test_an_object_one_of_two_lines_replaced_as_it_was_before_is_reported():
    uri = lake_catalog.s3_uri(BUCKET, "events/dt=2026-11-22/hour=09/shardId-000000000000-1-00000.ndjson.gz")
    state = compact.Hour("2026-11-22", "09")
    state.raw = [compact.StoredObject(lake_catalog.key_of(uri, BUCKET), '"b"', 10, datetime(2026, 11, 22, tzinfo=UTC))]
    lines = [lake_catalog.LogLine(g, lake_catalog.REPLACE, uri, etag, 1, "") for g, etag in ((1, '"a"'), (2, '"b"'))]
    for log in (lines, lines[::-1]):
        state.log = log
        assert compact.conflicts(state, make_settings()) == [uri]
    state.log = [lines[1]]
    assert compact.conflicts(state, make_settings()) == []


# What the processor writes: any Unicode but lone surrogates (it quarantines those).
text = st.text(st.characters(exclude_categories=("Cs",)), max_size=20)
payloads = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**38) + 1, 10**38 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | text,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(text, children, max_size=3),
    max_leaves=8,
)


@settings(max_examples=examples(300), deadline=None)
@given(payload=payloads, record_id=text.filter(bool), subsequence=st.none() | st.integers(0, 10**6))
def test_any_line_keeps_its_values_through_parquet(payload, record_id, subsequence):
    """Any Unicode the processor writes, 38-digit integers, any finite float: each column of the
    Parquet row is the line's value, and the payload the same JSON value."""
    line = {
        "id": record_id,
        "type": "t",
        "source": "s",
        "time": "2026-12-03T10:00:00.123456789Z",
        "payload": {"v": payload},
        "ingest_time": "2026-12-03T10:00:01.000Z",
        "shard_id": "shardId-000000000000",
        "sequence_number": "4" * 56,
    }
    if subsequence is not None:
        line["subsequence"] = subsequence
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        source = workdir / "in.ndjson.gz"
        source.write_bytes(lake.gzip_bytes(lake.encode_ndjson([line])))
        to_parquet = converter(workdir)
        converted = to_parquet([source], workdir / "out.parquet")
        rows = to_parquet.args[0].execute(f"SELECT * FROM read_parquet('{workdir}/out.parquet')").fetchall()
    assert converted.records == 1
    names = [c.name for c in TABLE.columns]
    got = dict(zip(names, rows[0], strict=True))
    assert json_codec.loads(got.pop("payload").encode()) == json_codec.loads(json_codec.dumps({"v": payload}))
    assert got == {name: line.get(name) for name in names if name != "payload"}
