"""Table → table under moto: both paths' handlers, backfill and verify."""

from __future__ import annotations

import base64
import json
from decimal import Decimal

import boto3
import pytest

from change_applier import handler as applier
from change_publisher import handler as publisher
from local.sqs import sqs_event
from stack.events import dynamodb_event, dynamodb_stream_record
from table_sync import handler as direct
from tests import table_stack
from tests.conftest import load_event
from tributary import ddb, replica
from tributary_cli import tables

REGION = "eu-west-1"


@pytest.fixture
def stack(aws, monkeypatch):
    return table_stack.build(monkeypatch)


def change(event_name, pk, seq, attrs=None):
    keys = ddb.to_item({"pk": pk, "sk": "s"}, "base64")
    image = ddb.to_item({"pk": pk, "sk": "s", **(attrs or {})}, "base64") if attrs is not None else None
    return dynamodb_stream_record(event_name, keys, str(seq), new_image=image)


def table2(client) -> dict:
    items = client.scan(TableName="table2")["Items"]
    return {i["pk"]["S"]: ddb.from_item(v) for i in items if (v := replica.user_view(i)) is not None}


def deliver_queue(stack) -> list[dict]:
    """Everything the subscription delivered, as one SQS event per receive."""
    events = []
    while True:
        got = (
            stack["sqs"]
            .receive_message(
                QueueUrl=stack["queue"], MaxNumberOfMessages=10, AttributeNames=["All"], MessageAttributeNames=["All"]
            )
            .get("Messages", [])
        )
        if not got:
            return events
        events.append(sqs_event(got, stack["queue_arn"], REGION))
        stack["sqs"].delete_message_batch(
            QueueUrl=stack["queue"],
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)],
        )


def messages(sqs, url: str) -> list[dict]:
    out = []
    while got := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]).get(
        "Messages"
    ):
        out += got
        sqs.delete_message_batch(
            QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)]
        )
    return out


def test_direct_path_applies_the_documented_stream_event(stack, monkeypatch):
    event = load_event("dynamodb-stream.json")
    stack["dynamodb"].create_table(
        TableName="t2",
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "Id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "Id", "AttributeType": "N"}],
    )
    monkeypatch.setenv("TARGET_TABLE", "t2")
    monkeypatch.setenv("SOURCE_TABLE", "ExampleTableWithStream")  # the table the documented event comes from
    assert direct.handle({"Records": event["Records"][:2]}, None) == {"batchItemFailures": []}
    item = stack["dynamodb"].get_item(TableName="t2", Key={"Id": {"N": "101"}})["Item"]
    assert item["Message"] == {"S": "This item has changed"}
    assert direct.handle(event, None) == {"batchItemFailures": []}  # duplicates, then the delete
    item = stack["dynamodb"].get_item(TableName="t2", Key={"Id": {"N": "101"}})["Item"]
    assert replica.user_view(item) is None


def test_direct_path_parks_a_poison_change_and_applies_the_changes_behind_it(stack):
    poison = dynamodb_stream_record(
        "INSERT",
        {"pk": {"S": "p"}, "sk": {"S": "s"}},
        "20",
        new_image={"pk": {"S": "p"}, "sk": {"S": "s"}, replica.VERSION: {"N": "1"}},
    )
    event = dynamodb_event([change("INSERT", "a", 10, {"v": "1"}), poison, change("INSERT", "b", 30, {"v": "2"})])
    assert direct.handle(event, None) == {"batchItemFailures": []}
    assert table2(stack["dynamodb"]) == {"a": {"pk": "a", "sk": "s", "v": "1"}, "b": {"pk": "b", "sk": "s", "v": "2"}}
    [parked] = [json.loads(m["Body"]) for m in messages(stack["sqs"], stack["failures"])]
    assert (parked["reason"], parked["record"]) == ("reserved_attribute", poison)


def test_fanout_path_publishes_through_the_filter_and_applies(stack):
    event = dynamodb_event(
        [
            change("INSERT", "a", 10, {"n": Decimal(1), "b": b"\x00"}),
            change("MODIFY", "a", 11, {"n": Decimal(2), "b": b"\x01"}),
            change("INSERT", "c", 12, {"s": {"x", "y"}}),
            change("REMOVE", "c", 13),
        ]
    )
    assert publisher.handle(event, None) == {"batchItemFailures": []}
    events = deliver_queue(stack)
    bodies = [json.loads(r["body"]) for e in events for r in e["Records"]]
    assert len(bodies) == 4
    assert all(b["format"] == replica.MESSAGE_FORMAT for b in bodies)
    for e in reversed(events):  # any order
        assert applier.handle(e, None) == {"batchItemFailures": []}
    assert table2(stack["dynamodb"]) == {"a": {"pk": "a", "sk": "s", "n": Decimal(2), "b": b"\x01"}}


def test_filter_policy_keeps_other_tables_out(stack, monkeypatch):
    monkeypatch.setenv("SOURCE_TABLE", "some-other-table")
    publisher.handle(dynamodb_event([change("INSERT", "z", 1, {"v": "1"})]), None)
    assert deliver_queue(stack) == []


def test_a_change_too_big_for_sns_travels_as_a_reference(stack):
    big = {"pk": "big", "sk": "s", "payload": "x" * 300_000}
    stack["dynamodb"].put_item(TableName="table1", Item=ddb.to_item(big))
    publisher.handle(dynamodb_event([change("INSERT", "big", 5, {"payload": "x" * 300_000})]), None)
    events = deliver_queue(stack)
    body = json.loads(events[0]["Records"][0]["body"])
    assert body["fetchFromSource"] is True
    assert body["newImage"] is None
    assert applier.handle(events[0], None) == {"batchItemFailures": []}
    assert table2(stack["dynamodb"]) == {"big": big}


def test_applier_dead_letters_only_the_bad_messages(stack):
    good = replica.to_message(replica.from_stream_record(change("INSERT", "a", 10, {"v": "1"})))
    event = sqs_event(
        [
            {"MessageId": "m1", "ReceiptHandle": "h1", "Body": good},
            {"MessageId": "m2", "ReceiptHandle": "h2", "Body": "not a change"},
            {
                "MessageId": "m3",
                "ReceiptHandle": "h3",  # an SNS envelope (raw delivery off)
                "Body": json.dumps({"Type": "Notification", "TopicArn": stack["topic"], "Message": good}),
            },
        ],
        "arn:aws:sqs:eu-west-1:123456789012:changes",
        REGION,
    )
    assert applier.handle(event, None) == {"batchItemFailures": []}
    assert table2(stack["dynamodb"]) == {"a": {"pk": "a", "sk": "s", "v": "1"}}
    [letter] = messages(stack["sqs"], stack["dlq"])
    assert letter["Body"] == "not a change"
    assert letter["MessageAttributes"]["tributary.reason"]["StringValue"] == "bad_message"


def test_publisher_reports_the_first_unpublished_change(stack, monkeypatch):
    calls = {"n": 0}
    real = publisher.aws.client("sns")

    class Flaky:
        def publish_batch(self, TopicArn, PublishBatchRequestEntries):  # noqa: N803
            calls["n"] += 1
            response = real.publish_batch(TopicArn=TopicArn, PublishBatchRequestEntries=PublishBatchRequestEntries)
            if calls["n"] == 2:  # the second call's third entry fails
                response["Failed"] = [{"Id": "2", "Code": "InternalError", "SenderFault": False}]
            return response

    monkeypatch.setattr(publisher.aws, "client", lambda name: Flaky())
    records = [change("INSERT", f"k{i}", 100 + i, {"v": str(i)}) for i in range(15)]
    assert publisher.handle(dynamodb_event(records), None) == {"batchItemFailures": [{"itemIdentifier": "112"}]}


def put_items(client, table: str, items: dict[str, dict]) -> None:
    for pk, attrs in items.items():
        client.put_item(TableName=table, Item=ddb.to_item({"pk": pk, "sk": "s", **attrs}))


def test_backfill_copies_and_never_overwrites_a_newer_change(stack):
    client = stack["dynamodb"]
    put_items(client, "table1", {f"k{i}": {"v": str(i), "n": Decimal(i)} for i in range(50)})
    # The stream already delivered a newer state of k1 and the delete of k2.
    replica.apply(replica.from_stream_record(change("MODIFY", "k1", 900, {"v": "newer"})), client, "table2")
    replica.apply(replica.from_stream_record(change("REMOVE", "k2", 901)), client, "table2")
    tally = tables.backfill(client, "table1", "table2", segments=4)
    assert dict(tally.counts) == {"scanned": 50, "written": 48, "present": 2}
    assert tally.complete
    state = table2(client)
    assert state["k1"]["v"] == "newer"
    assert "k2" not in state
    assert len(state) == 49


def test_verify_finds_a_hand_made_drift_and_repair_fixes_it(stack, capsys):
    client = stack["dynamodb"]
    put_items(client, "table1", {f"k{i}": {"v": str(i)} for i in range(20)})
    tables.backfill(client, "table1", "table2", segments=2)
    assert tables.main(["verify", "--source", "table1", "--target", "table2"]) == 0
    capsys.readouterr()
    # Drift by hand: one item changed, one deleted, one extra, all behind the stream's back.
    client.update_item(
        TableName="table2",
        Key={"pk": {"S": "k3"}, "sk": {"S": "s"}},
        UpdateExpression="SET v = :x",
        ExpressionAttributeValues={":x": {"S": "tampered"}},
    )
    client.delete_item(TableName="table2", Key={"pk": {"S": "k4"}, "sk": {"S": "s"}})
    client.put_item(TableName="table2", Item=ddb.to_item({"pk": "ghost", "sk": "s", "v": "boo"}))
    assert tables.main(["verify", "--source", "table1", "--target", "table2"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert (report["before"]["missing"], report["before"]["extra"], report["before"]["different"]) == (1, 1, 1)
    assert tables.main(["verify", "--source", "table1", "--target", "table2", "--repair", "--segments", "3"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["repaired"] == 3
    assert report["after"]["match"] is True
    # A change still in flight (newer than the repair) applies over it.
    newer = replica.from_stream_record(change("MODIFY", "k3", 10**20, {"v": "from the stream"}))
    assert replica.apply(newer, client, "table2") == "applied"


def test_repair_never_overwrites_a_change_that_lands_meanwhile(stack):
    client = stack["dynamodb"]
    put_items(client, "table1", {"k": {"v": "1"}})
    drift, source_items, target_items = tables.verify(client, "table1", "table2", segments=1)
    assert drift.missing
    # After the scans, table1 changes and the stream applies the change.
    put_items(client, "table1", {"k": {"v": "2"}})
    replica.apply(replica.from_stream_record(change("MODIFY", "k", 50, {"v": "2"})), client, "table2")
    tally = tables.repair(client, "table1", "table2", ("pk", "sk"), drift, source_items, target_items, now=0)
    assert dict(tally.counts) == {"same": 1}
    assert table2(client)["k"]["v"] == "2"


def stream_of(client, table: str = "table1") -> list[dict]:
    """Every record moto's stream of ``table`` holds, as Lambda delivers them."""
    streams = boto3.client("dynamodbstreams")
    arn = client.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    records = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        for record in streams.get_records(ShardIterator=iterator)["Records"]:
            image = record["dynamodb"]
            image["ApproximateCreationDateTime"] = image["ApproximateCreationDateTime"].timestamp()
            records.append({**record, "eventSourceARN": arn})
    return json.loads(json.dumps(records, default=lambda b: base64.b64encode(b).decode()))


def deliver(stack, records: list[dict], path: str) -> None:
    """Stream records through one real path: table_sync, or change_publisher → SNS → SQS → change_applier."""
    if path == "direct":
        assert direct.handle(dynamodb_event(records), None) == {"batchItemFailures": []}
        return
    assert publisher.handle(dynamodb_event(records), None) == {"batchItemFailures": []}
    for event in deliver_queue(stack):
        assert applier.handle(event, None) == {"batchItemFailures": []}


def table1(client) -> dict:
    items = client.scan(TableName="table1", ConsistentRead=True)["Items"]
    return {i["pk"]["S"]: ddb.from_item(i) for i in items}


def straddling_verify(monkeypatch, live) -> None:
    """``verify``'s first pair of scans is not a consistent cut: table1 is scanned, then ``live``
    runs, then table2 is scanned. Later calls scan as usual."""
    real = tables.verify
    done = []

    def first(client, source, target, segments=4):
        if done:
            return real(client, source, target, segments)
        done.append(True)
        keys = tables.key_names(client, source)
        before = tables.scan(client, source, segments, keys)
        live()
        after = tables.scan(client, target, segments, keys)
        return tables.compare(before, after), before, after

    monkeypatch.setattr(tables, "verify", first)


def test_repair_racing_a_modify_never_leaves_an_older_value_under_a_newer_version(stack, monkeypatch):
    client = stack["dynamodb"]
    put_items(client, "table1", {"k": {"v": "1"}, "other": {"v": "x"}})
    deliver(stack, stream_of(client), "direct")
    client.update_item(
        TableName="table2",
        Key={"pk": {"S": "k"}, "sk": {"S": "s"}},  # drift by hand
        UpdateExpression="SET v = :x",
        ExpressionAttributeValues={":x": {"S": "tampered"}},
    )

    def live():  # table1 changes, and the stream applies the change
        put_items(client, "table1", {"k": {"v": "2"}})
        deliver(stack, stream_of(client)[-1:], "direct")

    straddling_verify(monkeypatch, live)
    assert tables.main(["verify", "--source", "table1", "--target", "table2", "--repair"]) == 0
    assert table2(client) == table1(client)


def test_repair_racing_a_delete_never_brings_the_item_back(stack, monkeypatch):
    client = stack["dynamodb"]
    put_items(client, "table1", {"k": {"v": "1"}})  # never replicated: missing in table2

    def live():
        client.delete_item(TableName="table1", Key={"pk": {"S": "k"}, "sk": {"S": "s"}})
        deliver(stack, stream_of(client)[-1:], "direct")

    straddling_verify(monkeypatch, live)
    assert tables.main(["verify", "--source", "table1", "--target", "table2", "--repair"]) == 0
    assert table2(stack["dynamodb"]) == {} == table1(client)


def test_repair_racing_an_insert_never_tombstones_it(stack, monkeypatch):
    client = stack["dynamodb"]

    def live():
        put_items(client, "table1", {"k": {"v": "new"}})
        deliver(stack, stream_of(client), "direct")

    straddling_verify(monkeypatch, live)
    assert tables.main(["verify", "--source", "table1", "--target", "table2", "--repair"]) == 0
    assert table2(client) == table1(client) == {"k": {"pk": "k", "sk": "s", "v": "new"}}


class Interleaved:
    """A DynamoDB client that runs ``live`` once, before its first call that is not a scan."""

    def __init__(self, client, live) -> None:
        self._client, self._live, self._done = client, live, False

    def __getattr__(self, name):
        attribute = getattr(self._client, name)
        if name in ("scan", "describe_table", "exceptions", "meta") or not callable(attribute):
            return attribute

        def call(**kwargs):
            if not self._done:
                self._done = True
                self._live()
            return attribute(**kwargs)

        return call


def test_backfill_never_brings_back_an_item_deleted_after_the_scan(stack):
    client = stack["dynamodb"]
    put_items(client, "table1", {"k": {"v": "1"}})
    # Deleted between the scan and the write; the delete's stream record is still on its way.
    live = Interleaved(client, lambda: client.delete_item(TableName="table1", Key={"pk": {"S": "k"}, "sk": {"S": "s"}}))
    tables.backfill(live, "table1", "table2", segments=1)
    assert table2(client) == {}
    deliver(stack, stream_of(client), "direct")
    assert table2(client) == {} == table1(client)


@pytest.mark.parametrize("path", ["direct", "fanout"])
def test_a_lagging_older_change_never_puts_older_content_over_a_backfill(stack, path):
    client = stack["dynamodb"]
    for version in ("1", "2", "3"):
        put_items(client, "table1", {"k": {"v": version}})
    lagging = stream_of(client)  # three changes, none applied yet
    assert tables.main(["backfill", "--source", "table1", "--target", "table2"]) == 0
    assert table2(client) == table1(client)
    for record in lagging:  # each older than the backfilled copy: none may show its own image
        deliver(stack, [record], path)
        assert table2(client) == table1(client)
    put_items(client, "table1", {"k": {"v": "4"}})
    deliver(stack, stream_of(client)[-1:], path)
    assert table2(client) == table1(client)


def test_a_lagging_delete_over_a_backfill_leaves_what_table1_holds(stack):
    client = stack["dynamodb"]
    put_items(client, "table1", {"k": {"v": "1"}})
    client.delete_item(TableName="table1", Key={"pk": {"S": "k"}, "sk": {"S": "s"}})
    put_items(client, "table1", {"k": {"v": "again"}})  # re-created
    tables.backfill(client, "table1", "table2", segments=1)
    for record in stream_of(client):  # INSERT, REMOVE, INSERT, all older than the copy
        deliver(stack, [record], "direct")
        assert table2(client) == table1(client)


def test_backfill_skips_and_reports_what_it_cannot_copy_and_finishes(stack, capsys):
    client = stack["dynamodb"]
    put_items(client, "table1", {f"k{i}": {"v": str(i)} for i in range(12)})
    client.put_item(TableName="table1", Item=ddb.to_item({"pk": "reserved", "sk": "s", replica.VERSION: "1"}))
    size = 405_000  # fits in table1; the replica's bookkeeping pushes it over the limit in table2
    while True:
        try:
            client.put_item(TableName="table1", Item=ddb.to_item({"pk": "huge", "sk": "s", "blob": "x" * size}))
            break
        except client.exceptions.ClientError:
            size -= 10
    assert tables.main(["backfill", "--source", "table1", "--target", "table2", "--segments", "3"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert (report["scanned"], report["written"], report["skipped"]) == (14, 12, 2)
    assert report["skipped_reasons"] == {"reserved_attribute": 1, "item_too_large": 1}
    assert sorted(e["key"]["pk"]["S"] for e in report["skipped_examples"]) == ["huge", "reserved"]
    assert set(table2(client)) == {f"k{i}" for i in range(12)}


def test_repair_skips_and_reports_what_it_cannot_copy(stack, capsys):
    client = stack["dynamodb"]
    put_items(client, "table1", {"a": {"v": "1"}})
    client.put_item(TableName="table1", Item=ddb.to_item({"pk": "reserved", "sk": "s", replica.DELETED: True}))
    assert tables.main(["verify", "--source", "table1", "--target", "table2", "--repair"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["repaired"] == 1
    assert report["repair"]["skipped_reasons"] == {"reserved_attribute": 1}
    assert report["after"]["missing"] == 1
    assert set(table2(client)) == {"a"}
