from __future__ import annotations

import json

import boto3
import pytest
from ingest_api import handler
from ingest_api.ingest import Limits, ingest

from local.events import http_api_event
from tests.conftest import load_event
from tests.unit.test_producer import FlakyKinesis, read_stream
from tributary.producer import Producer

ROUTE = "POST /v1/records"


def record(i: int, **changes) -> dict:
    base = {"id": f"r-{i}", "type": "device.reading", "source": f"iot/s{i}", "time": "2026-11-22T10:00:00Z",
            "payload": {"device_id": f"s{i % 3}", "v": i}}
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
