"""HTTP ingest: a request body of records in, per-record results out. Pure except for ``put``."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tributary import envelope, json_codec
from tributary.producer import Entry, Report

DEFAULT_MAX_BODY_BYTES = 1_048_576
DEFAULT_MAX_RECORDS = 500


@dataclass(frozen=True, slots=True)
class Limits:
    """Request limits, from the function's environment."""

    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_records: int = DEFAULT_MAX_RECORDS

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Limits:
        return cls(
            max_body_bytes=int(env.get("MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES)),
            max_records=int(env.get("MAX_RECORDS", DEFAULT_MAX_RECORDS)),
        )


class RequestError(Exception):
    """A request refused as a whole, with the HTTP status and a message for the caller."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def body_bytes(event: Mapping[str, Any], limits: Limits) -> bytes:
    """The request body as bytes (API Gateway base64-encodes binary bodies)."""
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise RequestError(400, "bad_body", "the body is marked base64 but is not") from None
    else:
        raw = body.encode("utf-8")
    if len(raw) > limits.max_body_bytes:
        raise RequestError(413, "body_too_large",
                           f"the body is {len(raw)} bytes; the limit is {limits.max_body_bytes}")
    if not raw.strip():
        raise RequestError(400, "empty_body", "send a JSON array of records or NDJSON, one record per line")
    return raw


def parse_records(raw: bytes, content_type: str, limits: Limits) -> list[Any]:
    """A JSON array, or NDJSON (one record per line; a line that is not JSON is kept as an error)."""
    stripped = raw.lstrip()
    if "ndjson" not in content_type and "jsonl" not in content_type and stripped[:1] == b"[":
        try:
            records = json_codec.loads(raw)
        except json_codec.JsonError as exc:
            raise RequestError(400, "bad_json", f"the body is not a JSON array: {exc}") from None
        if not isinstance(records, list):
            raise RequestError(400, "bad_json", "the body is not a JSON array")
    else:
        records = []
        for line in raw.splitlines():
            if line.strip():
                try:
                    records.append(json_codec.loads(line))
                except json_codec.JsonError as exc:
                    records.append(_Unparsed(str(exc)))
    if not records:
        raise RequestError(400, "no_records", "the body holds no records")
    if len(records) > limits.max_records:
        raise RequestError(413, "too_many_records",
                           f"{len(records)} records; at most {limits.max_records} per request")
    return records


@dataclass(frozen=True, slots=True)
class _Unparsed:
    error: str


def partition_key(record: envelope.Envelope) -> str:
    """The device id when the payload has one, else the source: one device stays on one shard."""
    device = record.payload.get("device_id")
    return str(device)[:256] if isinstance(device, (str, int)) and str(device) else record.source[:256]


def ingest(records: list[Any], send: Callable[[list[Entry]], Report]) -> tuple[int, dict[str, Any]]:
    """Validate every record, send the valid ones, and say what happened to each."""
    results: list[dict[str, Any]] = []
    valid: list[tuple[int, Entry]] = []
    for index, item in enumerate(records):
        if isinstance(item, _Unparsed):
            results.append({"index": index, "status": "rejected", "reason": "not_json", "detail": item.error})
            continue
        try:
            record = envelope.validate(item)
        except envelope.EnvelopeError as exc:
            results.append({"index": index, "status": "rejected", "reason": exc.reason, "detail": exc.detail})
            continue
        valid.append((index, Entry(json_codec.dumps(record.as_dict()), partition_key(record))))
        results.append({"index": index, "status": "accepted", "id": record.id})
    if valid:
        report = send([entry for _, entry in valid])
        failed = {id(f.entry): f for f in report.failed}
        for index, entry in valid:
            failure = failed.get(id(entry))
            if failure is not None:
                results[index] = {"index": index, "status": "failed", "reason": failure.error_code,
                                  "detail": "not stored; send this record again", "retryable": True}
    counts = {status: sum(1 for r in results if r["status"] == status) for status in ("accepted", "rejected", "failed")}
    if counts["accepted"] == len(results):
        status = 200
    elif counts["accepted"] == 0 and counts["failed"]:
        status = 503
    elif counts["accepted"] == 0:
        status = 400
    else:
        status = 207
    return status, {**counts, "results": results}


def response(status: int, body: Mapping[str, Any]) -> dict[str, Any]:
    """The HTTP API (payload 2.0) response."""
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json"},
        "body": json_codec.dumps(body).decode("utf-8"),
    }
