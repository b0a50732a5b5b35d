"""The design tributary is measured against: what a first stream-to-S3 Lambda usually looks like.

Per record: decode, ``json.loads``, add where it came from, ``json.dumps``, one S3
PutObject. No validation beyond parsing, no batching, no compression. It is here only to
be measured; nothing in tributary runs it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Mapping
from typing import Any


def objects(event: Mapping[str, Any]) -> Iterator[tuple[str, bytes]]:
    """(key, body) of the object the naive design writes for each parseable record of an event."""
    for raw in event["Records"]:
        kinesis = raw["kinesis"]
        try:
            record = json.loads(base64.b64decode(kinesis["data"]))
        except ValueError:
            continue
        if not isinstance(record, dict):
            continue
        shard_id = raw["eventID"].split(":", 1)[0]
        record["shard_id"] = shard_id
        record["sequence_number"] = kinesis["sequenceNumber"]
        record["ingest_time"] = kinesis["approximateArrivalTimestamp"]
        yield f"naive/{shard_id}/{kinesis['sequenceNumber']}.json", json.dumps(record).encode("utf-8")


def handle(event: Mapping[str, Any], s3: Any, bucket: str) -> int:
    """Write each parseable record of a Kinesis event as its own object; return how many."""
    written = 0
    for key, body in objects(event):
        s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")
        written += 1
    return written


def body_bytes(event: Mapping[str, Any]) -> int:
    """The bytes the naive design stores for an event (what ``handle`` would put), without the puts."""
    return sum(len(body) for _, body in objects(event))
