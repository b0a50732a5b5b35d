"""The stream event source mapping, one test per documented rule."""

from __future__ import annotations

import pytest

from local.functions import Invocation
from local.streams import Lane, Record, StreamSettings, interpret, lane_of


def records(n: int, start: int = 100, key: str = "k", arrival: float = 1000.0) -> list[Record]:
    return [Record(str(start + i), key, arrival, 10, None) for i in range(n)]


class Function:
    """A function whose answer per batch comes from ``respond(batch)``; remembers each batch."""

    def __init__(self, respond) -> None:
        self.respond = respond
        self.batches: list[list[str]] = []

    def __call__(self, batch: list[Record]) -> Invocation:
        self.batches.append([r.sequence_number for r in batch])
        return self.respond(batch)


def ok(payload=None) -> Invocation:
    return Invocation(True, payload=payload)


def error() -> Invocation:
    return Invocation(False, error={"errorType": "RuntimeError", "errorMessage": "boom"})


def drain(lane: Lane, limit: int = 200) -> None:
    for _ in range(limit):
        if not lane.step():
            return
    raise AssertionError("lane did not drain")


def make_lane(function, settings: StreamSettings, now=lambda: 2000.0):
    sent = []
    lane = Lane(
        settings,
        function,
        lambda rs, condition, count: sent.append(([r.sequence_number for r in rs], condition, count)),
        now=now,
    )
    return lane, sent


@pytest.mark.parametrize("payload", [None, {}, {"batchItemFailures": []}, {"batchItemFailures": None}])
def test_empty_or_null_responses_are_success(payload):
    batch = records(3)
    assert interpret(ok(payload), batch, True) == ("success", 3)


@pytest.mark.parametrize(
    "payload",
    [
        {"batchItemFailures": [{"itemIdentifier": ""}]},
        {"batchItemFailures": [{"itemIdentifier": None}]},
        {"batchItemFailures": [{"itemIdentifer": "101"}]},
        {"batchItemFailures": [{"itemIdentifier": "999"}]},
        {"batchItemFailures": "101"},
        "not a dict",
    ],
)
def test_malformed_responses_fail_the_whole_batch(payload):
    assert interpret(ok(payload), records(3), True) == ("failure", 0)


def test_without_report_batch_item_failures_the_response_is_ignored():
    assert interpret(ok({"batchItemFailures": [{"itemIdentifier": "101"}]}), records(3), False) == ("success", 3)


def test_the_lowest_reported_sequence_number_is_the_checkpoint():
    payload = {"batchItemFailures": [{"itemIdentifier": "104"}, {"itemIdentifier": "102"}]}
    assert interpret(ok(payload), records(6), True) == ("partial", 2)


def test_partial_failure_in_the_middle_redelivers_from_exactly_that_record():
    answers = iter([ok({"batchItemFailures": [{"itemIdentifier": "105"}]}), ok()])
    function = Function(lambda batch: next(answers))
    lane, sent = make_lane(function, StreamSettings(batch_size=10, max_retries=3))
    lane.add(records(10))
    drain(lane)
    assert function.batches == [[str(100 + i) for i in range(10)], [str(105 + i) for i in range(5)]]
    assert sent == []
    assert lane.stats.records_done == 10


def test_function_error_with_bisect_splits_the_batch_in_two():
    answers = iter([error(), ok(), ok()])
    function = Function(lambda batch: next(answers))
    lane, _ = make_lane(function, StreamSettings(batch_size=8, bisect=True, max_retries=3))
    lane.add(records(8))
    drain(lane)
    assert [len(b) for b in function.batches] == [8, 4, 4]
    assert function.batches[1] + function.batches[2] == function.batches[0]
    assert lane.stats.bisections == 1


def test_function_error_without_bisect_retries_the_same_batch():
    answers = iter([error(), ok()])
    function = Function(lambda batch: next(answers))
    lane, _ = make_lane(function, StreamSettings(batch_size=4, bisect=False, max_retries=3))
    lane.add(records(4))
    drain(lane)
    assert function.batches[0] == function.batches[1]


def test_a_poison_record_reaches_the_on_failure_destination_after_the_retries():
    poison = "103"
    completed: list[str] = []

    def respond(batch):
        if any(r.sequence_number == poison for r in batch):
            return error()
        completed.extend(r.sequence_number for r in batch)
        return ok()

    function = Function(respond)
    lane, sent = make_lane(function, StreamSettings(batch_size=8, bisect=True, max_retries=3))
    lane.add(records(8))
    drain(lane)
    # Bisection isolates the poison record; it goes to the destination alone, with the count of invokes.
    assert sent == [([poison], "RetryAttemptsExhausted", 4)]
    assert completed == [str(100 + i) for i in range(8) if str(100 + i) != poison]  # every other record, in order


def test_maximum_retry_attempts_minus_one_retries_forever_until_success():
    failures = iter([True] * 20 + [False])
    function = Function(lambda batch: error() if next(failures) else ok())
    lane, sent = make_lane(function, StreamSettings(batch_size=2, max_retries=-1))
    lane.add(records(2))
    drain(lane, limit=50)
    assert len(function.batches) == 21
    assert sent == []


def test_records_older_than_the_maximum_age_go_to_the_on_failure_destination():
    function = Function(lambda batch: ok())
    lane, sent = make_lane(function, StreamSettings(batch_size=10, max_record_age_s=60), now=lambda: 1100.0)
    lane.add(records(3, arrival=1000.0) + records(2, start=200, arrival=1090.0))
    drain(lane)
    assert sent == [(["100", "101", "102"], "RecordAgeExceeded", 0)]
    assert function.batches == [["200", "201"]]


def test_batches_respect_the_batch_size_and_the_window():
    clock = {"now": 0.0}
    function = Function(lambda batch: ok())
    lane, _ = make_lane(function, StreamSettings(batch_size=3, window_s=5), now=lambda: clock["now"])
    lane.add(records(2))
    assert not lane.ready()  # two records, window not over
    clock["now"] = 5.0
    assert lane.ready()
    lane.add(records(5, start=200))
    drain(lane)
    assert [len(b) for b in function.batches] == [3, 3, 1]


def test_parallelization_keeps_each_partition_key_on_one_lane():
    keys = [f"device-{i}" for i in range(50)]
    assert all(lane_of(k, 4) == lane_of(k, 4) for k in keys)
    assert {lane_of(k, 4) for k in keys} == {0, 1, 2, 3}
    assert {lane_of(k, 1) for k in keys} == {0}


def test_duplicate_delivery_invokes_a_successful_batch_again():
    function = Function(lambda batch: ok())
    lane = Lane(StreamSettings(batch_size=5), function, lambda *a: None, duplicate=lambda: True)
    lane.add(records(5))
    drain(lane)
    assert function.batches == [function.batches[0]] * 2
    assert lane.stats.duplicate_deliveries == 1
