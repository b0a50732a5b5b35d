"""Kinesis events captured from AWS (tests/events/powertools/) through the real stream processor under moto.

None of them holds an envelope: their records are the bad input a misrouted producer sends
(plain text, a CloudWatch Logs subscription's gzip, a JSON object of another shape). Each
must be quarantined, once, with its reason, its raw bytes and its Kinesis arrival time, and
the batch must succeed.
"""

from __future__ import annotations

import base64
import gzip
import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import boto3
import pytest

from stream_processor import handler
from tests.conftest import EVENTS, REGION

BUCKET = "lake"
FUNCTION = json.loads((Path(__file__).parents[2] / "functions/stream_processor/function.json").read_text())
SAMPLES = sorted((EVENTS / "powertools").glob("kinesis*.json"))
# What each sample's records are, in event order.
REASONS = {
    "kinesisStreamCloudWatchLogsEvent.json": ["not_json", "not_json"],  # gzip bytes are not UTF-8
    "kinesisStreamEvent.json": ["not_json", "not_json"],  # "Hello, this is a test."
    "kinesisStreamEventOneRecord.json": ["missing_field"],  # {"message": ..., "username": ...}
    "kinesisStreamTumblingWindowEvent.json": ["not_json"],
}


def arrival_time(timestamp: float) -> str:
    """approximateArrivalTimestamp (seconds, to the millisecond) as RFC 3339 UTC with milliseconds."""
    millis = int((Decimal(repr(timestamp)) * 1000).to_integral_value())
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=millis)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{millis % 1000:03d}Z"


@pytest.fixture
def lake(aws, monkeypatch):
    for name, value in FUNCTION["environment"].items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("LAKE_BUCKET", BUCKET)
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    handler.reset()
    yield s3
    handler.reset()


def read_back(s3, prefix: str) -> list[tuple[str, dict]]:
    """(key, line) for every NDJSON line under ``prefix``/."""
    out = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix + "/"):
        for item in page.get("Contents", []):
            body = gzip.decompress(s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read())
            out.extend((item["Key"], json.loads(line)) for line in body.splitlines())
    return out


def test_every_kinesis_sample_is_listed():
    assert [p.name for p in SAMPLES] == sorted(REASONS)


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.stem)
def test_a_captured_kinesis_event_is_quarantined_record_by_record(lake, sample):
    event = json.loads(sample.read_text())
    records = {r["kinesis"]["sequenceNumber"]: r for r in event["Records"]}
    assert handler.handle(event, None) == {"batchItemFailures": []}

    written = read_back(lake, FUNCTION["environment"]["LAKE_PREFIX"])
    quarantined = read_back(lake, FUNCTION["environment"]["QUARANTINE_PREFIX"])
    assert written == []
    assert Counter(line["sequence_number"] for _, line in quarantined) == Counter(list(records))
    by_sequence = {line["sequence_number"]: (key, line) for key, line in quarantined}
    assert [by_sequence[r["kinesis"]["sequenceNumber"]][1]["reason"] for r in event["Records"]] == REASONS[sample.name]
    for sequence, (key, line) in by_sequence.items():
        record = records[sequence]
        arrived = arrival_time(record["kinesis"]["approximateArrivalTimestamp"])
        assert line["detail"]
        assert base64.b64decode(line["raw_base64"]) == base64.b64decode(record["kinesis"]["data"])
        assert line["ingest_time"] == arrived
        assert key.startswith(f"quarantine/dt={arrived[:10]}/hour={arrived[11:13]}/")
        assert line["shard_id"] == record["eventID"].split(":", 1)[0]
        assert line["subsequence"] is None
        assert line["partition_key"] == record["kinesis"]["partitionKey"]


def test_the_quarantine_keeps_a_cloudwatch_logs_delivery_readable(lake):
    event = json.loads((EVENTS / "powertools/kinesisStreamCloudWatchLogsEvent.json").read_text())
    assert handler.handle(event, None) == {"batchItemFailures": []}
    for _, line in read_back(lake, "quarantine"):
        document = json.loads(gzip.decompress(base64.b64decode(line["raw_base64"])))
        assert document["messageType"] == "DATA_MESSAGE"
        assert document["logEvents"]
