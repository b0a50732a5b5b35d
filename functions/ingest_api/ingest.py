"""HTTP ingest: a request body of records in, per-record results out. Pure except for ``put``."""

from __future__ import annotations

import base64
import binascii
import codecs
import math
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tributary import envelope, json_codec
from tributary.json_codec import printable
from tributary.producer import INVALID_RECORD, MAX_RECORD_BYTES, Entry, Failure, Report

DEFAULT_MAX_BODY_BYTES = 1_048_576
DEFAULT_MAX_RECORDS = 500

NDJSON_TYPES = frozenset(
    {
        "application/x-ndjson",
        "application/ndjson",
        "application/jsonl",
        "application/x-jsonl",
        "application/jsonlines",
        "application/x-jsonlines",
    }
)
_UTF8 = frozenset({"utf-8", "utf8"})
_GZIP = frozenset({"gzip", "x-gzip"})
_GZIP_WBITS = 16 + zlib.MAX_WBITS
_SHAPES = "send a JSON array of records, one record object, or NDJSON (one record per line)"


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
        self.message = printable(message, 300)


def request_headers(event: Mapping[str, Any]) -> dict[str, str]:
    """The request's headers by lowercased name (HTTP API lowercases them; a test or a proxy may not)."""
    return {str(name).lower(): str(value) for name, value in (event.get("headers") or {}).items()}


def body_bytes(event: Mapping[str, Any], content_encoding: str, limits: Limits) -> bytes:
    """The request body as bytes: base64 undone (API Gateway's way with binary bodies), gzip inflated."""
    body = event.get("body") or ""
    if not isinstance(body, str):
        raise RequestError(400, "bad_body", "the body is not text")
    if event.get("isBase64Encoded"):
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise RequestError(400, "bad_body", "the body is marked base64 but is not") from None
    else:
        # surrogatepass: a lone surrogate becomes bytes that are not UTF-8, answered 400, not a 500 here.
        raw = body.encode("utf-8", "surrogatepass")
    if len(raw) > limits.max_body_bytes:
        raise RequestError(413, "body_too_large", f"the body is {len(raw)} bytes; the limit is {limits.max_body_bytes}")
    codings = [c.strip().lower() for c in content_encoding.split(",") if c.strip()]
    unsupported = [c for c in codings if c != "identity" and c not in _GZIP]
    if unsupported:
        raise RequestError(
            415, "unsupported_encoding", f"content-encoding {', '.join(unsupported)}: only gzip (or none) is accepted"
        )
    for coding in reversed(codings):  # the last coding listed is the one applied last
        if coding in _GZIP:
            raw = _gunzip(raw, limits.max_body_bytes)
    if not raw.strip():
        raise RequestError(400, "empty_body", _SHAPES)
    return raw


def _gunzip(data: bytes, limit: int) -> bytes:
    """Inflate every gzip member of ``data``, never more than ``limit`` + 1 bytes: a small bomb stays small."""
    out = bytearray()
    while data:
        inflater = zlib.decompressobj(_GZIP_WBITS)
        try:
            out += inflater.decompress(data, limit + 1 - len(out))
        except zlib.error as exc:
            raise RequestError(400, "bad_body", f"the body is not gzip: {exc}") from None
        if len(out) > limit:
            raise RequestError(413, "body_too_large", f"the body inflates to more than the limit of {limit} bytes")
        if not inflater.eof:
            raise RequestError(400, "bad_body", "the gzip body is cut short")
        data = inflater.unused_data
    return bytes(out)


def parse_records(raw: bytes, content_type: str, limits: Limits) -> list[Any]:
    """The records of a body: a JSON array, one JSON object, or NDJSON (a line that is not JSON is kept as an error).

    A body that is not I-JSON is read again leniently (NaN, lone surrogates), so that one bad
    record is answered alone rather than refusing the request; ``judge`` applies I-JSON's rules
    to each record read that way.
    """
    media_type, charset = _media_type(content_type)
    if charset is not None and charset not in _UTF8:
        raise RequestError(415, "unsupported_encoding", f"charset {charset}: only utf-8 is accepted")
    raw = raw.removeprefix(codecs.BOM_UTF8)  # RFC 8259 section 8.1 lets a reader ignore one
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RequestError(400, "bad_json", f"the body is not UTF-8 ({exc.reason} at byte {exc.start})") from None
    records = _lines(raw) if media_type in NDJSON_TYPES else _document(raw, media_type)
    if not records:
        raise RequestError(400, "no_records", "the body holds no records")
    if len(records) > limits.max_records:
        raise RequestError(413, "too_many_records", f"{len(records)} records; at most {limits.max_records} per request")
    return records


def _media_type(content_type: str) -> tuple[str, str | None]:
    """The media type, lowercased, and the charset parameter if there is one."""
    media_type, *parameters = content_type.split(";")
    charset = None
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"').lower()
    return media_type.strip().lower(), charset


def _document(raw: bytes, media_type: str) -> list[Any]:
    try:
        value, checked = json_codec.loads(raw), True
    except json_codec.JsonError:
        try:
            value, checked = json_codec.loads(raw, strict=False), False
        except json_codec.JsonError as exc:
            # Callers have long sent NDJSON without saying so; a body labelled JSON must be one document.
            if not _is_json_type(media_type) and _first_line_is_object(raw):
                return _lines(raw)
            raise RequestError(400, "bad_json", f"the body is not one JSON document ({exc}); {_SHAPES}") from None
    if isinstance(value, list):
        return [_Checked(item) for item in value] if checked else value
    if isinstance(value, dict):
        return [_Checked(value) if checked else value]
    raise RequestError(400, "bad_json", f"the body is a JSON value that is neither an array nor an object; {_SHAPES}")


def _is_json_type(media_type: str) -> bool:
    return media_type == "application/json" or media_type.endswith("+json")


def _first_line_is_object(raw: bytes) -> bool:
    for line in raw.splitlines():
        if line.strip():
            try:
                return isinstance(json_codec.loads(line, strict=False), dict)
            except json_codec.JsonError:
                return False
    return False


def _lines(raw: bytes) -> list[Any]:
    # bytes.splitlines breaks at \n, \r and \r\n only, none of which a JSON text holds unescaped.
    return [_line(line) for line in raw.splitlines() if line.strip()]


def _line(line: bytes) -> Any:
    try:
        return _Checked(json_codec.loads(line))
    except json_codec.JsonError:
        pass
    try:
        return json_codec.loads(line, strict=False)
    except json_codec.JsonError as exc:
        return _Unparsed(exc.reason, str(exc))


@dataclass(frozen=True, slots=True)
class _Checked:
    """A value the strict parser read, so already I-JSON: checking it again would only cost time."""

    value: Any


@dataclass(frozen=True, slots=True)
class _Unparsed:
    reason: str
    detail: str


def partition_key(record: envelope.Envelope) -> str:
    """The device id when the payload has one, else the source: one device stays on one shard."""
    device = record.payload.get("device_id")
    return str(device)[:256] if isinstance(device, (str, int)) and str(device) else record.source[:256]


def judge(index: int, item: Any) -> tuple[dict[str, Any], Entry | None]:
    """One record's answer, and the entry to put if it is accepted."""
    if isinstance(item, _Unparsed):
        return _rejected(index, item.reason, item.detail), None
    try:
        if isinstance(item, _Checked):
            item = item.value
        else:
            json_codec.check(item)
        record = envelope.validate(item)
    except json_codec.JsonError as exc:
        return _rejected(index, exc.reason, str(exc)), None
    except envelope.EnvelopeError as exc:
        return _rejected(index, exc.reason, exc.detail), None
    try:
        data = json_codec.dumps(record.as_dict())
    except (TypeError, ValueError, RecursionError):
        return _rejected(index, "not_json", "the record cannot be written back as JSON"), None
    entry = Entry(data, partition_key(record))
    if entry.size > MAX_RECORD_BYTES:
        # Measured as stored, not as sent: "1e9" is written back as "1000000000.0".
        return _rejected(
            index,
            "too_large",
            f"{entry.size} bytes as stored, with its partition key; Kinesis takes at most {MAX_RECORD_BYTES}",
        ), None
    # The id has just been written as part of ``data``, so the answer holding it can be written too.
    return {"index": index, "status": "accepted", "id": record.id}, entry


def _rejected(index: int, reason: str, detail: str) -> dict[str, Any]:
    return {
        "index": index,
        "status": "rejected",
        "reason": reason,
        "detail": printable(detail, 300),
        "retryable": False,
    }


def _unsent(index: int, failure: Failure) -> dict[str, Any]:
    reason = printable(str(failure.error_code), 100)
    if failure.retryable:
        return {
            "index": index,
            "status": "failed",
            "reason": reason,
            "detail": "not stored; send this record again",
            "retryable": True,
        }
    if failure.error_code == INVALID_RECORD:
        return _rejected(index, reason, f"not stored, and sending it again will not help: {failure.error_message}")
    # The stream refused the whole call for the service's own reasons (no such stream, access
    # denied, a KMS key): the record is fine and the caller can send it again once that is
    # mended. What Kinesis said names the account, so it goes to the function's log only.
    return {
        "index": index,
        "status": "failed",
        "reason": "service_unavailable",
        "detail": "not stored: the service cannot write to its stream now; send this record again later",
        "retryable": True,
    }


def ingest(records: list[Any], send: Callable[[list[Entry]], Report]) -> tuple[int, dict[str, Any]]:
    """Judge every record, then send the accepted ones, and say what happened to each.

    Nothing is sent until every record has its answer, so a record in the stream is always one
    the caller is told was accepted.
    """
    results: list[dict[str, Any]] = []
    pending: list[tuple[int, Entry]] = []
    for index, item in enumerate(records):
        result, entry = judge(index, item)
        results.append(result)
        if entry is not None:
            pending.append((index, entry))
    if pending:
        report = send([entry for _, entry in pending])
        failures = {id(f.entry): f for f in report.failed}
        for index, entry in pending:
            failure = failures.get(id(entry))
            if failure is not None:
                results[index] = _unsent(index, failure)
    counts = {status: sum(1 for r in results if r["status"] == status) for status in ("accepted", "rejected", "failed")}
    return status_code(counts, len(results)), {**counts, "results": results}


def status_code(counts: Mapping[str, int], total: int) -> int:
    """200 all accepted, 207 some, else 503 if sending again could help and 400 if it cannot."""
    if counts["accepted"] == total:
        return 200
    if counts["accepted"]:
        return 207
    return 503 if counts["failed"] else 400


def response(status: int, body: Mapping[str, Any]) -> dict[str, Any]:
    """The HTTP API (payload 2.0) response; whatever ``body`` holds, it is written as JSON."""
    try:
        text = json_codec.dumps(body).decode("utf-8")
    except (TypeError, ValueError, RecursionError):
        # After a put, failing to write the answer would hide from the caller what was stored.
        text = json_codec.dumps(_writable(body)).decode("utf-8")
    return {"statusCode": status, "headers": {"content-type": "application/json"}, "body": text}


def _writable(value: Any) -> Any:
    """``value`` with what JSON cannot hold replaced: lone surrogates escaped, NaN as null, other types as text."""
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, str):
        return printable(value, len(value))
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {printable(str(k), 200): _writable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_writable(v) for v in value]
    return printable(repr(value), 200)
