"""API Gateway HTTP API → Kinesis. Thin shell: request in, ``ingest`` out, per-record results back."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from tributary import logs, metrics, tracing
from tributary.producer import Entry, Producer, Report

from .ingest import Limits, RequestError, body_bytes, ingest, parse_records, request_headers, response

log = logs.get_logger("ingest_api")
_producer: Producer | None = None


def _send(entries: list[Entry]) -> Report:
    global _producer
    if _producer is None:
        # Few, short retries: the caller is waiting and can resend what failed.
        _producer = Producer(os.environ["STREAM_NAME"], max_attempts=3, base_delay=0.05, max_delay=0.5)
    report = _producer.send(entries)
    if report.fatal:
        log.error("the stream refused the request", extra={"error": report.fatal})
    return report


def handle(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """Lambda entry point for the HTTP API route."""
    tracing.init()
    limits = Limits.from_env(os.environ)
    headers = request_headers(event)
    try:
        with tracing.phase("parse"):
            raw = body_bytes(event, headers.get("content-encoding", ""), limits)
            records = parse_records(raw, headers.get("content-type", ""), limits)
    except RequestError as exc:
        log.info("request refused", extra={"status": exc.status, "code": exc.code})
        return response(exc.status, {"error": exc.code, "message": exc.message})
    with tracing.phase("ingest", records=len(records)):
        status, body = ingest(records, _send)
    counts = {k: body[k] for k in ("accepted", "rejected", "failed")}
    log.info("request", extra={"status": status, **counts})
    metrics.publish(
        {"RecordsAccepted": body["accepted"], "RecordsRejected": body["rejected"], "RecordsFailed": body["failed"]},
        "ingest_api",
    )
    return response(status, body)
