from __future__ import annotations

import gzip
import io
import json
import logging

import pytest

from tributary import json_codec, lake, logs, metrics


def test_json_loads_says_why():
    assert json_codec.loads(b'{"a": [1, 2.5, "x"]}') == {"a": [1, 2.5, "x"]}
    with pytest.raises(json_codec.JsonError, match="not UTF-8"):
        json_codec.loads(b"\xff\xfe")
    with pytest.raises(json_codec.JsonError, match="not JSON"):
        json_codec.loads(b'{"a": 1} trailing')
    with pytest.raises(json_codec.JsonError, match="nested too deeply"):
        json_codec.loads(b"[" * 100_000 + b"]" * 100_000)


def test_dumps_is_compact_and_refuses_nan():
    assert json_codec.dumps({"b": 1, "a": "é"}) == '{"b":1,"a":"é"}'.encode()
    with pytest.raises(ValueError, match="Out of range"):
        json_codec.dumps({"x": float("nan")})


def test_canonical_sorts_keys():
    assert json_codec.canonical({"b": 1, "a": {"d": 1, "c": 2}}) == b'{"a":{"c":2,"d":1},"b":1}'


def test_ndjson_gzip_round_trip_and_is_deterministic():
    objects = [{"i": i, "s": "x" * i} for i in range(50)]
    body = lake.encode_ndjson(objects)
    assert body.count(b"\n") == 50
    assert body.endswith(b"\n")
    packed = lake.gzip_bytes(body)
    assert packed == lake.gzip_bytes(body)  # no timestamp in the header
    assert gzip.decompress(packed) == body
    assert lake.decode_ndjson(lake.gunzip_bytes(packed)) == objects


def test_partition_prefix_is_hive_style():
    assert lake.partition_prefix("events", "2026-11-22T07:59:59.999Z") == "events/dt=2026-11-22/hour=07/"


def test_json_logger_writes_one_object_per_line(capsys):
    log = logs.get_logger("test-json-logger")
    log.info("batch", extra={"received": 3, "reasons": {"not_json": 1}})
    line = capsys.readouterr().out.strip()
    entry = json.loads(line)
    assert entry["message"] == "batch"
    assert entry["level"] == "INFO"
    assert entry["received"] == 3
    assert entry["reasons"] == {"not_json": 1}
    assert entry["time"].endswith("Z")


def test_json_logger_includes_exceptions(capsys):
    log = logs.get_logger("test-json-logger-exc")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        log.exception("failed")
    entry = json.loads(capsys.readouterr().out.strip())
    assert "RuntimeError: boom" in entry["exception"]
    assert logging.getLogger("test-json-logger-exc").propagate is False


def test_emf_line_declares_every_metric():
    stream = io.StringIO()
    metrics.emit({"RecordsReceived": 10, "RecordsWritten": 9}, {"Function": "f"}, stream=stream)
    document = json.loads(stream.getvalue())
    directive = document["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "tributary"
    assert directive["Dimensions"] == [["Function"]]
    assert {m["Name"] for m in directive["Metrics"]} == {"RecordsReceived", "RecordsWritten"}
    assert document["RecordsReceived"] == 10
    assert document["Function"] == "f"
    assert isinstance(document["_aws"]["Timestamp"], int)
