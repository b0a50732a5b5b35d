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
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stack.events import StreamRecord, kinesis_event, kinesis_stream_arn
from stream_processor.commit import commit
from stream_processor.dedupe import DIGEST_BYTES, ShardState, UnreadableStateError
from stream_processor.plan import plan_batch
from stream_processor.settings import Settings
from stream_processor.transform import enrich
from tests.examples import examples
from tributary import envelope, json_codec, kinesis, kpl, lake
from tributary_cli import synthetic

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


@settings(max_examples=examples(300), deadline=None)
@given(st.lists(base64_text, max_size=6))
def test_batch_decoding_agrees_with_decoding_record_by_record(datas):
    event = kinesis_event(
        [StreamRecord(b"", f"k{i}", str(100 + i), 1.5 + i) for i in range(len(datas))], SHARD, ARN, "eu-west-1"
    )
    for raw, data in zip(event["Records"], datas, strict=True):
        raw["kinesis"]["data"] = data
    assert kinesis.decode_batch(event["Records"]) == general_path(event["Records"])


def test_a_record_that_is_not_kinesis_still_raises():
    with pytest.raises(KeyError):
        kinesis.decode_batch([{"eventID": "x"}])
    with pytest.raises(TypeError):
        kinesis.decode_batch([{"kinesis": {"data": None, "sequenceNumber": "1"}}])


# --- the envelope ----------------------------------------------------------------------------

_TIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]{1,9})?"
    r"([Zz]|([+-])([0-9]{2}):([0-9]{2}))\Z"
)


def reference_time(value: str) -> str | None:
    """RFC 3339 read the plain way, with datetime's own arithmetic; None when it is not a valid time."""
    match = _TIME.match(value)
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    if hour > 23 or minute > 59 or second > 60:
        return None
    offset = timedelta(0)
    if match.group(9):
        oh, om = int(match.group(10)), int(match.group(11))
        if oh > 23 or om > 59:
            return None
        offset = timedelta(hours=oh, minutes=om) * (1 if match.group(9) == "+" else -1)
    try:
        local = datetime(year, month, day, hour, minute, min(second, 59), tzinfo=timezone(offset))
        utc = local.astimezone(UTC)
    except (ValueError, OverflowError):
        return None
    head = f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T{utc.hour:02d}:{utc.minute:02d}"
    if second == 60:
        return head + ":59.999999999Z" if (utc.hour, utc.minute) == (23, 59) else None
    return f"{head}:{utc.second:02d}{match.group(7) or ''}Z"


two = st.integers(0, 99).map(lambda n: f"{n:02d}")
times = st.builds(
    lambda y, mo, d, t, h, mi, s, frac, zone: f"{y:04d}-{mo}-{d}{t}{h}:{mi}:{s}{frac}{zone}",
    st.sampled_from([0, 1, 999, 1900, 2000, 2024, 2026, 9999]),
    two,
    two,
    st.sampled_from(["T", "t"]),
    two,
    two,
    st.one_of(two, st.just("60")),
    st.sampled_from(["", ".5", ".123456", ".1234567", ".123456789", ".1234567890"]),
    st.one_of(
        st.sampled_from(["Z", "z", "+02:00", "-11:30", "+00:00", "-00:00"]),
        st.builds(lambda sign, h, m: f"{sign}{h}:{m}", st.sampled_from("+-"), two, two),
    ),
)


@settings(max_examples=examples(1000), deadline=None)
@given(times)
def test_times_are_accepted_exactly_when_they_are_real(value):
    try:
        got = envelope.normalize_time(value)
    except envelope.EnvelopeError:
        got = None
    assert got == reference_time(value), value


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
    if reference_time(obj["time"]) is None if isinstance(obj["time"], str) else True:
        raise envelope.EnvelopeError("bad_time", "")
    return reference_time(obj["time"])


field_values = st.one_of(
    st.text(max_size=3), st.sampled_from(["", "x" * 128, "x" * 129, "x" * 257]), st.integers(), st.none(), st.just({})
)


@settings(max_examples=examples(500), deadline=None)
@given(
    st.fixed_dictionaries(
        {
            "id": field_values,
            "type": field_values,
            "source": field_values,
            "time": st.one_of(times, field_values),
            "payload": st.one_of(st.just({"a": 1}), field_values),
        },
        optional={"extra": st.just(1)},
    ).map(lambda d: {k: v for k, v in d.items() if not (k == "source" and v is None)})
)
def test_the_envelope_gives_the_same_reason_as_field_by_field(obj):
    def outcome(check):
        try:
            check(obj)
        except envelope.EnvelopeError as exc:
            return exc.reason
        return "ok"

    assert outcome(envelope.validate) == outcome(reference_validate)


# --- the dedupe state -------------------------------------------------------------------------


def reference_decisions(log, window_s, max_ids):
    """The dedupe rule over a whole shard, record by record, with every entry kept."""
    entries, decisions, newest = [], [], None
    for fingerprint, arrival in log:
        second = int(arrival)
        newest = second if newest is None else max(newest, second)
        recent = entries[max(0, len(entries) - max_ids) :]
        duplicate = any(fp == fingerprint and newest - s <= window_s for fp, s in recent)
        decisions.append(duplicate)
        if not duplicate:
            entries.append((fingerprint, newest))
    return decisions


@settings(max_examples=examples(150), deadline=None)
@given(st.integers(0, 2**32), st.integers(1, 80), st.sampled_from([(300.0, 1000), (50.0, 1000), (300.0, 7), (20.0, 5)]))
def test_decisions_do_not_depend_on_batches_checkpoints_or_retries(seed, n, limits):
    window_s, max_ids = limits
    rng = random.Random(seed)
    pool = [rng.randbytes(DIGEST_BYTES) for _ in range(max(2, n // 3))]  # ids recur, as resends do
    arrival, log = 1000.0, []
    for _ in range(n):
        arrival += rng.choice([0.0, 0.4, 3.0, 30.0, -2.0])  # arrival times are approximate
        log.append((rng.choice(pool), arrival))
    expected = reference_decisions(log, window_s, max_ids)
    blob, position, rounds = ShardState().encode(), 0, 0
    while position < n:
        rounds += 1
        assert rounds < 1000
        batch = list(range(position, min(n, position + rng.choice([1, 3, 8, 40]))))
        state = ShardState.decode(blob)
        if rng.random() < 0.5:
            state.index()  # a warm environment's carried index
        dedupe = state.batch(window_s, max_ids, batch[0])
        for i in batch:
            assert dedupe.check(log[i][0], i, log[i][1]) == expected[i], (i, rounds)
        outcome = rng.random()
        if outcome < 0.2:
            continue  # a crash before the state write: retried from the same place
        checkpoint = rng.choice(batch) if outcome < 0.5 else None
        updated = dedupe.state_before(checkpoint, batch[-1] + 1)
        if updated is not None:
            assert updated.index() == ShardState.decode(updated.encode()).index()
            assert ShardState.decode(updated.encode()) == updated
            blob = updated.encode()
        if outcome > 0.9:
            continue  # a crash after the state write: Lambda delivers the same batch again
        position = checkpoint if checkpoint is not None else batch[-1] + 1


def test_the_state_keeps_what_a_later_record_can_match_and_no_more_than_a_window_beyond():
    dedupe = ShardState().batch(window_s=50.0, max_ids=35, start=0)
    state = None
    for n in range(8):  # ten ids a batch, one batch every 10 s
        for i in range(10):
            dedupe.check(bytes([n, i]) * (DIGEST_BYTES // 2), 10 * n + i, 1000.0 + 10 * n)
        state = dedupe.state_before(None, 10 * n + 10)
        dedupe = ShardState.decode(state.encode()).batch(50.0, 35, start=10 * n + 10)
    assert state is not None
    # From the last batch's start (ordinal 70), the last 35 ids reach back into the batch of
    # 1030 s: it and the newer ones are kept.
    assert [w.first for w in state.windows] == [30, 40, 50, 60, 70]
    assert (state.next_ordinal, state.newest_second) == (80, 1070)


def test_a_version_1_state_is_read_and_an_unreadable_one_is_refused():
    windows = [[1000.5, base64.b64encode(b"a" * 32).decode()]]
    old = gzip.compress(json.dumps({"version": 1, "windows": windows}).encode())
    state = ShardState.decode(old)
    assert (state.next_ordinal, state.newest_second, len(state.index())) == (2, 1000, 1)
    damaged = [
        b"not gzip",
        gzip.compress(b'{"version": 3}'),
        gzip.compress(b"[]"),
        gzip.compress(b'{"version":2}'),
        gzip.compress(b'{"version":2,"next":1e999,"newest":null,"windows":[]}'),
        gzip.compress(b'{"version":1,"windows":[[1e999,""]]}'),
        gzip.compress(b"[" * 100_000 + b"]" * 100_000),
        # A run of -1 entries, and a next ordinal that does not follow the last window.
        gzip.compress(
            b'{"version":2,"next":0,"newest":5,"windows":[["1","2",0,"","[[5,-1],[5,1]]",null,5]]}'.replace(
                b'"[[5,-1],[5,1]]"', b"[[5,-1],[5,1]]"
            )
        ),
        gzip.compress(
            b'{"version":2,"next":9,"newest":5,"windows":[["1","2",0,"'
            + base64.b64encode(b"a" * 16)
            + b'",[[5,1]],null,5]]}'
        ),
    ]
    for blob in damaged:
        with pytest.raises(UnreadableStateError):
            ShardState.decode(blob)


# --- the whole batch, with either JSON backend ------------------------------------------------


def lake_objects(records, settings_):
    event = kinesis_event(records, SHARD, ARN, "eu-west-1")
    objects = {}
    dedupe = ShardState().batch(300.0, 1000, save=lambda state: None)
    outcome = commit(
        plan_batch(event["Records"], settings_, enrich, dedupe),
        lambda key, body, meta: objects.__setitem__(key, body),
        settings_,
        dedupe,
    )
    assert outcome.checkpoint is None
    return {key: [json.loads(line) for line in lake.gunzip_bytes(body).splitlines()] for key, body in objects.items()}


def test_the_lake_holds_the_same_records_with_orjson_and_with_the_standard_library(monkeypatch):
    generated = list(synthetic.generate(300, seed=4, malformed=0.1, start=1_795_338_005.0))
    records = [
        StreamRecord(r.data, r.device_id, str(10**20 + i), 1_795_338_005.0 + i / 10) for i, r in enumerate(generated)
    ]
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
    assert [r["reason"] for r in refused] == ["not_json"]  # NaN is not JSON, whichever parser reads it
