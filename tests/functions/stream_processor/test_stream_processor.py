from __future__ import annotations

import base64
import json
import random
from collections import Counter
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stack.events import StreamRecord, kinesis_event, kinesis_stream_arn
from stream_processor.commit import commit
from stream_processor.dedupe import ShardState
from stream_processor.plan import plan_batch
from stream_processor.records import RecordMeta, ingest_time
from stream_processor.settings import Settings
from stream_processor.transform import TransformError, enrich
from tests.examples import examples
from tributary import json_codec, kpl, lake

SETTINGS = Settings(
    bucket="lake", prefix="events", quarantine_prefix="quarantine", max_record_bytes=4096, compression_level=1
)
SHARD = "shardId-000000000000"
ARN = kinesis_stream_arn("events", "eu-west-1")


class Crash(BaseException):
    """The function dies mid-batch (timeout, out of memory): nothing after it runs."""


class FakeS3:
    """An in-memory bucket whose puts fail when ``fail`` says so."""

    def __init__(self, fail: Callable[[str, int], BaseException | None] | None = None) -> None:
        self.objects: dict[str, bytes] = {}
        self.metadata: dict[str, dict[str, str]] = {}
        self.calls = 0
        self.fail = fail

    def put(self, key: str, body: bytes, metadata) -> None:
        self.calls += 1
        error = self.fail(key, self.calls) if self.fail else None
        if error is not None:
            raise error
        self.objects[key] = body
        self.metadata[key] = dict(metadata)

    def lines(self, prefix: str) -> list[dict]:
        return [
            json.loads(line)
            for key, body in sorted(self.objects.items())
            if key.startswith(prefix + "/")
            for line in lake.gunzip_bytes(body).splitlines()
        ]


def envelope(i: int, hour: int, device: str = "d1") -> bytes:
    return json_codec.dumps(
        {
            "id": f"r-{i}",
            "type": "device.reading",
            "source": f"device/{device}",
            "time": f"2026-11-22T{hour:02d}:{i % 60:02d}:00Z",
            "payload": {"i": i},
        }
    )


def shard_log(n: int, hours: int = 3, start: int = 1000) -> list[StreamRecord]:
    """n good records whose event times cycle over ``hours`` partitions, interleaved."""
    return [
        StreamRecord(envelope(i, i % hours), f"d{i % 7}", str(start + i * 3), 1_790_000_000.0 + i) for i in range(n)
    ]


class FakeState:
    """The dedupe state of one shard, stored as the handler stores it (encoded), failing on request."""

    def __init__(
        self, fail: Callable[[], bool] = lambda: False, window_s: float = 300.0, max_ids: int = 100_000
    ) -> None:
        self.blob = ShardState().encode()
        self.fail = fail
        self.window_s = window_s
        self.max_ids = max_ids

    def load(self) -> ShardState:
        return ShardState.decode(self.blob)

    def save(self, state: ShardState) -> None:
        if self.fail():
            raise OSError("state write failed")
        self.blob = state.encode()


def run(records: list[StreamRecord], s3: FakeS3, transform=enrich, state: FakeState | None = None):
    event = kinesis_event(records, SHARD, ARN, "eu-west-1")
    if state is None:
        return commit(plan_batch(event["Records"], SETTINGS, transform), s3.put, SETTINGS)
    dedupe = state.load().batch(state.window_s, state.max_ids, int(records[0].sequence_number), save=state.save)
    plan = plan_batch(event["Records"], SETTINGS, transform, dedupe)
    outcome = commit(plan, s3.put, SETTINGS, dedupe)
    assert outcome.balanced
    return outcome


def assert_exactly_once(s3: FakeS3, log: list[StreamRecord], by_id: bool = False) -> None:
    if by_id:
        written = Counter(r["id"] for r in s3.lines("events"))
        expected = Counter({json.loads(r.data)["id"]: 1 for r in log})
    else:
        written = Counter((r["sequence_number"], r.get("subsequence")) for r in s3.lines("events"))
        expected = Counter((r.sequence_number, None) for r in log)
    assert written == expected, {
        "duplicated": [k for k, v in written.items() if v > 1],
        "lost": [k for k in expected if k not in written],
    }


def test_a_batch_lands_once_per_partition_and_accounts_for_every_record():
    s3 = FakeS3()
    log = shard_log(30, hours=3)
    outcome = run(log, s3)
    assert outcome.checkpoint is None
    assert outcome.batch_item_failures() == {"batchItemFailures": []}
    assert (outcome.received, outcome.written, outcome.quarantined, outcome.filtered, outcome.retried) == (
        30,
        30,
        0,
        0,
        0,
    )
    assert sorted(k.rsplit("/", 1)[0] for k in s3.objects) == [
        "events/dt=2026-11-22/hour=00",
        "events/dt=2026-11-22/hour=01",
        "events/dt=2026-11-22/hour=02",
    ]
    assert_exactly_once(s3, log)
    line = s3.lines("events")[0]
    assert set(line) == {"id", "type", "source", "time", "payload", "ingest_time", "shard_id", "sequence_number"}
    assert line["shard_id"] == SHARD
    assert line["ingest_time"] == ingest_time(1_790_000_000.0)


def test_a_retried_batch_rewrites_the_same_keys_with_the_same_bytes():
    s3 = FakeS3()
    log = shard_log(20)
    run(log, s3)
    before = dict(s3.objects)
    run(log, s3)
    assert s3.objects == before


def test_keys_are_derived_from_shard_and_first_record():
    s3 = FakeS3()
    log = shard_log(6, hours=2)
    run(log, s3)
    for key, meta in s3.metadata.items():
        first = int(meta["first-sequence"])
        assert key.endswith(f"/{SHARD}-{first:056d}-00000.ndjson.gz")
        assert int(meta["last-sequence"]) >= first


def bad_records() -> list[tuple[StreamRecord | dict, str]]:
    good = json.loads(envelope(1, 1))
    return [
        ({"data": "%%%not-base64%%%"}, "bad_base64"),
        (StreamRecord(b"\xff\xfe\xfd", "k", "", 0), "not_json"),
        (StreamRecord(b"{not json", "k", "", 0), "not_json"),
        (StreamRecord(b"[1,2]", "k", "", 0), "not_object"),
        (StreamRecord(json_codec.dumps({**good, "time": "soon"}), "k", "", 0), "bad_time"),
        (StreamRecord(json_codec.dumps({k: v for k, v in good.items() if k != "source"}), "k", "", 0), "missing_field"),
        (StreamRecord(json_codec.dumps({**good, "payload": {"x": "y" * 5000}}), "k", "", 0), "oversize"),
        (StreamRecord(kpl.MAGIC + b"\x00" * 40, "k", "", 0), "kpl_digest_mismatch"),
    ]


def test_every_kind_of_bad_record_is_quarantined_with_its_reason_and_raw_bytes():
    records, raw_overrides, reasons = [], {}, []
    for i, (item, reason) in enumerate(bad_records()):
        seq = str(5000 + i)
        if isinstance(item, dict):
            raw_overrides[seq] = item["data"]
            item = StreamRecord(b"", "k", seq, 1_790_000_000.0)
        records.append(StreamRecord(item.data, item.partition_key, seq, 1_790_000_000.0))
        reasons.append(reason)
    event = kinesis_event(records, SHARD, ARN, "eu-west-1")
    for raw in event["Records"]:
        if raw["kinesis"]["sequenceNumber"] in raw_overrides:
            raw["kinesis"]["data"] = raw_overrides[raw["kinesis"]["sequenceNumber"]]
    s3 = FakeS3()
    outcome = commit(plan_batch(event["Records"], SETTINGS, enrich), s3.put, SETTINGS)
    assert outcome.checkpoint is None
    assert (outcome.received, outcome.written, outcome.quarantined) == (len(records), 0, len(records))
    quarantined = s3.lines("quarantine")
    assert sorted(q["reason"] for q in quarantined) == sorted(reasons)
    by_seq = {q["sequence_number"]: q for q in quarantined}
    for record in records:
        entry = by_seq[record.sequence_number]
        assert entry["detail"]
        assert entry["shard_id"] == SHARD
        if record.sequence_number in raw_overrides:
            assert base64.b64decode(entry["raw_base64"]) == raw_overrides[record.sequence_number].encode()
        else:
            assert base64.b64decode(entry["raw_base64"]) == record.data
    assert all(k.startswith("quarantine/dt=") for k in s3.objects)


def test_aggregated_records_are_split_and_keep_their_subsequence():
    inner = [("d1", envelope(1, 4)), ("d2", envelope(2, 4)), ("d3", b"not json")]
    records = [StreamRecord(kpl.encode(inner), "d1", "7000", 1_790_000_000.0)]
    s3 = FakeS3()
    outcome = run(records, s3)
    assert (outcome.received, outcome.written, outcome.quarantined) == (3, 2, 1)
    assert [(r["sequence_number"], r["subsequence"]) for r in s3.lines("events")] == [("7000", 0), ("7000", 1)]
    assert s3.lines("quarantine")[0]["subsequence"] == 2


def test_transform_can_filter_and_its_errors_quarantine():
    def transform(record, meta: RecordMeta):
        i = record["payload"]["i"]
        if i % 3 == 0:
            return None
        if i % 3 == 1:
            raise TransformError("i is not allowed")
        if i == 5:
            raise KeyError("surprise")
        return enrich(record, meta)

    s3 = FakeS3()
    outcome = run(shard_log(9), s3, transform)
    assert (outcome.received, outcome.written, outcome.quarantined, outcome.filtered) == (9, 2, 4, 3)
    reasons = Counter(q["reason"] for q in s3.lines("quarantine"))
    assert reasons == {"transform_rejected": 3, "transform_error": 1}


def test_a_transform_may_hash_its_meta_but_cannot_move_its_record_to_another_shard():
    seen = set()

    def transform(record, meta: RecordMeta):
        seen.add(meta)  # a pure transform may cache by it
        if record["payload"]["i"] % 2:
            meta.shard_id = "shardId-999999999999"  # type: ignore[misc]
        return enrich(record, meta)

    s3 = FakeS3()
    outcome = run(shard_log(6), s3, transform)
    assert (outcome.written, outcome.quarantined) == (3, 3)
    assert {q["reason"] for q in s3.lines("quarantine")} == {"transform_error"}
    assert not any("999999999999" in key for key in s3.objects)
    assert len(seen) == 6


@pytest.mark.parametrize("failing_write", range(4))
def test_failure_on_the_kth_partition_write_checkpoints_exactly(failing_write):
    """Four interleaved partitions; the k-th write fails once; the retry from the checkpoint
    leaves every record in the lake exactly once."""
    log = shard_log(40, hours=4)
    failed = set()

    def fail(key, call):
        if call == failing_write + 1 and key not in failed:
            failed.add(key)
            return OSError("S3 is unavailable")
        return None

    s3 = FakeS3(fail)
    outcome = run(log, s3)
    assert outcome.checkpoint is not None
    assert outcome.received == outcome.written + outcome.quarantined + outcome.filtered + outcome.retried
    checkpoint = int(outcome.checkpoint)
    # Everything before the checkpoint is in the lake exactly once ...
    lines = s3.lines("events")
    before = Counter(r["sequence_number"] for r in lines if int(r["sequence_number"]) < checkpoint)
    assert before == Counter(r.sequence_number for r in log if int(r.sequence_number) < checkpoint)
    # ... and a record at or after it is only in an object that starts at or after it,
    # whose key the retry (which starts at the checkpoint) rewrites.
    for key, meta in s3.metadata.items():
        if int(meta["last-sequence"]) >= checkpoint:
            assert int(meta["first-sequence"]) >= checkpoint, key
    # Lambda retries from the checkpoint.
    rest = [r for r in log if int(r.sequence_number) >= checkpoint]
    assert run(rest, s3).checkpoint is None
    assert_exactly_once(s3, log)


def simulate(log, s3, rng, batch_sizes, crash_rate=0.0, state=None):
    """Lambda's delivery on one shard: batches from the checkpoint, partial failures
    resume at the reported checkpoint, crashes retry the whole batch (perhaps bisected)."""
    position, rounds = 0, 0
    while position < len(log):
        rounds += 1
        assert rounds < 500, "no progress"
        size = rng.choice(batch_sizes)
        batch = log[position : position + size]
        s3.crash = rng.random() < crash_rate
        try:
            outcome = run(batch, s3, state=state)
        except Crash:
            continue
        if outcome.checkpoint is None:
            position += len(batch)
        else:
            position = next(i for i, r in enumerate(log) if r.sequence_number == outcome.checkpoint)


@settings(max_examples=examples(60), deadline=None)
@given(
    seed=st.integers(0, 2**32),
    n=st.integers(1, 60),
    hours=st.integers(1, 6),
    fail_rate=st.sampled_from([0.0, 0.2, 0.5]),
    crash_rate=st.sampled_from([0.0, 0.2]),
)
def test_any_failures_and_retries_converge_to_exactly_once(seed, n, hours, fail_rate, crash_rate):
    rng = random.Random(seed)
    log = shard_log(n, hours=hours)

    def fail(key, call):
        if getattr(s3, "crash", False) and rng.random() < 0.3:
            return Crash()
        if rng.random() < fail_rate:
            return OSError("injected S3 error")
        return None

    s3 = FakeS3(fail)
    simulate(log, s3, rng, batch_sizes=[1, 3, 7, 20, 100], crash_rate=crash_rate)
    assert_exactly_once(s3, log)


def resent(log: list[StreamRecord], rng: random.Random, share: float) -> list[StreamRecord]:
    """The shard as a resending producer leaves it: some records appear again a few records
    later under new sequence numbers (same id, same partition key)."""
    items = [(r.data, r.partition_key, r.arrival) for r in log]
    for index in reversed(range(len(log))):
        if rng.random() < share:
            items.insert(min(len(items), index + 1 + rng.randrange(5)), items[index])
    return [StreamRecord(data, key, str(5000 + i * 2), arrival) for i, (data, key, arrival) in enumerate(items)]


def test_a_resent_record_in_a_later_batch_is_dropped_and_counted():
    s3, state = FakeS3(), FakeState()
    log = shard_log(10)
    run(log, s3, state=state)
    again = [StreamRecord(log[3].data, log[3].partition_key, "99999", log[3].arrival)]
    outcome = run(again, s3, state=state)
    assert (outcome.received, outcome.written, outcome.duplicates) == (1, 0, 1)
    assert_exactly_once(s3, log, by_id=True)


def test_a_repeated_id_within_a_batch_is_written_once():
    s3, state = FakeS3(), FakeState()
    log = shard_log(5)
    twice = [*log, StreamRecord(log[0].data, log[0].partition_key, "88888", log[0].arrival)]
    outcome = run(twice, s3, state=state)
    assert (outcome.written, outcome.duplicates) == (5, 1)
    assert_exactly_once(s3, log, by_id=True)


def test_redelivering_a_committed_batch_changes_nothing():
    s3, state = FakeS3(), FakeState()
    log = shard_log(12)
    run(log, s3, state=state)
    before = dict(s3.objects)
    # Delivered again (Lambda's at-least-once), the batch is decided on the state it first met:
    # the same objects are rewritten with the same bytes.
    outcome = run(log, s3, state=state)
    assert outcome.checkpoint is None
    assert (outcome.written, outcome.duplicates) == (12, 0)
    assert s3.objects == before


def test_a_failed_state_write_fails_the_batch_and_the_retry_lands_it_once():
    failures = iter([True, False])
    s3, state = FakeS3(), FakeState(fail=lambda: next(failures, False))
    log = shard_log(9, hours=3)
    first = run(log, s3, state=state)
    assert first.checkpoint == log[0].sequence_number
    assert first.retried == 9
    assert run(log, s3, state=state).checkpoint is None
    assert_exactly_once(s3, log, by_id=True)


@settings(max_examples=examples(60), deadline=None)
@given(
    seed=st.integers(0, 2**32),
    n=st.integers(1, 50),
    fail_rate=st.sampled_from([0.0, 0.3]),
    crash_rate=st.sampled_from([0.0, 0.2]),
    resend_share=st.sampled_from([0.0, 0.2, 0.5]),
)
def test_resends_failures_and_crashes_converge_to_one_copy_per_id(seed, n, fail_rate, crash_rate, resend_share):
    rng = random.Random(seed)
    original = shard_log(n, hours=3)
    log = resent(original, rng, resend_share)

    def fail(key, call):
        if getattr(s3, "crash", False) and rng.random() < 0.3:
            return Crash()
        if rng.random() < fail_rate:
            return OSError("injected S3 error")
        return None

    s3 = FakeS3(fail)
    state = FakeState(fail=lambda: rng.random() < fail_rate / 2)
    simulate(log, s3, rng, batch_sizes=[1, 4, 9, 30], crash_rate=crash_rate, state=state)
    assert_exactly_once(s3, original, by_id=True)


# --- a dedupe decision never changes between an attempt and its retry ----------------------------


def _record(rid: str, hour: int, seq: int, arrival: float) -> StreamRecord:
    data = json_codec.dumps(
        {"id": rid, "type": "t", "source": "s", "time": f"2026-11-22T{hour:02d}:00:00Z", "payload": {}}
    )
    return StreamRecord(data, "d1", str(seq), arrival)


@pytest.mark.parametrize(
    ("state", "arrivals"),
    [
        # The id cap ages the original out: three entries later it is no longer remembered.
        ({"max_ids": 3}, (0.0, 10.0, 11.0)),
        # The window ages it out: the resend arrives 160 s after the original, the window is 100 s.
        ({"window_s": 100.0}, (0.0, 150.0, 160.0)),
    ],
)
def test_a_retry_decides_a_late_resend_as_the_first_attempt_did(state, arrivals):
    original, middle, late = arrivals
    s3 = FakeS3(fail=lambda key, call: OSError("SlowDown") if "hour=01" in key and not s3.retrying else None)
    s3.retrying = False
    fake = FakeState(**state)
    run([_record("x", 5, 100, original)], s3, state=fake)
    batch = [
        _record("a1", 0, 200, middle),
        _record("a2", 0, 201, middle),
        _record("a3", 0, 202, middle),
        _record("s", 1, 203, middle),  # its object fails: the checkpoint
        _record("x", 2, 204, late),  # a late resend of the first record
        _record("c", 2, 205, late),
    ]
    first = run(batch, s3, state=fake)
    assert first.checkpoint == "203"
    s3.retrying = True
    assert run(batch[3:], s3, state=fake).checkpoint is None
    # Each Kinesis record is in the lake at most once, and every record but the resend exactly once.
    lines = Counter(r["sequence_number"] for r in s3.lines("events"))
    assert max(lines.values()) == 1, lines
    assert {"100", "200", "201", "202", "203", "205"} <= set(lines)


def test_a_crash_after_the_state_write_retries_to_the_same_objects():
    s3, fake = FakeS3(), FakeState(max_ids=4)
    log = resent(shard_log(12, hours=3), random.Random(5), 0.4)
    run(log[:6], s3, state=fake)
    before = dict(s3.objects)
    # The batch committed and its state was written, then the environment died before answering.
    run(log[:6], s3, state=fake)
    assert s3.objects == before
    run(log[6:], s3, state=fake)
    lines = Counter(r["sequence_number"] for r in s3.lines("events"))
    assert max(lines.values()) == 1


def test_decode_time_rejects_carry_their_arrival_time():
    s3 = FakeS3()
    event = kinesis_event([StreamRecord(b"x", "k", "7", 1_795_342_530.25)], SHARD, ARN, "eu-west-1")
    event["Records"][0]["kinesis"]["data"] = "%%% not base64"
    outcome = commit(plan_batch(event["Records"], SETTINGS, enrich), s3.put, SETTINGS)
    assert outcome.quarantined == 1
    [line] = s3.lines("quarantine")
    assert (line["reason"], line["ingest_time"]) == ("bad_base64", "2026-11-22T10:15:30.250Z")
    assert next(iter(s3.objects)).startswith("quarantine/dt=2026-11-22/hour=10/")


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b'{"id":"a","type":"t","source":"s","time":"2026-11-22T10:00:00+24:00","payload":{}}', "bad_time"),
        (b'{"id":"a","type":"t","source":"s","time":"0001-01-01T00:00:00+01:00","payload":{}}', "bad_time"),
        (b'{"id":"a","type":"t","source":"s","time":"9999-12-31T23:59:59-01:00","payload":{}}', "bad_time"),
        (b'{"id":"a","type":"t","source":"s","time":"2026-11-22T1\xe0\xa5\xa7:00:00Z","payload":{}}', "bad_time"),
        (b'{"id":"\\ud800","type":"t","source":"s","time":"2026-11-22T10:00:00Z","payload":{}}', "bad_unicode"),
        (b'{"id":"a","type":"t","source":"s","time":"2026-11-22T10:00:00Z","payload":{},"\\ud800":1}', "bad_unicode"),
        (b'{"id":"a","type":"t","source":"s","time":"2026-11-22T10:00:00Z","payload":{"v":NaN}}', "not_json"),
        (b'{"id":"a","type":"t","source":"s","time":"2026-11-22T10:00:00Z","payload":{"v":-Infinity}}', "not_json"),
        (b'{"id":"a","type":"\\udc00","source":"s","time":"2026-11-22T10:00:00Z","payload":{}}', "bad_unicode"),
        (b'{"id":"a","type":"t","source":"s","time":"2026-11-22T10:00:00Z","payload":{"v":1e400}}', "not_json"),
    ],
)
def test_poison_records_are_quarantined_with_their_reason_and_never_fail_the_batch(data, reason):
    s3, fake = FakeS3(), FakeState()
    good = _record("good", 10, 9, 1_795_342_530.0)
    poison = StreamRecord(data, "k", "10", 1_795_342_531.0)
    outcome = run([good, poison], s3, state=fake)
    assert outcome.checkpoint is None
    assert (outcome.written, outcome.quarantined) == (1, 1)
    [line] = s3.lines("quarantine")
    assert line["reason"] == reason
    assert base64.b64decode(line["raw_base64"]) == data


def test_valid_rfc3339_variants_land_in_the_lake_normalised():
    s3 = FakeS3()
    times = ["2026-11-22t10:15:30.123456789z", "1990-12-31T15:59:60-08:00"]
    records = [
        StreamRecord(
            json_codec.dumps({"id": f"v{i}", "type": "t", "source": "s", "time": t, "payload": {}}),
            "k",
            str(10 + i),
            1_795_342_530.0,
        )
        for i, t in enumerate(times)
    ]
    assert run(records, s3).quarantined == 0
    assert sorted(r["time"] for r in s3.lines("events")) == [
        "1990-12-31T23:59:59.999999999Z",
        "2026-11-22T10:15:30.123456789Z",
    ]
    assert {k.rsplit("/", 1)[0] for k in s3.objects} == {"events/dt=1990-12-31/hour=23", "events/dt=2026-11-22/hour=10"}


def test_the_second_half_of_a_given_up_bisect_is_written_not_taken_for_its_own_duplicates():
    # The whole batch commits, state included, but Lambda never sees the answer, so it bisects.
    # The first half is rolled back, rewrites its objects with its records only, dies before its
    # state write, and is given up; the second half starts inside the newest window.
    log = shard_log(8, hours=2)
    s3, state = FakeS3(), FakeState()
    assert run(log, s3, state=state).checkpoint is None
    saved, state.save = state.save, lambda _: (_ for _ in ()).throw(Crash())
    with pytest.raises(Crash):
        run(log[:4], s3, state=state)
    state.save = saved
    second = run(log[4:], s3, state=state)
    assert (second.written, second.duplicates) == (4, 0)
    in_lake = Counter(r["sequence_number"] for r in s3.lines("events"))
    assert {r.sequence_number for r in log[4:]} <= set(in_lake)
    assert max(in_lake.values()) == 1


def test_a_batch_delivered_out_of_order_leaves_the_newer_windows_in_place():
    s3, state = FakeS3(), FakeState()
    first = [_record("a", 0, 100, 1000.0), _record("b", 0, 101, 1000.0)]
    run(first, s3, state=state)
    run([_record("c", 0, 200, 1001.0), _record("d", 0, 201, 1001.0)], s3, state=state)
    run(first, s3, state=state)  # a late duplicate delivery of the first batch
    assert [w.start for w in state.load().windows] == [100, 200]
    run([_record("c", 0, 300, 1002.0)], s3, state=state)  # a producer resend of c
    assert Counter(r["id"] for r in s3.lines("events"))["c"] == 1


def test_batches_that_change_nothing_write_no_state():
    s3, state = FakeS3(), FakeState()
    run(shard_log(3), s3, state=state)
    blob = state.blob
    for n in range(50):
        event_records = [StreamRecord(b"not json", "k", str(10_000 + n), 1_790_000_100.0)]
        run(event_records, s3, state=state)
    assert state.blob == blob


def test_the_codec_and_its_level_come_from_the_environment_and_a_wrong_one_fails_at_once():
    assert Settings.from_env({"LAKE_BUCKET": "b"}).codec is lake.GZIP
    assert Settings.from_env({"LAKE_BUCKET": "b"}).compression_level == 6
    zstd = Settings.from_env({"LAKE_BUCKET": "b", "LAKE_CODEC": "zstd"})
    assert (zstd.codec, zstd.compression_level) == (lake.ZSTD, 3)
    assert (
        Settings.from_env({"LAKE_BUCKET": "b", "LAKE_CODEC": "zstd", "COMPRESSION_LEVEL": "9"}).compression_level == 9
    )
    with pytest.raises(ValueError, match="lake codec 'lz4' is not one of"):
        Settings.from_env({"LAKE_BUCKET": "b", "LAKE_CODEC": "lz4"})
    with pytest.raises(ValueError, match="gzip compression level 12 is outside 1 to 9"):
        Settings.from_env({"LAKE_BUCKET": "b", "COMPRESSION_LEVEL": "12"})
