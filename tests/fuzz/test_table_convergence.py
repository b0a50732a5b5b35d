"""Property test of table → table through both real paths at once, with everything that goes wrong.

Each example is a random history: writes to table1 (values, deletes, poison items with a
reserved attribute, items too big for SNS, items too big for table2), each with its stream
record; the direct path (table_sync) and the fan-out path (change_publisher → SNS → SQS →
change_applier) both delivering into table2 at arbitrary points, the direct path with
retried batches and the queue in any order with duplicates; and backfill, verify --repair
and single-item copies run at arbitrary points between them, on a clock that jumps past
``replica.SOURCE_READ_MARGIN_S`` or not. Every call is a real handler or tool over moto.

What must hold: no invocation fails; every copy leaves table2 holding table1's state of that
item; every poison change is parked; and once everything is delivered, table2 equals table1
for every item whose last change is not itself refused.
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from change_applier import apply as applier_core
from change_applier import handler as applier
from change_publisher import handler as publisher
from local.sqs import sqs_event
from stack.events import dynamodb_event, dynamodb_stream_record
from table_sync import handler as direct
from tests import table_stack
from tests.conftest import embedded_aws
from tributary import ddb, parking, replica
from tributary_cli import tables

REGION = "eu-west-1"
KEYS = ("pk", "sk")
START = 1_800_000_000
examples = itertools.count()


@pytest.fixture(scope="module")
def stack() -> Iterator[SimpleNamespace]:
    with embedded_aws(), pytest.MonkeyPatch.context() as patch:
        for name, value in {
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
        }.items():
            patch.setenv(name, value)
        built = table_stack.build(patch)
        patch.setattr(applier_core, "_dead_letter_queues", {}, raising=False)
        yield SimpleNamespace(**built, too_big=_largest_item(built["dynamodb"]))


def _largest_item(client) -> int:
    """The longest blob an item of this test's key length can hold in table1 (moto's item size limit)."""
    low, high = 300_000, 420_000
    while high - low > 1:
        middle = (low + high) // 2
        try:
            client.put_item(TableName="table1", Item=ddb.to_item({"pk": "000000-k0", "sk": "s", "blob": "x" * middle}))
            low = middle
        except client.exceptions.ClientError:
            high = middle
    client.delete_item(TableName="table1", Key={"pk": {"S": "000000-k0"}, "sk": {"S": "s"}})
    return low


KINDS = ["value", "value", "value", "delete", "poison", "big", "too_big"]
CLOCK_STEPS = [0, 1, 30, replica.SOURCE_READ_MARGIN_S + 1, 2000]
operations = st.lists(
    st.one_of(
        st.tuples(st.just("write"), st.integers(0, 2), st.sampled_from(KINDS), st.sampled_from(CLOCK_STEPS)),
        st.tuples(st.just("direct"), st.integers(1, 4)),
        st.tuples(st.just("retry")),
        st.tuples(st.just("publish"), st.integers(1, 4)),
        st.tuples(st.just("consume"), st.integers(0, 2**16)),
        st.tuples(st.just("copy"), st.integers(0, 2)),
        st.tuples(st.just("backfill")),
        st.tuples(st.just("repair")),
    ),
    min_size=1,
    max_size=30,
)


class History:
    """table1 as the example writes it, its stream, and both paths' progress through it."""

    def __init__(self, stack: SimpleNamespace, example: int) -> None:
        self.stack, self.example = stack, example
        self.clock = START + example * 10**6
        self.log: list[dict] = []
        self.kind: dict[str, str] = {}  # sequence number -> what the change wrote
        self.last: dict[str, str] = {}  # key -> kind of its last change
        self.direct_at = self.published_at = 0
        self.last_direct: list[dict] = []
        self.in_flight: list[dict] = []  # SQS messages published and not yet consumed for good
        self.counter = itertools.count()
        self.rank: dict[int, int] = {}  # an item's "n" -> the position in the log of the change that wrote it
        self.shown: dict[str, int | None] = {}  # key -> rank of what table2 showed after the last step

    def key(self, index: int) -> dict[str, str]:
        return {"pk": f"{self.example:06d}-k{index}", "sk": "s"}

    def write(self, index: int, kind: str, step: int) -> None:
        client, key = self.stack.dynamodb, self.key(index)
        self.clock += step
        old = client.get_item(TableName="table1", Key=ddb.to_item(key), ConsistentRead=True).get("Item")
        seq = str(10**20 + 10 * len(self.log) + 7)
        if kind == "delete":
            if old is None:
                return  # deleting nothing writes no stream record
            client.delete_item(TableName="table1", Key=ddb.to_item(key))
            record = dynamodb_stream_record(
                "REMOVE", ddb.to_item(key, "base64"), seq, old_image=_base64(old), created=self.clock
            )
        else:
            item = {**key, "n": next(self.counter)}
            self.rank[item["n"]] = len(self.log)
            if kind == "poison":
                item[replica.DELETED] = True
            elif kind == "big":
                item["blob"] = "b" * 300_000
            elif kind == "too_big":
                item["blob"] = "t" * (self.stack.too_big - 20)  # room for "n"; none for the bookkeeping
            client.put_item(TableName="table1", Item=ddb.to_item(item))
            record = dynamodb_stream_record(
                "MODIFY" if old else "INSERT",
                ddb.to_item(key, "base64"),
                seq,
                new_image=ddb.to_item(item, "base64"),
                old_image=_base64(old) if old else None,
                created=self.clock,
            )
        self.log.append(record)
        self.kind[seq] = kind
        self.last[key["pk"]] = kind

    def deliver_direct(self, count: int) -> None:
        batch = self.log[self.direct_at : self.direct_at + count]
        self.direct_at += len(batch)
        if batch:
            self.last_direct = batch
            assert direct.handle(dynamodb_event(batch), None) == {"batchItemFailures": []}

    def retry_direct(self) -> None:
        if self.last_direct:
            assert direct.handle(dynamodb_event(self.last_direct), None) == {"batchItemFailures": []}

    def publish(self, count: int) -> None:
        batch = self.log[self.published_at : self.published_at + count]
        self.published_at += len(batch)
        if not batch:
            return
        assert publisher.handle(dynamodb_event(batch), None) == {"batchItemFailures": []}
        self.in_flight += _drain(self.stack.sqs, self.stack.queue)

    def consume(self, seed: int, everything: bool = False) -> None:
        rng = random.Random(seed)
        rng.shuffle(self.in_flight)
        take = len(self.in_flight) if everything else rng.randint(0, len(self.in_flight))
        chosen, self.in_flight = self.in_flight[:take], self.in_flight[take:]
        for start in range(0, len(chosen), 10):
            event = sqs_event(chosen[start : start + 10], self.stack.queue_arn, REGION)
            assert applier.handle(event, None) == {"batchItemFailures": []}
        # At-least-once: some consumed messages come back.
        self.in_flight += [m for m in chosen if rng.random() < 0.2 and not everything]

    def copy(self, index: int) -> None:
        client, key = self.stack.dynamodb, ddb.to_item(self.key(index))
        try:
            tables.copy_current(client, "table1", "table2", key, KEYS, now=self.clock)
        except Exception as exc:
            if parking.refusal(exc) is None:  # only an item that can never be copied may fail
                raise
            return
        assert _view(client, "table2", key) == _view(client, "table1", key)

    def never_older(self, step: object) -> None:
        """What table2 shows of each item never goes back to an older state of table1's than it showed."""
        for index in range(3):
            key = self.key(index)
            view = _view(self.stack.dynamodb, "table2", ddb.to_item(key))
            now = None if view is None else self.rank[int(view["n"])]
            before = self.shown.get(key["pk"])
            if before is not None and now is not None:
                assert now >= before, (key["pk"], before, now, step)
            if before is not None and now is None:
                assert any(
                    r["eventName"] == "REMOVE" and r["dynamodb"]["Keys"]["pk"]["S"] == key["pk"]
                    for r in self.log[before + 1 :]
                ), (key["pk"], before, step)
            self.shown[key["pk"]] = now

    def drain(self) -> None:
        self.deliver_direct(len(self.log))
        self.publish(len(self.log))
        self.consume(0, everything=True)


def _base64(item: dict) -> dict:
    return ddb.to_item(ddb.from_item(item), "base64")


def _drain(sqs, url: str) -> list[dict]:
    out = []
    while got := sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"], MessageAttributeNames=["All"]
    ).get("Messages"):
        out += got
        sqs.delete_message_batch(
            QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)]
        )
    return out


def _view(client, table: str, key: dict) -> dict | None:
    item = client.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
    if item is None:
        return None
    return (
        ddb.from_item(item)
        if table == "table1"
        else (None if (v := replica.user_view(item)) is None else ddb.from_item(v))
    )


def _parked_sequence_numbers(stack: SimpleNamespace) -> set[str]:
    parked = {json.loads(m["Body"])["record"]["dynamodb"]["SequenceNumber"] for m in _drain(stack.sqs, stack.failures)}
    return parked | {json.loads(m["Body"])["version"] for m in _drain(stack.sqs, stack.dlq)}


@given(ops=operations)
# A backfilled copy, then the changes it already holds arrive: none may show its older image.
@example(ops=[("write", 0, "value", 0), ("write", 0, "value", 0), ("copy", 0), ("direct", 1)])
@example(ops=[("write", 0, "value", 0), ("write", 0, "value", 0), ("backfill",), ("publish", 1), ("consume", 0)])
# A change that travelled by reference is completed with a newer image; the change between
# them arrives afterwards.
@example(
    ops=[
        ("write", 0, "big", 0),
        ("write", 0, "value", 0),
        ("write", 0, "value", 0),
        ("publish", 1),
        ("consume", 0),
        ("publish", 1),
        ("consume", 0),
    ]
)
# Clearly after a copy, a change applies its own image again.
@example(
    ops=[
        ("write", 0, "value", 0),
        ("copy", 0),
        ("write", 0, "value", replica.SOURCE_READ_MARGIN_S + 1),
        ("direct", 2),
        ("write", 0, "delete", 1),
        ("direct", 1),
    ]
)
def test_both_paths_converge_through_poison_oversize_backfill_and_repair(stack, ops, monkeypatch_clock):
    history = History(stack, next(examples) + 1)
    monkeypatch_clock(lambda: history.clock)
    try:
        for op in ops:
            match op:
                case ("write", index, kind, step):
                    history.write(index, kind, step)
                case ("direct", count):
                    history.deliver_direct(count)
                case ("retry",):
                    history.retry_direct()
                case ("publish", count):
                    history.publish(count)
                case ("consume", seed):
                    history.consume(seed)
                case ("copy", index):
                    history.copy(index)
                case ("backfill",):
                    tables.backfill(stack.dynamodb, "table1", "table2", segments=2)
                case ("repair",):
                    drift, source_items, target_items = tables.verify(stack.dynamodb, "table1", "table2", 2)
                    tables.repair(
                        stack.dynamodb, "table1", "table2", KEYS, drift, source_items, target_items, now=history.clock
                    )
            history.never_older(op)
        history.drain()
        # A poison change is refused on both paths, whatever table1 holds later: each is parked.
        poison = {seq for seq, kind in history.kind.items() if kind == "poison"}
        assert poison <= _parked_sequence_numbers(stack)
        for index in range(3):
            key = history.key(index)
            if history.last.get(key["pk"]) in ("poison", "too_big"):
                continue  # its last change can never apply: table2 keeps an earlier state, and it is parked
            assert _view(stack.dynamodb, "table2", ddb.to_item(key)) == _view(
                stack.dynamodb, "table1", ddb.to_item(key)
            ), (key, ops)
    finally:
        for index in range(3):
            for table in ("table1", "table2"):
                stack.dynamodb.delete_item(TableName=table, Key=ddb.to_item(history.key(index)))
        _drain(stack.sqs, stack.failures)
        _drain(stack.sqs, stack.dlq)


@pytest.fixture(scope="module")
def monkeypatch_clock():
    """Point the tools' clock (the time of each source read) at the example's."""
    with pytest.MonkeyPatch.context() as patch:

        def point(now) -> None:
            patch.setattr(tables, "time", SimpleNamespace(time=now))
            patch.setattr(replica, "time", SimpleNamespace(time=now))

        yield point
