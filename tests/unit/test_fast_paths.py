"""Each shortcut on the processor's hot path gives exactly what the plain way gives.

The plain ways are kept here as references: decoding one Kinesis record through its typed
view, checking a time by parsing every number, the envelope field by field, rebuilding
the dedupe index from every window, and encoding the dedupe state in one piece.
"""

from __future__ import annotations

import base64
import gzip
import json
import random
import re
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from local.events import StreamRecord, kinesis_event, kinesis_stream_arn
from stream_processor.dedupe import DIGEST_BYTES, ShardState
from stream_processor.processor import Settings, commit, plan_batch
from stream_processor.transform import enrich
from tributary import envelope, json_codec, kinesis, kpl, lake, synthetic

SHARD = "shardId-000000000001"
ARN = kinesis_stream_arn("events", "eu-west-1")


# --- Kinesis records ------------------------------------------------------------------------

def general_path(raw_records):
    good, bad = [], []
    for raw in raw_records:
        users, rejected = kinesis.decode_record(kinesis.KinesisRecord.from_event(raw))
        good.extend(users)
        bad.extend(rejected)
    return good, bad


base64_text = st.one_of(
    st.binary(max_size=30).map(lambda b: base64.b64encode(b).decode()),
    st.text(alphabet="ABCDab01+/=", max_size=12),
    st.text(max_size=8),
    st.binary(max_size=30).map(lambda b: base64.b64encode(b).decode().rstrip("=")),
    st.just(base64.b64encode(kpl.encode([("a", b"1"), ("b", b"2")])).decode()),
    st.just(base64.b64encode(kpl.MAGIC + b"\x00" * 30).decode()),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(base64_text, max_size=6))
def test_batch_decoding_agrees_with_decoding_record_by_record(datas):
    event = kinesis_event([StreamRecord(b"", f"k{i}", str(100 + i), 1.5 + i) for i in range(len(datas))],
                          SHARD, ARN, "eu-west-1")
    for raw, data in zip(event["Records"], datas, strict=True):
        raw["kinesis"]["data"] = data
    assert kinesis.decode_batch(event["Records"]) == general_path(event["Records"])


def test_a_record_that_is_not_kinesis_still_raises():
    with pytest.raises(KeyError):
        kinesis.decode_batch([{"eventID": "x"}])
    with pytest.raises(TypeError):
        kinesis.decode_batch([{"kinesis": {"data": None, "sequenceNumber": "1"}}])


# --- the envelope ----------------------------------------------------------------------------

_TIME = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})\Z")


def reference_time_is_valid(value: str) -> bool:
    match = _TIME.match(value)
    if match is None:
        return False
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    try:
        date(year, month, day)
    except ValueError:
        return False
    return hour <= 23 and minute <= 59 and second <= 59


two = st.integers(0, 99).map(lambda n: f"{n:02d}")
times = st.builds(
    lambda y, mo, d, h, mi, s, frac, zone: f"{y:04d}-{mo}-{d}T{h}:{mi}:{s}{frac}{zone}",
    st.sampled_from([0, 1, 1900, 2000, 2024, 2026, 9999]), two, two, two, two, two,
    st.sampled_from(["", ".5", ".123456"]), st.sampled_from(["Z", "+02:00", "-11:30"]),
)


@settings(max_examples=500, deadline=None)
@given(times)
def test_times_are_accepted_exactly_when_they_are_real(value):
    try:
        envelope.normalize_time(value)
        accepted = True
    except envelope.EnvelopeError:
        accepted = False
    assert accepted == reference_time_is_valid(value), value


def reference_validate(obj):
    """The envelope checked field by field, the way it was first written."""
    if not isinstance(obj, dict):
        raise envelope.EnvelopeError("not_object", "")
    if len(obj) != len(envelope.FIELDS) or any(f not in obj for f in envelope.FIELDS):
        if [f for f in envelope.FIELDS if f not in obj]:
            raise envelope.EnvelopeError("missing_field", "")
        raise envelope.EnvelopeError("unknown_field", "")
    if not isinstance(obj["payload"], dict):
        raise envelope.EnvelopeError("bad_type", "")
    for name in ("id", "type", "source"):
        value = obj.get(name)
        if not isinstance(value, str):
            raise envelope.EnvelopeError("bad_type", "")
        if not value:
            raise envelope.EnvelopeError("empty_field", "")
        if len(value) > envelope.MAX_LENGTHS[name]:
            raise envelope.EnvelopeError("too_long", "")
    return envelope.normalize_time(obj["time"])


field_values = st.one_of(st.text(max_size=3), st.sampled_from(["", "x" * 128, "x" * 129, "x" * 257]),
                         st.integers(), st.none(), st.just({}))


@settings(max_examples=500, deadline=None)
@given(st.fixed_dictionaries(
    {"id": field_values, "type": field_values, "source": field_values,
     "time": st.one_of(times, field_values), "payload": st.one_of(st.just({"a": 1}), field_values)},
    optional={"extra": st.just(1)},
).map(lambda d: {k: v for k, v in d.items() if not (k == "source" and v is None)}))
def test_the_envelope_gives_the_same_reason_as_field_by_field(obj):
    def outcome(check):
        try:
            check(obj)
        except envelope.EnvelopeError as exc:
            return exc.reason
        return "ok"

    assert outcome(envelope.validate) == outcome(reference_validate)


# --- the dedupe state -------------------------------------------------------------------------

def reference_index(state: ShardState) -> set[bytes]:
    return {blob[i:i + DIGEST_BYTES] for _, blob in state.windows for i in range(0, len(blob), DIGEST_BYTES)}


def reference_encoding(state: ShardState) -> bytes:
    document = {"version": 1, "windows": [[until, base64.b64encode(blob).decode("ascii")]
                                          for until, blob in state.windows]}
    return json.dumps(document, separators=(",", ":")).encode()


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 2**32), st.integers(1, 25))
def test_the_carried_index_and_encoding_match_a_rebuilt_state(seed, batches):
    rng = random.Random(seed)
    state = ShardState()
    pool = [rng.randbytes(DIGEST_BYTES) for _ in range(40)]  # ids recur, as resends do
    now = 1000.0
    for _ in range(batches):
        if rng.random() < 0.7:
            state.contains(b"")  # a warm environment has looked ids up
        now += rng.choice([1.0, 30.0, 200.0])
        fingerprints = rng.sample(pool, rng.randint(0, 8))
        updated = state.copy()
        updated.add(now, fingerprints, window_s=300.0, max_ids=rng.choice([10, 25, 1000]))
        before = list(state.windows)
        encoded = updated.encode()
        assert state.windows == before  # the copy is independent
        assert gzip.decompress(encoded) == reference_encoding(updated)
        assert ShardState.decode(encoded) == updated
        for fingerprint in pool:
            assert updated.contains(fingerprint) == (fingerprint in reference_index(updated))
        state = updated if rng.random() < 0.8 else ShardState.decode(encoded)


def test_the_state_remembers_the_window_or_the_id_cap_whichever_reaches_back_less_far():
    def batch(n):
        return [bytes([n, i]) * (DIGEST_BYTES // 2) for i in range(10)]

    # Ten ids a batch, one batch every 10 s; remember 50 s but at most 35 ids.
    state = ShardState()
    for n in range(8):
        state.add(1000.0 + 10 * n, batch(n), window_s=50.0, max_ids=35)
    # The cap bites first: the newest whole batches that fit in 35 ids, so 30 ids (50 s would hold 60).
    assert [until for until, _ in state.windows] == [1050.0, 1060.0, 1070.0]
    assert all(state.contains(fp) for n in (5, 6, 7) for fp in batch(n))
    assert not any(state.contains(fp) for fp in batch(4))
    # A quiet shard: the window bites first.
    quiet = ShardState()
    for n in range(8):
        quiet.add(1000.0 + 30 * n, batch(n), window_s=50.0, max_ids=1000)
    assert [until for until, _ in quiet.windows] == [1180.0, 1210.0]


# --- the whole batch, with either JSON backend ------------------------------------------------

def lake_objects(records, settings_):
    event = kinesis_event(records, SHARD, ARN, "eu-west-1")
    objects = {}
    state = ShardState()
    outcome = commit(plan_batch(event["Records"], settings_, enrich, state.contains),
                     lambda key, body, meta: objects.__setitem__(key, body), settings_,
                     lambda fps, newest: state.add(newest, fps, 300.0, 1000))
    assert outcome.checkpoint is None
    return {key: [json.loads(line) for line in lake.gunzip_bytes(body).splitlines()] for key, body in objects.items()}


def test_the_lake_holds_the_same_records_with_orjson_and_with_the_standard_library(monkeypatch):
    generated = list(synthetic.generate(300, seed=4, malformed=0.1, start=1_795_338_005.0))
    records = [StreamRecord(r.data, r.device_id, str(10**20 + i), 1_795_338_005.0 + i / 10)
               for i, r in enumerate(generated)]
    # Numbers the compiled parser would round, and values only the standard library reads.
    extra = [
        b'{"id":"big","type":"t","source":"s","time":"2026-11-22T09:00:06Z","payload":{"n":123456789012345678901234567890}}',
        b'{"id":"nan","type":"t","source":"s","time":"2026-11-22T09:00:06Z","payload":{"n":NaN}}',
        b'{"id":"small","type":"t","source":"s","time":"2026-11-22T09:00:06Z","payload":{"x":1e-7,"y":null}}',
    ]
    records += [StreamRecord(data, "k", str(10**21 + i), 1_795_338_100.0) for i, data in enumerate(extra)]
    settings_ = Settings(bucket="lake", compression_level=6)
    with_orjson = lake_objects(records, settings_)
    monkeypatch.setattr(json_codec, "_orjson", None)
    with_stdlib = lake_objects(records, settings_)
    assert with_orjson == with_stdlib
    written = [r for lines in with_orjson.values() for r in lines]
    assert any(r.get("payload", {}).get("n") == 123456789012345678901234567890 for r in written)
    refused = [r for r in written if "reason" in r and base64.b64decode(r["raw_base64"]) == extra[1]]
    assert [r["reason"] for r in refused] == ["transform_error"]  # NaN cannot be written as JSON
