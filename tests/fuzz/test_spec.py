"""The oracle itself: spec.py against the specification's own examples, and the generators against the oracle.

These tests do not run the processor; they make sure a failure in test_stream_processor.py
means the processor is wrong, not the reading of the rules.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from hypothesis import given

from tests.fuzz import spec
from tests.fuzz import strategies as gen
from tests.fuzz.strategies import Raw, envelope


@pytest.mark.parametrize(
    ("value", "utc"),
    [
        ("2026-11-22T10:15:30.123Z", "2026-11-22T10:15:30.123Z"),
        ("2026-11-22t10:15:30z", "2026-11-22T10:15:30Z"),
        ("2026-11-22T10:15:30.123456789+02:00", "2026-11-22T08:15:30.123456789Z"),
        ("2026-11-22T00:15:30-00:00", "2026-11-22T00:15:30Z"),
        ("2026-11-22T23:30:00-01:00", "2026-11-23T00:30:00Z"),
        ("2026-03-01T00:30:00+01:00", "2026-02-28T23:30:00Z"),
        ("2024-03-01T00:30:00+23:59", "2024-02-29T00:31:00Z"),
        ("2026-12-31T23:59:60Z", "2026-12-31T23:59:59.999999999Z"),
        ("2027-01-01T00:59:60.5+01:00", "2026-12-31T23:59:59.999999999Z"),
        ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00Z"),
        ("0001-01-01T01:00:00+01:00", "0001-01-01T00:00:00Z"),
        ("9999-12-31T23:59:59.9Z", "9999-12-31T23:59:59.9Z"),
        ("9999-12-31T22:59:59-01:00", "9999-12-31T23:59:59Z"),
    ],
)
def test_valid_times_in_utc(value, utc):
    assert spec.utc_time(value) == utc


@pytest.mark.parametrize(
    "value",
    [
        "2026-11-22T10:15:30+24:00",
        "2026-11-22T10:15:30+99:99",
        "2026-11-22T10:15:30-23:60",
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-01:00",
        "0000-01-01T00:00:00Z",
        "2026-11-22T1\N{DEVANAGARI DIGIT ZERO}:15:30Z",
        "2026-11-\N{FULLWIDTH DIGIT TWO}2T10:15:30Z",
        "2026-12-31T12:00:60Z",
        "2026-12-31T23:59:60+01:00",
        "2026-11-22T10:15:30.1234567890Z",
        "2026-02-29T00:00:00Z",
        "1900-02-29T00:00:00Z",
        "2026-11-22T24:00:00Z",
        "2026-11-22T10:15:30Z\n",
        "2026-11-22T10:15:30",
        "2026-11-22 10:15:30Z",
    ],
)
def test_invalid_times(value):
    assert spec.utc_time(value) is None


@given(gen.good_times())
def test_generated_good_times_are_good_and_agree_with_datetime(value):
    utc = spec.utc_time(value)
    assert utc is not None, value
    text = re.sub(r"(\.[0-9]{6})[0-9]+", r"\1", value.upper().replace("Z", "+00:00")).replace(":60", ":59")
    expected = datetime.fromisoformat(text).astimezone(UTC)
    assert utc[:16] == f"{expected.year:04d}-{expected:%m-%dT%H:%M}"


def _doc(**fields) -> bytes:
    return gen.encode(envelope(0, **fields))


@pytest.mark.parametrize(
    ("data", "reasons"),
    [
        (_doc(payload={"v": Raw("NaN")}), {"not_json"}),
        (_doc(payload={"v": Raw("-Infinity")}), {"not_json"}),
        (_doc(payload={"v": Raw("1e400")}), {"not_json"}),
        (_doc(payload={"v": gen.digits(4301)}), {"not_json"}),
        (_doc(payload={"v": gen.nested(5000)}), {"not_json"}),
        (_doc(id="a\ud800"), {"bad_unicode"}),
        (_doc(payload={"\udc00": 1}), {"bad_unicode"}),
        (gen.encode(envelope(0).with_pair("x\ud800", 1)), {"bad_unicode", "unknown_field"}),
        (_doc(time="2026-11-22T10:15:30+24:00"), {"bad_time"}),
        (_doc(time=5), {"bad_time", "bad_type"}),
        (_doc(id=""), {"empty_field"}),
        (_doc(source="s" * 257), {"too_long"}),
        (_doc(payload=[]), {"bad_type"}),
        (gen.encode(envelope(0).without("payload")), {"missing_field"}),
        (b"[]", {"not_object"}),
        (b"\xff{}", {"not_json"}),
        (b"", {"not_json"}),
    ],
)
def test_bad_records_and_their_reasons(data, reasons):
    verdict = spec.judge(data)
    assert (verdict.kind, verdict.reasons) == ("bad", frozenset(reasons))


@pytest.mark.parametrize(
    "data",
    [
        _doc(payload={"v": gen.digits(4300), "w": gen.digits(38), "f": 1e308, "deep": gen.nested(98)}),
        _doc(id="\U0001f600" * 128),
        gen.encode(envelope(0, payload={"e": "\U0001f600"}), gen.Style(escape="all", upper_hex=True)),
        gen.encode(envelope(0).with_pair("id", "r#0~0")),
        b"\n " + _doc() + b"\r\n",
    ],
)
def test_good_records(data):
    assert spec.judge(data).kind == "good"


def test_repeated_keys_the_last_wins_unless_it_changes_validity():
    assert spec.judge(gen.encode(envelope(0).with_pair("id", "r#0~0"))).id == "r#0~0"
    assert spec.judge(gen.encode(envelope(0).with_pair("payload", []))).kind == "either"
    assert spec.judge(gen.encode(envelope(0).with_pair("payload", {"a": "\ud800"}))).kind == "either"
    assert spec.judge(gen.encode(envelope(0).with_pair("extra", 1).with_pair("extra", 2))).reasons == {"unknown_field"}


def test_depth_between_the_limits_is_left_open():
    assert spec.judge(_doc(payload={"v": gen.nested(200)})).kind == "either"
    assert spec.judge(_doc(payload={"v": gen.nested(98)})).kind == "good"


def test_size_limit():
    assert spec.judge(b"x" * 11, max_record_bytes=10).reasons == {"oversize"}
    assert spec.judge(gen.pad_to(envelope(0), 4096, gen.Style()), 4096).kind == "good"
    assert len(gen.pad_to(envelope(0), 4096, gen.Style(escape="all"))) == 4096


def test_kinesis_records_and_aggregates():
    good, bad = _doc(), b"not json"
    key, blob = gen.aggregate([("a", good, None), ("b", bad, "123")])
    users = spec.judge_kinesis(gen.b64(blob), key)
    assert [(u.partition_key, u.subsequence, u.verdict.kind) for u in users] == [("a", 0, "good"), ("b", 1, "bad")]
    assert spec.judge_kinesis("not base64!", "k")[0].verdict.reasons == {"bad_base64"}
    assert spec.judge_kinesis("not base64!", "k")[0].data == b"not base64!"
    assert spec.judge_kinesis(gen.b64(blob[:-1] + b"\x00"), "k")[0].verdict.reasons == {"kpl_digest_mismatch"}
    assert spec.judge_kinesis(gen.b64(gen.MAGIC + b"\x01"), "k")[0].verdict.reasons == {"kpl_truncated"}
    for malformed in gen.malformed_aggregates():
        assert spec.judge_kinesis(gen.b64(malformed), "k")[0].verdict.reasons == {"kpl_malformed"}
    member = spec.judge_kinesis(gen.b64(gen.aggregate([("a", gen.MAGIC + b"{}", None)])[1]), "k")[0]
    assert member.verdict.reasons == {"not_json"}


def test_ingest_time():
    assert spec.ingest_time(1545084650.987) == "2018-12-17T22:10:50.987Z"
    assert spec.ingest_time(1_795_345_199.999) == "2026-11-22T10:59:59.999Z"
    assert spec.ingest_time(1607497475.0) == "2020-12-09T07:04:35.000Z"


@given(gen.shards(max_puts=6, max_record_bytes=4096, resends=3, resend_reach=5))
def test_generated_shards_keep_resends_within_reach_and_ids_unique(shard):
    seen: dict[str, int] = {}
    for index, (put, users) in enumerate(zip(shard.puts, shard.users, strict=True)):
        if put.resend_of is not None:
            original = shard.puts[put.resend_of]
            assert (put.data, put.partition_key) == (original.data, original.partition_key)
            assert shard.user_count(put.resend_of, index + 1) <= 5
            assert put.arrival - original.arrival < 60
        for user in users:
            if user.verdict.kind == "good":
                seen.setdefault(user.verdict.id, index)
                assert seen[user.verdict.id] == index or put.resend_of is not None
    assert [int(p.sequence_number) for p in shard.puts] == sorted({int(p.sequence_number) for p in shard.puts})
