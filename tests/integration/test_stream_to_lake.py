"""Stream → lake under moto: the real handlers, real boto3 calls, events shaped as AWS sends them."""

from __future__ import annotations

import base64
import gzip
import io
import json
from collections import Counter
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest_api import handler as ingest_handler
from stack.events import StreamRecord, http_api_event, kinesis_event, kinesis_stream_arn
from stream_processor import handler as processor
from tests.conftest import load_event
from tests.events import generate
from tests.examples import examples
from tributary import aws as clients
from tributary import lake as lake_layout
from tributary_cli import produce, synthetic

BUCKET = "lake"
STREAM = "events"
REGION = "eu-west-1"


@pytest.fixture
def lake(aws, monkeypatch):
    monkeypatch.setenv("LAKE_BUCKET", BUCKET)
    monkeypatch.setenv("LAKE_PREFIX", "events")
    monkeypatch.setenv("QUARANTINE_PREFIX", "quarantine")
    monkeypatch.setenv("STREAM_NAME", STREAM)
    monkeypatch.setattr(ingest_handler, "_producer", None)
    processor.reset()
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    boto3.client("kinesis").create_stream(StreamName=STREAM, ShardCount=2)
    return s3


def lake_lines(s3, prefix: str) -> list[dict]:
    """Every line under ``prefix``, each object read by the codec its key names (gzip unless
    LAKE_CODEC says otherwise) and checked against its Content-Encoding."""
    out = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix + "/"):
        for item in page.get("Contents", []):
            obj = s3.get_object(Bucket=BUCKET, Key=item["Key"])
            body = obj["Body"].read()
            if item["Key"].endswith(".ndjson.gz"):
                assert obj["ContentEncoding"] == "gzip"
                data = gzip.decompress(body)
            else:
                assert item["Key"].endswith(".ndjson.zst"), item["Key"]
                assert obj["ContentEncoding"] == "zstd"
                data = zstd.decompress(body)
            assert obj["ContentType"] == "application/x-ndjson"
            out.extend(json.loads(line) for line in data.splitlines())
    return out


def lake_keys(s3) -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []))


def count_deletes():
    calls = {"n": 0}

    def before_call(**kwargs):
        calls["n"] += 1

    clients.client("s3").meta.events.register("before-call.s3.DeleteObject", before_call)
    return calls


def fail_puts(failing_calls: set[int]):
    """Make the processor's S3 client fail its n-th PutObject calls (1-based)."""
    calls = {"n": 0}

    def before_call(**kwargs):
        calls["n"] += 1
        if calls["n"] in failing_calls:
            raise ClientError(
                {"Error": {"Code": "SlowDown", "Message": "Please reduce your request rate."}}, "PutObject"
            )

    clients.client("s3").meta.events.register("before-call.s3.PutObject", before_call)
    return calls


def test_aggregated_fixture_lands_with_subsequence_numbers(lake, capsys):
    response = processor.handle(load_event("kinesis-aggregated.json"), None)
    assert response == {"batchItemFailures": []}
    lines = lake_lines(lake, "events")
    assert sorted(r["id"] for r in lines) == ["r-1", "r-2", "r-3", "r-4", "r-5"]
    assert {r["id"]: r.get("subsequence") for r in lines} == {"r-1": None, "r-2": 0, "r-3": 1, "r-4": 2, "r-5": None}
    hours = Counter(r["time"][11:13] for r in lines)
    assert hours == {"10": 1, "11": 3, "12": 1}
    log = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"batch"' in line]
    assert log[-1]["received"] == 5
    assert log[-1]["written"] == 5


def test_every_kind_of_bad_record_is_quarantined(lake, monkeypatch, capsys):
    monkeypatch.setenv("MAX_RECORD_BYTES", "65536")
    event = load_event("kinesis-bad-records.json")
    assert processor.handle(event, None) == {"batchItemFailures": []}
    quarantined = lake_lines(lake, "quarantine")
    assert Counter(q["reason"] for q in quarantined) == Counter(generate.expected_bad_reasons())
    raw_by_seq = {r["kinesis"]["sequenceNumber"]: r["kinesis"]["data"] for r in event["Records"]}
    for entry in quarantined:
        raw = raw_by_seq[entry["sequence_number"]]
        if entry["reason"] == "bad_base64":
            assert base64.b64decode(entry["raw_base64"]) == raw.encode()
        else:
            assert entry["raw_base64"] == raw
    assert lake_lines(lake, "events") == []
    out = capsys.readouterr().out.splitlines()
    batch = json.loads(next(line for line in out if '"message":"batch"' in line))
    assert batch["received"] == batch["quarantined"] == len(event["Records"])
    emf = json.loads(next(line for line in out if '"_aws"' in line))
    assert emf["RecordsQuarantined"] == len(event["Records"])
    # What the quarantine alarm (terraform/modules/monitoring) watches: namespace, metric, dimension.
    monitoring = (Path(__file__).resolve().parents[2] / "terraform/modules/monitoring/main.tf").read_text()
    alarm = monitoring[monitoring.index('"quarantine/${key}"') :]
    alarm = alarm[: alarm.index("} },")]
    directive = emf["_aws"]["CloudWatchMetrics"][0]
    assert f'namespace = "{directive["Namespace"]}"' in alarm
    assert 'metric = "RecordsQuarantined"' in alarm
    assert {"Name": "RecordsQuarantined", "Unit": "Count"} in directive["Metrics"]
    assert directive["Dimensions"] == [["Function"]]
    assert "dimensions  = { Function = path.function_name }" in alarm


def test_a_ten_thousand_record_batch(lake):
    records = [
        StreamRecord(r.data, r.device_id, str(10**20 + i), 1_795_342_530.0 + i / 1000)
        for i, r in enumerate(synthetic.generate(10_000, seed=2, malformed=0.01, start=1_795_300_000.0))
    ]
    event = kinesis_event(records, "shardId-000000000000", kinesis_stream_arn(STREAM, REGION), REGION)
    assert processor.handle(event, None) == {"batchItemFailures": []}
    written = lake_lines(lake, "events")
    quarantined = lake_lines(lake, "quarantine")
    assert len(written) + len(quarantined) == 10_000
    assert len({r["id"] for r in written}) == len(written)
    assert 50 < len(quarantined) < 200
    keys = [o["Key"] for o in lake.list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert len(keys) <= 2 + 1 + 2  # event times span ~12 hours: at most one object per hour and the quarantine
    assert len([k for k in keys if k.startswith("events/")]) == len({r["time"][:13] for r in written})


@pytest.mark.parametrize("failing", [1, 2, 3])
def test_an_s3_failure_on_the_kth_partition_write_is_retried_exactly_once(lake, failing):
    records = [
        StreamRecord(json.dumps(generate.envelope(i, hour=i % 3)).encode(), f"d{i}", str(1000 + i), 1_795_342_530.0)
        for i in range(30)
    ]
    event = kinesis_event(records, "shardId-000000000000", kinesis_stream_arn(STREAM, REGION), REGION)
    fail_puts({failing})
    first = processor.handle(event, None)
    assert len(first["batchItemFailures"]) == 1
    checkpoint = int(first["batchItemFailures"][0]["itemIdentifier"])
    retry = {"Records": [r for r in event["Records"] if int(r["kinesis"]["sequenceNumber"]) >= checkpoint]}
    assert processor.handle(retry, None) == {"batchItemFailures": []}
    assert Counter(r["id"] for r in lake_lines(lake, "events")) == Counter(f"r-{i}" for i in range(30))


def drain(s3_failures: set[int], batch_size: int) -> Counter:
    """Read every shard like the event source mapping, invoking the processor and honouring
    its checkpoints; return how many invocations each shard took."""
    kinesis = boto3.client("kinesis")
    fail_puts(s3_failures)
    arn = kinesis_stream_arn(STREAM, REGION)
    invocations: Counter = Counter()
    for shard in kinesis.list_shards(StreamName=STREAM)["Shards"]:
        shard_id = shard["ShardId"]
        iterator = kinesis.get_shard_iterator(StreamName=STREAM, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON")[
            "ShardIterator"
        ]
        log = []
        while iterator:
            page = kinesis.get_records(ShardIterator=iterator, Limit=10_000)
            log.extend(
                StreamRecord(
                    r["Data"], r["PartitionKey"], r["SequenceNumber"], r["ApproximateArrivalTimestamp"].timestamp()
                )
                for r in page["Records"]
            )
            iterator = page.get("NextShardIterator") if page["Records"] else None
        position = 0
        while position < len(log):
            invocations[shard_id] += 1
            assert invocations[shard_id] < 1000
            batch = log[position : position + batch_size]
            response = processor.handle(kinesis_event(batch, shard_id, arn, REGION), None)
            failures = response["batchItemFailures"]
            if not failures:
                position += len(batch)
            else:
                position = next(i for i, r in enumerate(log) if r.sequence_number == failures[0]["itemIdentifier"])
    return invocations


@pytest.mark.parametrize("aggregate", [False, True])
def test_producer_cli_to_lake_exactly_once_under_s3_failures(lake, aggregate, capsys):
    args = ["--stream", STREAM, "--synthetic", "--count", "1500", "--malformed", "0.05", "--seed", "11"]
    assert produce.main(args + (["--aggregate"] if aggregate else [])) == 0
    capsys.readouterr()
    drain(s3_failures={2, 5, 6, 11, 17, 18, 19, 30}, batch_size=200)
    expected = list(synthetic.generate(1500, seed=11, malformed=0.05))
    written = lake_lines(lake, "events")
    quarantined = lake_lines(lake, "quarantine")
    assert Counter(r["id"] for r in written) == Counter(
        json.loads(r.data)["id"] for r in expected if r.malformed is None
    )
    assert len(quarantined) == sum(1 for r in expected if r.malformed)
    assert all(q["reason"] and q["detail"] for q in quarantined)


def test_http_endpoint_to_lake(lake):
    body = "\n".join(json.dumps(generate.envelope(i)) for i in range(40)) + "\n{oops\n"
    response = ingest_handler.handle(
        http_api_event("POST /v1/records", body, {"content-type": "application/x-ndjson"}), None
    )
    result = json.loads(response["body"])
    assert response["statusCode"] == 207
    assert (result["accepted"], result["rejected"]) == (40, 1)
    drain(s3_failures={1}, batch_size=15)
    assert Counter(r["id"] for r in lake_lines(lake, "events")) == Counter(f"r-{i}" for i in range(40))


def test_stdin_ndjson_through_the_cli(lake, monkeypatch, capsys):
    lines = [json.dumps(generate.envelope(i)) for i in range(10)] + ["not json"]
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(("\n".join(lines) + "\n").encode())))
    assert produce.main(["--stream", STREAM]) == 0
    capsys.readouterr()
    drain(set(), batch_size=100)
    assert len(lake_lines(lake, "events")) == 10
    assert [q["reason"] for q in lake_lines(lake, "quarantine")] == ["not_json"]


def test_a_failed_dedupe_state_write_is_retried_without_loss(lake):
    """A batch commits (its state is cached in the warm environment), the next batch's state write
    fails: that batch is reported failed and its retry lands every record once. The cached state
    must not hold ids whose write failed."""
    records = [
        StreamRecord(json.dumps(generate.envelope(i)).encode(), f"d{i}", str(500 + i), 1_795_342_530.0)
        for i in range(20)
    ]
    arn = kinesis_stream_arn(STREAM, REGION)
    first_half = kinesis_event(records[:10], "shardId-000000000003", arn, REGION)
    second_half = kinesis_event(records[10:], "shardId-000000000003", arn, REGION)
    calls = {"state_puts": 0}

    def before_call(params, **kwargs):
        if params.get("Key", "").startswith("_state/"):
            calls["state_puts"] += 1
            if calls["state_puts"] == 2:
                raise ClientError({"Error": {"Code": "InternalError", "Message": "try again"}}, "PutObject")

    processor.handle({"Records": []}, None)  # create the client
    clients.client("s3").meta.events.register("before-parameter-build.s3.PutObject", before_call)
    assert processor.handle(first_half, None) == {"batchItemFailures": []}
    assert processor.handle(second_half, None) == {"batchItemFailures": [{"itemIdentifier": "510"}]}
    assert processor.handle(second_half, None) == {"batchItemFailures": []}
    assert Counter(r["id"] for r in lake_lines(lake, "events")) == Counter(f"r-{i}" for i in range(20))
    # A resend of a committed batch is recognised and dropped.
    assert processor.handle(first_half, None) == {"batchItemFailures": []}
    assert len(lake_lines(lake, "events")) == 20


@pytest.mark.parametrize(
    "stored",
    [b"not gzip at all", gzip.compress(b'{"version": 99, "windows": []}'), gzip.compress(b"[1, 2")],
    ids=["not-gzip", "unknown-version", "damaged"],
)
def test_an_unreadable_dedupe_state_is_counted_and_never_blocks_the_shard(lake, capsys, stored):
    shard = "shardId-000000000004"
    lake.put_object(Bucket=BUCKET, Key=f"_state/dedupe/{shard}.json.gz", Body=stored)
    records = [
        StreamRecord(json.dumps(generate.envelope(i)).encode(), f"d{i}", str(700 + i), 1_795_342_530.0)
        for i in range(5)
    ]
    event = kinesis_event(records, shard, kinesis_stream_arn(STREAM, REGION), REGION)
    assert processor.handle(event, None) == {"batchItemFailures": []}
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert any(line.get("message", "").startswith("dedupe state unreadable") for line in out)
    assert any(line.get("DedupeStateUnreadable") == 1 for line in out)
    assert len(lake_lines(lake, "events")) == 5
    # The state was replaced with one this version reads: a resend is dropped again.
    resend = kinesis_event(
        [StreamRecord(records[2].data, "d2", "800", 1_795_342_540.0)], shard, kinesis_stream_arn(STREAM, REGION), REGION
    )
    processor.reset()
    assert processor.handle(resend, None) == {"batchItemFailures": []}
    assert len(lake_lines(lake, "events")) == 5


def _zstd_module():
    try:
        from compression import zstd as module  # Python 3.14
    except ImportError:
        from backports import zstd as module
    return module


zstd = _zstd_module()


def _readings(n: int, start: int = 5000) -> list[StreamRecord]:
    return [
        StreamRecord(r.data, r.device_id, str(10**20 + start + 2 * i), 1_795_342_530.0 + i / 1000)
        for i, r in enumerate(synthetic.generate(n, seed=start, malformed=0.1, start=1_795_300_000.0))
    ]


def test_with_lake_codec_zstd_the_lake_holds_the_same_lines_in_ndjson_zst(lake, monkeypatch):
    event = kinesis_event(_readings(300), "shardId-000000000000", kinesis_stream_arn(STREAM, REGION), REGION)
    assert processor.handle(event, None) == {"batchItemFailures": []}
    gzip_lines = {p: lake_lines(lake, p) for p in ("events", "quarantine")}
    gzip_keys = lake_keys(lake)
    for key in gzip_keys:
        lake.delete_object(Bucket=BUCKET, Key=key)
    processor.reset()
    monkeypatch.setenv("LAKE_CODEC", "zstd")
    assert processor.handle(event, None) == {"batchItemFailures": []}
    assert {p: lake_lines(lake, p) for p in ("events", "quarantine")} == gzip_lines
    lake_objects = [k for k in lake_keys(lake) if not k.startswith("_state/")]
    assert lake_objects
    assert all(k.endswith(".ndjson.zst") for k in lake_objects)
    assert sorted(lake_layout.stem(k) for k in lake_objects) == sorted(
        lake_layout.stem(k) for k in gzip_keys if not k.startswith("_state/")
    )


@pytest.mark.parametrize("dedupe_window", ["300", "0"])
@pytest.mark.parametrize(("before", "after"), [("gzip", "zstd"), ("zstd", "gzip")])
def test_a_batch_delivered_again_after_a_change_of_codec_leaves_each_record_once(
    lake, monkeypatch, dedupe_window, before, after
):
    """Lambda delivers a batch again after a lost response or a crash; a deployment in between
    changed LAKE_CODEC, so the retry writes each key under the other ending."""
    monkeypatch.setenv("DEDUPE_WINDOW_SECONDS", dedupe_window)
    monkeypatch.setenv("LAKE_CODEC", before)
    event = kinesis_event(_readings(200), "shardId-000000000001", kinesis_stream_arn(STREAM, REGION), REGION)
    assert processor.handle(event, None) == {"batchItemFailures": []}
    first = {p: lake_lines(lake, p) for p in ("events", "quarantine")}
    processor.reset()  # a new deployment is a new execution environment
    monkeypatch.setenv("LAKE_CODEC", after)
    deletes = count_deletes()
    assert processor.handle(event, None) == {"batchItemFailures": []}
    assert {p: lake_lines(lake, p) for p in ("events", "quarantine")} == first  # each record once
    lake_objects = [k for k in lake_keys(lake) if not k.startswith("_state/")]
    assert all(k.endswith(lake_layout.codec(after).suffix) for k in lake_objects), lake_objects
    assert deletes["n"] == len(lake_objects)  # the other ending of each key it wrote, once


def test_a_retry_that_fails_partway_after_a_change_of_codec_still_leaves_each_record_once(lake, monkeypatch):
    arn = kinesis_stream_arn(STREAM, REGION)
    records = _readings(400)
    event = kinesis_event(records, "shardId-000000000002", arn, REGION)
    assert processor.handle(event, None) == {"batchItemFailures": []}
    processor.reset()
    monkeypatch.setenv("LAKE_CODEC", "zstd")
    fail_puts({2})  # the second lake object of the redelivery fails: a checkpoint, then a retry from it
    response = processor.handle(event, None)
    assert response["batchItemFailures"]
    checkpoint = response["batchItemFailures"][0]["itemIdentifier"]
    rest = [r for r in records if int(r.sequence_number) >= int(checkpoint)]
    assert processor.handle(kinesis_event(rest, "shardId-000000000002", arn, REGION), None) == {"batchItemFailures": []}
    written = lake_lines(lake, "events")
    assert sorted(r["id"] for r in written) == sorted({r["id"] for r in written})
    quarantined = lake_lines(lake, "quarantine")
    assert len(written) + len(quarantined) == len(records)


def test_every_put_deletes_the_other_endings_key_first_and_only_it(lake, monkeypatch):
    monkeypatch.setenv("LAKE_CODEC", "zstd")
    arn = kinesis_stream_arn(STREAM, REGION)
    records = _readings(200)
    deleted: list[str] = []
    clients.client("s3").meta.events.register(
        "before-parameter-build.s3.DeleteObject", lambda params, **_: deleted.append(params["Key"])
    )
    for part in (records[:100], records[100:]):  # a warm environment's second batch too
        assert processor.handle(kinesis_event(part, "shardId-000000000003", arn, REGION), None) == {
            "batchItemFailures": []
        }
    written = [k for k in lake_keys(lake) if not k.startswith("_state/")]
    assert sorted(deleted) == sorted(lake_layout.stem(k) + ".ndjson.gz" for k in written)


def _refuse_state_writes():
    """The state write fails, as when the function dies after writing its objects."""
    switch = {"on": True}

    def before(params, **_):
        if switch["on"] and params["Key"].startswith("_state/"):
            raise ClientError(
                {"Error": {"Code": "SlowDown", "Message": "Please reduce your request rate."}}, "PutObject"
            )

    clients.client("s3").meta.events.register("before-parameter-build.s3.PutObject", before)
    return switch


def _event(records, shard="shardId-000000000004"):
    return kinesis_event(records, shard, kinesis_stream_arn(STREAM, REGION), REGION)


def _each_record_once(s3, records):
    written = lake_lines(s3, "events")
    quarantined = lake_lines(s3, "quarantine")
    assert len({r["id"] for r in written}) == len(written), "a record is in the lake twice"
    assert len(written) + len(quarantined) == len(records)


def test_an_attempt_that_wrote_zstd_and_died_is_retried_with_gzip_once_the_codec_is_rolled_back(lake, monkeypatch):
    records = _readings(300)
    assert processor.handle(_event(records[:50]), None) == {"batchItemFailures": []}  # a state, written with gzip
    processor.reset()
    monkeypatch.setenv("LAKE_CODEC", "zstd")
    refused = _refuse_state_writes()
    assert processor.handle(_event(records[50:]), None)["batchItemFailures"]  # .zst written, no state
    refused["on"] = False
    processor.reset()
    monkeypatch.setenv("LAKE_CODEC", "gzip")  # the change is rolled back before Lambda retries
    assert processor.handle(_event(records[50:]), None) == {"batchItemFailures": []}
    _each_record_once(lake, records)


def test_a_failed_delete_is_retried_with_its_put(lake, monkeypatch):
    records = _readings(300)
    assert processor.handle(_event(records[:50]), None) == {"batchItemFailures": []}
    refused = _refuse_state_writes()
    assert processor.handle(_event(records[50:]), None)["batchItemFailures"]  # .gz written, no state
    refused["on"] = False
    processor.reset()
    monkeypatch.setenv("LAKE_CODEC", "zstd")
    calls = {"n": 0}

    def second_delete_fails(**_):
        calls["n"] += 1
        if calls["n"] == 2:
            raise ClientError(
                {"Error": {"Code": "SlowDown", "Message": "Please reduce your request rate."}}, "DeleteObject"
            )

    clients.client("s3").meta.events.register("before-call.s3.DeleteObject", second_delete_fails)
    response = processor.handle(_event(records[50:]), None)
    checkpoint = int(response["batchItemFailures"][0]["itemIdentifier"])
    rest = [r for r in records[50:] if int(r.sequence_number) >= checkpoint]
    assert processor.handle(_event(rest), None) == {"batchItemFailures": []}
    _each_record_once(lake, records)


def test_a_batch_bisected_across_a_change_of_codec_leaves_each_record_once(lake, monkeypatch):
    first = synthetic.generate(175, seed=1, malformed=0.0, start=1_795_300_000.0)
    later = synthetic.generate(125, seed=2, malformed=0.0, start=1_795_307_200.0, id_prefix="later-")  # two hours on
    records = [
        StreamRecord(r.data, r.device_id, str(10**20 + 5000 + 2 * i), 1_795_342_530.0 + i / 1000)
        for i, r in enumerate([*first, *later])
    ]
    assert processor.handle(_event(records[:50]), None) == {"batchItemFailures": []}
    refused = _refuse_state_writes()
    assert processor.handle(_event(records[50:]), None)["batchItemFailures"]  # times out after its writes
    refused["on"] = False
    processor.reset()
    monkeypatch.setenv("LAKE_CODEC", "zstd")  # deployed; Lambda bisects the batch
    assert processor.handle(_event(records[50:175]), None) == {"batchItemFailures": []}
    assert processor.handle(_event(records[175:]), None) == {"batchItemFailures": []}
    _each_record_once(lake, records)


ATTEMPT = st.tuples(
    st.sampled_from(sorted(lake_layout.CODECS)),
    st.sampled_from(["none", "state_write", "put", "delete"]),
    st.integers(1, 4),  # which put or delete of the attempt fails
)


@settings(max_examples=examples(100), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(attempts=st.lists(ATTEMPT, min_size=1, max_size=5), dedupe=st.booleans(), size=st.integers(20, 160))
def test_any_sequence_of_codec_changes_and_failures_drains_the_shard_with_each_record_once(
    lake, monkeypatch, attempts, dedupe, size
):
    """Lambda's retries as a stream of attempts: each runs with any codec (a deployment may come
    between any two) and may lose its state write or its n-th put or delete; a failed attempt is
    retried from its checkpoint (or from its start when it reported none, as after a crash)."""
    shard = f"shardId-{len(attempts):012d}"
    for page in lake.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        for item in page.get("Contents", []):
            lake.delete_object(Bucket=BUCKET, Key=item["Key"])
    monkeypatch.setenv("DEDUPE_WINDOW_SECONDS", "300" if dedupe else "0")
    # Event times over four hours: a batch writes several lake objects, so a put can fail between them.
    generated = synthetic.generate(size, seed=size, malformed=0.1, start=1_795_300_000.0, spread_seconds=4 * 3600)
    records = [
        StreamRecord(r.data, r.device_id, str(10**20 + 7000 + 2 * i), 1_795_342_530.0 + i / 1000)
        for i, r in enumerate(generated)
    ]
    fault = {"kind": "none", "n": 0, "calls": 0}

    def inject(operation):
        def before(params, **_):
            if fault["kind"] == "state_write" and operation == "PutObject" and params["Key"].startswith("_state/"):
                raise ClientError({"Error": {"Code": "SlowDown", "Message": "injected"}}, operation)
            if fault["kind"] == {"PutObject": "put", "DeleteObject": "delete"}[operation] and not params[
                "Key"
            ].startswith("_state/"):
                fault["calls"] += 1
                if fault["calls"] == fault["n"]:
                    raise ClientError({"Error": {"Code": "SlowDown", "Message": "injected"}}, operation)

        return before

    events = clients.client("s3").meta.events
    handlers = {f"before-parameter-build.s3.{op}": inject(op) for op in ("PutObject", "DeleteObject")}
    for name, handler in handlers.items():
        events.register(name, handler)
    pending, codec = records, None
    try:
        # Then Lambda retries until the shard drains, with the first attempt's codec (a change rolled back).
        for chosen, kind, n in [*attempts, *[(attempts[0][0], "none", 0)] * 3]:
            if not pending:
                break
            if chosen != codec:
                processor.reset()  # a new deployment: new execution environments
                monkeypatch.setenv("LAKE_CODEC", chosen)
                codec = chosen
            fault.update(kind=kind, n=n, calls=0)
            failures = processor.handle(_event(pending, shard), None)["batchItemFailures"]
            if failures:
                checkpoint = int(failures[0]["itemIdentifier"])
                pending = [r for r in pending if int(r.sequence_number) >= checkpoint]
            else:
                pending = []
    finally:
        for name, handler in handlers.items():
            events.unregister(name, handler)
    assert not pending
    _each_record_once(lake, records)
