"""Lambda event shapes exactly as AWS delivers them, built from plain values.

The test fixtures and the local runtime both build their events here, so a handler
sees the same field names, encodings and types in both places.
"""

from __future__ import annotations

import base64
import hashlib
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


def http_api_event(
    route_key: str,
    body: bytes | str,
    headers: dict[str, str] | None = None,
    base64_body: bool = False,
    region: str = "eu-west-1",
    account: str = DEFAULT_ACCOUNT,
    api_id: str = "api1234567",
    request_id: str = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
    time_epoch_ms: int = 1_790_000_000_000,
) -> dict:
    """An API Gateway HTTP API request (payload format 2.0) as the Lambda proxy integration sends it."""
    method, path = route_key.split(" ", 1)
    raw = body.encode("utf-8") if isinstance(body, str) else body
    headers = {k.lower(): v for k, v in (headers or {}).items()}
    headers.setdefault("content-length", str(len(raw)))
    return {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": account,
            "apiId": api_id,
            "domainName": f"{api_id}.execute-api.{region}.amazonaws.com",
            "domainPrefix": api_id,
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "192.0.2.1",
                "userAgent": "tributary-tests",
            },
            "requestId": request_id,
            "routeKey": route_key,
            "stage": "$default",
            "time": "22/Nov/2026:10:00:00 +0000",
            "timeEpoch": time_epoch_ms,
            "authorizer": {
                "iam": {
                    "accountId": account,
                    "callerId": "AIDACKCEVSQ6C2EXAMPLE",
                    "userArn": f"arn:aws:iam::{account}:user/producer",
                }
            },
        },
        "body": base64.b64encode(raw).decode("ascii") if base64_body else raw.decode("utf-8"),
        "isBase64Encoded": base64_body,
    }


def dynamodb_stream_record(
    event_name: str,
    keys: dict,
    sequence_number: str,
    new_image: dict | None = None,
    old_image: dict | None = None,
    created: float = 1_795_342_530.0,
    stream_arn: str = f"arn:aws:dynamodb:eu-west-1:{DEFAULT_ACCOUNT}:table/table1/stream/2026-11-22T00:00:00.000",
    region: str = "eu-west-1",
    event_id: str | None = None,
) -> dict:
    """One DynamoDB stream record as Lambda delivers it (NEW_AND_OLD_IMAGES; images in the
    JSON AttributeValue form, binary as base64)."""
    body: dict = {
        "ApproximateCreationDateTime": created,
        "Keys": keys,
        "SequenceNumber": sequence_number,
        "SizeBytes": len(repr((keys, new_image, old_image))),
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    if new_image is not None:
        body["NewImage"] = new_image
    if old_image is not None:
        body["OldImage"] = old_image
    return {
        "eventID": event_id
        or hashlib.md5(f"{sequence_number}/{event_name}".encode(), usedforsecurity=False).hexdigest(),
        "eventName": event_name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": region,
        "dynamodb": body,
        "eventSourceARN": stream_arn,
    }


def dynamodb_event(records: Iterable[dict]) -> dict:
    """The event the DynamoDB Streams event source mapping sends."""
    return {"Records": list(records)}
