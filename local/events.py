"""Lambda event shapes exactly as AWS delivers them, built from plain values.

The test fixtures and the local runtime both build their events here, so a handler
sees the same field names, encodings and types in both places.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass

DEFAULT_ACCOUNT = "123456789012"


@dataclass(frozen=True, slots=True)
class StreamRecord:
    """One record read from a Kinesis shard."""

    data: bytes
    partition_key: str
    sequence_number: str
    arrival: float


def kinesis_stream_arn(stream: str, region: str, account: str = DEFAULT_ACCOUNT) -> str:
    return f"arn:aws:kinesis:{region}:{account}:stream/{stream}"


def kinesis_event(
    records: Iterable[StreamRecord],
    shard_id: str,
    stream_arn: str,
    region: str,
    role_arn: str = f"arn:aws:iam::{DEFAULT_ACCOUNT}:role/lambda-role",
) -> dict:
    """A Kinesis event as the event source mapping sends it to the function."""
    return {
        "Records": [
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": r.partition_key,
                    "sequenceNumber": r.sequence_number,
                    "data": base64.b64encode(r.data).decode("ascii"),
                    "approximateArrivalTimestamp": r.arrival,
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": f"{shard_id}:{r.sequence_number}",
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": role_arn,
                "awsRegion": region,
                "eventSourceARN": stream_arn,
            }
            for r in records
        ]
    }
