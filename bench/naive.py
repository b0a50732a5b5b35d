"""The design tributary is measured against: what a first stream-to-S3 Lambda usually looks like.

Per record: decode, ``json.loads``, add where it came from, ``json.dumps``, one S3
PutObject. No validation beyond parsing, no batching, no compression. It is here only to
be measured; nothing in tributary runs it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any


def handle(event: Mapping[str, Any], s3: Any, bucket: str) -> int:
    """Write each parseable record of a Kinesis event as its own object; return how many."""
    written = 0
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
        s3.put_object(
            Bucket=bucket,
            Key=f"naive/{shard_id}/{kinesis['sequenceNumber']}.json",
            Body=json.dumps(record).encode("utf-8"),
            ContentType="application/json",
        )
        written += 1
    return written


def body_bytes(event: Mapping[str, Any]) -> int:
    """The bytes the naive design stores for an event (what ``handle`` would put), without the puts."""
    total = 0
    for raw in event["Records"]:
        kinesis = raw["kinesis"]
        try:
            record = json.loads(base64.b64decode(kinesis["data"]))
        except ValueError:
            continue
        if not isinstance(record, dict):
            continue
        record["shard_id"] = raw["eventID"].split(":", 1)[0]
        record["sequence_number"] = kinesis["sequenceNumber"]
        record["ingest_time"] = kinesis["approximateArrivalTimestamp"]
        total += len(json.dumps(record).encode("utf-8"))
    return total
