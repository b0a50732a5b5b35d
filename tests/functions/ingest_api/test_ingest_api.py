from __future__ import annotations

import gzip
import json

import boto3
import pytest

from ingest_api import handler
from ingest_api.ingest import DEFAULT_MAX_BODY_BYTES, Limits, ingest, response
from stack.events import http_api_event
from tests.conftest import load_event
from tests.layer.test_producer import FlakyKinesis, read_stream
from tributary import envelope, json_codec
from tributary.producer import MAX_RECORD_BYTES, Failure, Producer, Report

ROUTE = "POST /v1/records"


def record(i: int, **changes) -> dict:
    base = {
        "id": f"r-{i}",
        "type": "device.reading",
        "source": f"iot/s{i}",
        "time": "2026-11-22T10:00:00Z",
        "payload": {"device_id": f"s{i % 3}", "v": i},
    }
    base.update(changes)
    return base


@pytest.fixture
def stream(aws, monkeypatch):
    client = boto3.client("kinesis")
    client.create_stream(StreamName="events", ShardCount=1)
    monkeypatch.setenv("STREAM_NAME", "events")
    monkeypatch.setattr(handler, "_producer", None)
    return client


def call(event) -> tuple[int, dict]:
    response = handler.handle(event, None)
    assert response["headers"]["content-type"] == "application/json"
    return response["statusCode"], json.loads(response["body"])


def test_the_documented_request_is_answered_per_record(stream):
    status, body = call(load_event("http-api-post.json"))
    assert status == 207
    assert (body["accepted"], body["rejected"], body["failed"]) == (1, 1, 0)
    assert body["results"][0] == {"index": 0, "status": "accepted", "id": "r-1"}
    assert body["results"][1]["status"] == "rejected"
    assert body["results"][1]["reason"] == "bad_time"
    stored = [json.loads(d) for d in read_stream(stream)]
    assert [r["id"] for r in stored] == ["r-1"]


def test_json_array_all_valid(stream):
    status, body = call(http_api_event(ROUTE, json.dumps([record(i) for i in range(10)])))
    assert status == 200
    assert body["accepted"] == 10
    assert sorted(json.loads(d)["id"] for d in read_stream(stream)) == sorted(f"r-{i}" for i in range(10))


def test_ndjson_body_with_a_line_that_is_not_json(stream):
    body = "\n".join([json.dumps(record(1)), "{broken", json.dumps(record(2))]) + "\n"
    status, out = call(http_api_event(ROUTE, body, {"Content-Type": "application/x-ndjson"}))
    assert status == 207
    assert [r["status"] for r in out["results"]] == ["accepted", "rejected", "accepted"]
    assert out["results"][1]["reason"] == "not_json"


def test_base64_body(stream):
    status, _ = call(http_api_event(ROUTE, json.dumps([record(1)]).encode(), base64_body=True))
    assert status == 200


def test_time_is_normalised_before_it_is_stored(stream):
    call(http_api_event(ROUTE, json.dumps([record(1, time="2026-11-22T12:00:00+02:00")])))
    assert json.loads(read_stream(stream)[0])["time"] == "2026-11-22T10:00:00Z"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ("", 400, "empty_body"),
        ("   \n", 400, "empty_body"),
        ("[1, 2", 400, "bad_json"),
        ("[]", 400, "no_records"),
        ("x" * 2000, 413, "body_too_large"),
        (json.dumps([record(i) for i in range(6)]), 413, "too_many_records"),
    ],
)
def test_limits_and_unreadable_bodies_get_clear_4xx(stream, monkeypatch, body, status, code):
    monkeypatch.setenv("MAX_BODY_BYTES", "1500")
    monkeypatch.setenv("MAX_RECORDS", "5")
    got_status, out = call(http_api_event(ROUTE, body))
    assert (got_status, out["error"]) == (status, code)
    assert out["message"]
    assert read_stream(stream) == []


def test_all_rejected_is_400(stream):
    status, body = call(http_api_event(ROUTE, json.dumps([{"id": 1}, [2]])))
    assert status == 400
    assert [r["reason"] for r in body["results"]] == ["missing_field", "not_object"]


def test_records_kinesis_refuses_are_answered_failed_and_retryable(stream):
    flaky = FlakyKinesis(stream, fail_rate=1.0)
    producer = Producer("events", client=flaky, max_attempts=2, sleep=lambda s: None)
    status, body = ingest([record(1), record(2)], producer.send)
    assert status == 503
    assert all(r["status"] == "failed" and r["retryable"] for r in body["results"])
    assert read_stream(stream) == []


def test_limits_come_from_the_environment():
    assert Limits.from_env({"MAX_BODY_BYTES": "10", "MAX_RECORDS": "2"}) == Limits(10, 2)


def stored_ids(stream) -> list[str]:
    return sorted(json.loads(d)["id"] for d in read_stream(stream))


def event_with_headers(body: bytes | str, headers: dict[str, str], base64_body: bool = False) -> dict:
    """An event whose header names keep the case given (HTTP API lowercases them; other callers may not)."""
    event = http_api_event(ROUTE, body, base64_body=base64_body)
    event["headers"] = headers
    return event


def raw_record(
    i: int, payload: str = '{"device_id":"d"}', time: str = '"2026-11-22T10:00:00Z"', extra: str = ""
) -> str:
    """A record written by hand, for what json.dumps cannot write (NaN, 1e400, duplicate keys)."""
    return f'{{"id":"r-{i}","type":"t","source":"s",{extra}"time":{time},"payload":{payload}}}'


# One request holding a record of every kind that once failed the whole request.
HOSTILE = [
    (raw_record(0), "accepted"),
    (raw_record(1, payload='{"v":NaN}'), "not_json"),
    (raw_record(2, payload='{"v":-Infinity}'), "not_json"),
    (raw_record(3, payload='{"v":1e400}'), "not_json"),
    (raw_record(4, payload='{"v":"\\ud800"}'), "bad_unicode"),
    (raw_record(5, extra='"\\udc00 unknown":1,'), "bad_unicode"),
    (raw_record(6, time='"2026-11-22T10:00:00+24:00"'), "bad_time"),
    (raw_record(7, time='"9999-12-31T23:30:00-01:00"'), "bad_time"),
    (raw_record(8, time='"\\uff12026-11-22T10:00:00Z"'), "bad_time"),
    (raw_record(9, extra='"\\u00e9t\\u00e9":1,'), "unknown_field"),
    (raw_record(10), "accepted"),
]


@pytest.mark.parametrize(
    ("content_type", "join"),
    [
        ("application/json", lambda lines: "[" + ",".join(lines) + "]"),
        ("application/x-ndjson", lambda lines: "\n".join(lines) + "\n"),
    ],
    ids=["array", "ndjson"],
)
def test_every_record_gets_its_own_answer_whatever_it_holds(stream, content_type, join):
    body = join([text for text, _ in HOSTILE])
    status, out = call(http_api_event(ROUTE, body, {"content-type": content_type}))
    assert status == 207
    assert [r["index"] for r in out["results"]] == list(range(len(HOSTILE)))
    assert [r.get("reason", r["status"]) for r in out["results"]] == [expected for _, expected in HOSTILE]
    for result in out["results"]:
        if result["status"] == "rejected":
            assert isinstance(result["detail"], str)
            assert result["detail"].encode("utf-8")
            assert result["retryable"] is False
    assert stored_ids(stream) == ["r-0", "r-10"]


def test_a_lone_surrogate_in_an_unknown_key_puts_nothing_unanswered(stream):
    # The rejection's detail names the unknown key: it must still be writable as the answer.
    status, out = call(http_api_event(ROUTE, "[" + ",".join([raw_record(1), HOSTILE[5][0]]) + "]"))
    assert status == 207
    assert [r["status"] for r in out["results"]] == ["accepted", "rejected"]
    assert stored_ids(stream) == ["r-1"]


def test_the_response_is_written_whatever_the_body_holds():
    out = response(200, {"detail": "lone \ud800", "n": float("nan"), "thing": object(), "\udfff": [float("inf")]})
    body = json.loads(out["body"].encode("utf-8"))
    assert body["detail"] == "lone \\ud800"
    assert body["n"] is None


# A record stored as more than Kinesis's 1 MiB: "1e9" is written back as "1000000000.0".
GROWS = raw_record(1, payload='{"device_id":"d","n":[' + ",".join(["1e9"] * 90_000) + "]}")


def test_a_record_that_outgrows_the_kinesis_limit_is_rejected_not_retried(stream):
    assert len(GROWS) < DEFAULT_MAX_BODY_BYTES
    status, out = call(http_api_event(ROUTE, "[" + GROWS + "," + json.dumps(record(2)) + "]"))
    assert status == 207
    too_large = out["results"][0]
    assert (too_large["status"], too_large["reason"], too_large["retryable"]) == ("rejected", "too_large", False)
    assert out["results"][1]["status"] == "accepted"
    assert stored_ids(stream) == ["r-2"]


def test_nothing_accepted_and_nothing_retryable_is_400_not_503(stream):
    status, out = call(http_api_event(ROUTE, "[" + GROWS + "]"))
    assert status == 400
    assert out["results"][0]["reason"] == "too_large"
    assert read_stream(stream) == []


def sized(total: int) -> dict:
    """A record whose stored bytes plus its partition key come to ``total``."""
    item = record(1, payload={"device_id": "k", "pad": ""})
    stored = len(json_codec.dumps(envelope.validate(item).as_dict())) + len(b"k")
    item["payload"]["pad"] = "x" * (total - stored)
    return item


@pytest.mark.parametrize(("total", "status"), [(MAX_RECORD_BYTES, "accepted"), (MAX_RECORD_BYTES + 1, "rejected")])
def test_the_size_limit_counts_what_the_stream_receives(stream, monkeypatch, total, status):
    monkeypatch.setenv("MAX_BODY_BYTES", str(2 * MAX_RECORD_BYTES))
    _, out = call(http_api_event(ROUTE, json.dumps([sized(total)])))
    assert out["results"][0]["status"] == status
    assert len(read_stream(stream)) == (status == "accepted")


def refusing(retryable: list[bool]):
    """A ``send`` that stores nothing, each record refused retryably or not, as the producer reports it."""

    def send(entries):
        report = Report(records=len(entries))
        for entry, again in zip(entries, retryable, strict=True):
            code = "ProvisionedThroughputExceededException" if again else "InvalidRecord"
            report.failed.append(Failure(entry, code, "no", retryable=again))
        return report

    return send


def test_a_failure_the_producer_calls_permanent_is_a_permanent_answer():
    status, body = ingest([record(1), record(2)], refusing([False, False]))
    assert status == 400
    assert [(r["status"], r["reason"], r["retryable"]) for r in body["results"]] == [
        ("rejected", "InvalidRecord", False)
    ] * 2


def test_a_stream_the_service_cannot_write_is_its_fault_and_names_no_account(stream, monkeypatch):
    monkeypatch.setenv("STREAM_NAME", "no-such-stream")
    status, body = call(http_api_event(ROUTE, json.dumps([record(1), record(2)])))
    assert status == 503
    assert {(r["status"], r["reason"], r["retryable"]) for r in body["results"]} == {
        ("failed", "service_unavailable", True)
    }
    assert "123456789012" not in json.dumps(body)


def test_503_only_when_sending_again_could_help():
    status, body = ingest([record(1), record(2), {"id": 3}], refusing([True, False]))
    assert status == 503
    assert [r["status"] for r in body["results"]] == ["failed", "rejected", "rejected"]
    assert body["results"][0]["retryable"] is True


def pretty(item: dict) -> str:
    return json.dumps(item, indent="\t").replace("\n", "\r\n")


@pytest.mark.parametrize("content_type", ["application/json", "text/plain", None])
def test_a_body_that_is_one_object_is_one_record(stream, content_type):
    headers = {"content-type": content_type} if content_type else {}
    status, out = call(http_api_event(ROUTE, pretty(record(1)), headers))
    assert (status, len(out["results"])) == (200, 1)
    assert stored_ids(stream) == ["r-1"]


@pytest.mark.parametrize(
    "content_type",
    ["application/x-ndjson", "application/ndjson", "application/jsonl", "Application/X-NDJSON; charset=utf-8"],
)
def test_ndjson_is_split_when_the_content_type_says_so(stream, content_type):
    body = "\r\n".join(json.dumps(record(i)) for i in range(3)) + "\r\n\r\n"
    status, out = call(event_with_headers(body, {"Content-Type": content_type}))
    assert (status, out["accepted"]) == (200, 3)


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "application/octet-stream", "application/x-www-form-urlencoded"]
)
def test_unlabelled_ndjson_is_still_split(stream, content_type):
    headers = {"content-type": content_type} if content_type else {}
    body = "\n" + "\n".join([json.dumps(record(1)), raw_record(2, payload="{NaN}"), json.dumps(record(3))])
    status, out = call(http_api_event(ROUTE, body, headers))
    assert status == 207
    assert [r.get("reason", r["status"]) for r in out["results"]] == ["accepted", "not_json", "accepted"]


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (pretty(record(1)) + "\r\n" + pretty(record(2)), None),
        ("\n".join([json.dumps(record(1)), json.dumps(record(2))]), "application/json"),
        ("42", None),
        ('"a record"', "application/json"),
        ("{broken", "text/plain"),
        ("[1, 2]\n[3]", None),
    ],
    ids=["two-pretty-objects", "ndjson-labelled-json", "number", "string", "broken", "two-arrays"],
)
def test_a_body_that_is_none_of_the_accepted_shapes_is_bad_json(stream, body, content_type):
    headers = {"content-type": content_type} if content_type else {}
    status, out = call(http_api_event(ROUTE, body, headers))
    assert (status, out["error"]) == (400, "bad_json")
    assert read_stream(stream) == []


def ndjson_bytes(*items: dict) -> bytes:
    return "".join(json.dumps(item) + "\n" for item in items).encode()


@pytest.mark.parametrize("encoding", ["gzip", "GZIP", "x-gzip", "identity, gzip"])
def test_a_gzip_body_is_read(stream, encoding):
    body = gzip.compress(ndjson_bytes(record(1))) + gzip.compress(ndjson_bytes(record(2)))
    headers = {"Content-Type": "application/x-ndjson", "Content-Encoding": encoding}
    status, out = call(event_with_headers(body, headers, base64_body=True))
    assert (status, out["accepted"]) == (200, 2)
    assert stored_ids(stream) == ["r-1", "r-2"]


def test_a_body_that_inflates_past_the_limit_is_413_without_inflating_it_all(stream):
    bomb = gzip.compress(b"[" + b" " * (64 * DEFAULT_MAX_BODY_BYTES) + b"]", compresslevel=9)
    assert len(bomb) < DEFAULT_MAX_BODY_BYTES
    status, out = call(http_api_event(ROUTE, bomb, {"content-encoding": "gzip"}, base64_body=True))
    assert (status, out["error"]) == (413, "body_too_large")


@pytest.mark.parametrize(
    "body", [b"\x1f\x8b not gzip", gzip.compress(ndjson_bytes(record(1)))[:-6]], ids=["corrupt", "cut-short"]
)
def test_a_body_that_is_not_gzip_is_400(stream, body):
    status, out = call(http_api_event(ROUTE, body, {"content-encoding": "gzip"}, base64_body=True))
    assert (status, out["error"]) == (400, "bad_body")


@pytest.mark.parametrize("encoding", ["br", "deflate", "zstd", "compress", "gzip, br", "identity, deflate"])
def test_other_content_encodings_are_415(stream, encoding):
    status, out = call(http_api_event(ROUTE, json.dumps([record(1)]), {"content-encoding": encoding}))
    assert (status, out["error"]) == (415, "unsupported_encoding")
    assert read_stream(stream) == []


@pytest.mark.parametrize(
    ("content_type", "status"),
    [
        ("application/json; charset=utf-8", 200),
        ('application/json; Charset="UTF-8"', 200),
        ("application/json; charset=iso-8859-1", 415),
        ("application/x-ndjson;charset=utf-16", 415),
    ],
)
def test_only_utf_8_is_read(stream, content_type, status):
    got, out = call(event_with_headers(json.dumps([record(1)]), {"Content-Type": content_type}))
    assert got == status
    if status == 415:
        assert out["error"] == "unsupported_encoding"


@pytest.mark.parametrize("content_type", ["application/json", "application/x-ndjson"])
def test_a_body_that_is_not_utf_8_is_bad_json(stream, content_type):
    body = json.dumps(record(1, source="caf\u00e9"), ensure_ascii=False).encode("latin-1")
    status, out = call(http_api_event(ROUTE, body, {"content-type": content_type}, base64_body=True))
    assert (status, out["error"]) == (400, "bad_json")
