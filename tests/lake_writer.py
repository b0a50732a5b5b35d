"""Lake objects as the stream processor writes them: its own plan and commit over Kinesis events,
putting into a real (moto) bucket, so the compactor and the query engine read what production
writes."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterable, Mapping
from typing import Any

from stack.events import StreamRecord, kinesis_event, kinesis_stream_arn
from stream_processor.commit import commit
from stream_processor.plan import plan_batch
from stream_processor.settings import Settings
from stream_processor.transform import enrich
from tributary import json_codec, lake

BUCKET = "tributary-lake-test"
SETTINGS = Settings(bucket=BUCKET, prefix="events", quarantine_prefix="quarantine", compression_level=1)
ARN = kinesis_stream_arn("events", "eu-west-1")
_sequence = itertools.count(10**20, 7)


def envelope(record_id: str, time: str, payload: Any = None) -> bytes:
    return json_codec.dumps(
        {"id": record_id, "type": "reading", "source": "device/1", "time": time, "payload": payload or {"n": 1}}
    )


def land(
    s3: Any,
    envelopes: Iterable[bytes],
    shard: str = "shardId-000000000000",
    arrival: float = 1.8e9,
    codec: str = "gzip",
) -> list[str]:
    """Put ``envelopes`` through the stream processor as one batch (objects in ``codec``); the keys it wrote."""
    chosen = lake.codec(codec)
    settings = dataclasses.replace(SETTINGS, codec=chosen)
    records = [StreamRecord(data, "pk", str(next(_sequence)), arrival) for data in envelopes]
    written: list[str] = []

    def put(key: str, body: bytes, metadata: Mapping[str, str]) -> None:
        s3.put_object(Bucket=BUCKET, Key=key, Body=body, Metadata=dict(metadata))
        written.append(key)

    event = kinesis_event(records, shard, ARN, "eu-west-1")
    outcome = commit(plan_batch(event["Records"], settings, enrich), put, settings)
    assert outcome.checkpoint is None
    return written


def create_bucket(s3: Any) -> None:
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
