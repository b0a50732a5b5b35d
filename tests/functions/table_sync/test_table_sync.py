"""The direct path's handler under moto: what happens to each record of a batch.

Events are the Powertools sample (tests/events/powertools/dynamoStreamEvent.json) where its
shape is what matters, with only what a case needs replaced, and records built with
stack/events.py's builders elsewhere.
"""

from __future__ import annotations

import copy
import json
from decimal import Decimal

import boto3
import pytest
from botocore.exceptions import ClientError

from stack.events import dynamodb_event, dynamodb_stream_record
from table_sync import handler, sync
from tests.conftest import load_event
from tributary import ddb, parking, replica

STREAM_ARN = "arn:aws:dynamodb:eu-west-1:123456789012:table/table1/stream/2026-11-22T00:00:00.000"
MOTO_MAX_ITEM_BYTES = 405_000  # moto's limit (DynamoDB's is 409,600): an item over it is a ValidationException


def make_table(client, name: str, keys: dict[str, str]) -> None:
    client.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": k, "KeyType": kt} for k, kt in zip(keys, ("HASH", "RANGE"), strict=False)],
        AttributeDefinitions=[{"AttributeName": k, "AttributeType": t} for k, t in keys.items()],
    )


@pytest.fixture
def stack(aws, monkeypatch):
    dynamodb, sqs = boto3.client("dynamodb"), boto3.client("sqs")
    make_table(dynamodb, "table2", {"pk": "S", "sk": "S"})
    queue = sqs.create_queue(QueueName="table-failures", Attributes={"MaximumMessageSize": "262144"})["QueueUrl"]
    for key, value in {
        "TARGET_TABLE": "table2",
        "SOURCE_TABLE": "table1",
        "PARKED_QUEUE_URL": queue,
        "AWS_LAMBDA_FUNCTION_NAME": "tributary-test-table-sync",
    }.items():
        monkeypatch.setenv(key, value)
    return {"dynamodb": dynamodb, "sqs": sqs, "queue": queue}


def record(pk: str, seq: int | str, attrs: dict | None = None, event_name: str = "INSERT", **kwargs) -> dict:
    keys = ddb.to_item({"pk": pk, "sk": "s"}, "base64")
    image = ddb.to_item({"pk": pk, "sk": "s", **attrs}, "base64") if attrs is not None else None
    return dynamodb_stream_record(event_name, keys, str(seq), new_image=image, **kwargs)


def reserved(pk: str, seq: int) -> dict:
    return dynamodb_stream_record(
        "INSERT",
        {"pk": {"S": pk}, "sk": {"S": "s"}},
        str(seq),
        new_image={"pk": {"S": pk}, "sk": {"S": "s"}, replica.VERSION: {"N": "1"}},
    )


def table2(client, table: str = "table2") -> dict:
    """The items readers see (tombstones left out), by their hash key's value."""
    items = [ddb.from_item(i) for i in client.scan(TableName=table)["Items"]]
    return {str(i.get("pk", i.get("Id"))): view for i in items if (view := replica.user_view(i)) is not None}


def parked(stack) -> list[dict]:
    out = []
    while got := stack["sqs"].receive_message(QueueUrl=stack["queue"], MaxNumberOfMessages=10).get("Messages"):
        out += [json.loads(m["Body"]) for m in got]
        stack["sqs"].delete_message_batch(
            QueueUrl=stack["queue"],
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)],
        )
    return out


def emitted(capsys) -> dict:
    """The EMF metrics the invocation wrote to stdout."""
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert len(lines) == 1
    return {m["Name"]: lines[0][m["Name"]] for m in lines[0]["_aws"]["CloudWatchMetrics"][0]["Metrics"]}


def sample(*, source_arn: str | None = STREAM_ARN) -> dict:
    """The Powertools DynamoDB Streams sample, with table1's stream ARN unless told otherwise."""
    event = copy.deepcopy(load_event("powertools/dynamoStreamEvent.json"))
    if source_arn is not None:
        for r in event["Records"]:
            r["eventSourceARN"] = source_arn
    return event


@pytest.fixture
def sample_table(stack, monkeypatch):
    make_table(stack["dynamodb"], "samples", {"Id": "N"})
    monkeypatch.setenv("TARGET_TABLE", "samples")
    return "samples"


def test_the_sample_applies_in_order(stack, sample_table):
    assert handler.handle(sample(), None) == {"batchItemFailures": []}
    assert table2(stack["dynamodb"], sample_table) == {"101": {"Id": Decimal(101), "Message": "This item has changed"}}


def test_records_of_another_table_are_parked_not_applied(stack, sample_table, capsys):
    """The sample as captured: its eventSourceARN names no table1 stream."""
    event = sample(source_arn=None)
    assert handler.handle(event, None) == {"batchItemFailures": []}
    assert table2(stack["dynamodb"], sample_table) == {}
    got = parked(stack)
    assert [(p["reason"], p["sourceArn"], p["record"]) for p in got] == [
        ("wrong_source", r["eventSourceARN"], r) for r in event["Records"]
    ]
    assert emitted(capsys)["ChangesParked"] == 2


def test_a_poison_change_is_parked_and_the_changes_behind_it_apply(stack, capsys):
    event = dynamodb_event([record("a", 10, {"v": "1"}), reserved("p", 20), record("b", 30, {"v": "2"})])
    assert handler.handle(event, None) == {"batchItemFailures": []}
    assert table2(stack["dynamodb"]) == {"a": {"pk": "a", "sk": "s", "v": "1"}, "b": {"pk": "b", "sk": "s", "v": "2"}}
    [got] = parked(stack)
    assert got["format"] == parking.FORMAT
    assert (got["reason"], got["function"], got["sourceArn"]) == (
        "reserved_attribute",
        "tributary-test-table-sync",
        STREAM_ARN,
    )
    assert got["record"] == event["Records"][1]  # everything needed to replay it
    metrics = emitted(capsys)
    assert (metrics["ChangesParked"], metrics["ChangesApplied"], metrics["ChangesReceived"]) == (1, 2, 3)


def test_an_item_the_bookkeeping_pushes_over_the_size_limit_is_parked(stack):
    payload = "x" * (MOTO_MAX_ITEM_BYTES - 60)
    item = {"pk": "big", "sk": "s", "payload": payload}
    assert sum(len(k) + len(v) for k, v in item.items()) <= MOTO_MAX_ITEM_BYTES  # fits in table1
    event = dynamodb_event([record("big", 10, {"payload": payload}), record("b", 11, {"v": "2"})])
    assert handler.handle(event, None) == {"batchItemFailures": []}
    assert table2(stack["dynamodb"]) == {"b": {"pk": "b", "sk": "s", "v": "2"}}
    [got] = parked(stack)
    assert got["reason"] == "item_too_large"
    assert "maximum allowed size" in got["detail"]
    assert got["images_dropped"] is True  # 400 KB does not fit in one SQS message
    assert got["record"]["dynamodb"]["Keys"] == event["Records"][0]["dynamodb"]["Keys"]
    assert got["record"]["dynamodb"]["SequenceNumber"] == "10"


def test_a_transient_failure_checkpoints_at_its_record_after_parking_the_refused_before_it(stack, monkeypatch):
    real = replica.apply

    def throttled_at_30(change, *args, **kwargs):
        if change.version == 30:
            raise ClientError(
                {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow"}}, "PutItem"
            )
        return real(change, *args, **kwargs)

    monkeypatch.setattr(replica, "apply", throttled_at_30)
    event = dynamodb_event(
        [reserved("p", 10), record("a", 20, {"v": "1"}), record("t", 30, {"v": "3"}), record("b", 40, {"v": "4"})]
    )
    assert handler.handle(event, None) == {"batchItemFailures": [{"itemIdentifier": "30"}]}
    assert set(table2(stack["dynamodb"])) == {"a"}
    assert [p["reason"] for p in parked(stack)] == ["reserved_attribute"]


def test_a_failed_park_checkpoints_at_the_first_refused_record(stack, monkeypatch):
    monkeypatch.setenv("PARKED_QUEUE_URL", stack["queue"].rsplit("/", 1)[0] + "/no-such-queue")
    event = dynamodb_event(
        [record("a", 10, {"v": "1"}), reserved("p", 20), record("b", 30, {"v": "2"}), reserved("q", 40)]
    )
    assert handler.handle(event, None) == {"batchItemFailures": [{"itemIdentifier": "20"}]}
    # What was applied behind it is applied again on the retry, and found stale.
    assert set(table2(stack["dynamodb"])) == {"a", "b"}


def test_a_record_without_a_sequence_number_is_parked_never_an_empty_identifier(stack, sample_table):
    event = sample()
    del event["Records"][0]["dynamodb"]["SequenceNumber"]
    assert handler.handle(event, None) == {"batchItemFailures": []}
    [got] = parked(stack)
    assert got["reason"] == "bad_record"
    assert got["record"] == event["Records"][0]
    assert table2(stack["dynamodb"], sample_table) == {"101": {"Id": Decimal(101), "Message": "This item has changed"}}


def test_a_record_without_a_sequence_number_that_cannot_be_parked_is_retried_from_the_record_before_it(
    stack, monkeypatch
):
    monkeypatch.setenv("PARKED_QUEUE_URL", stack["queue"].rsplit("/", 1)[0] + "/no-such-queue")
    malformed = record("m", 20, {"v": "1"})
    del malformed["dynamodb"]["SequenceNumber"]
    event = dynamodb_event([record("a", 10, {"v": "1"}), malformed, record("b", 30, {"v": "2"})])
    assert handler.handle(event, None) == {"batchItemFailures": [{"itemIdentifier": "10"}]}


def test_a_first_record_without_a_sequence_number_that_cannot_be_parked_fails_the_invocation(stack, monkeypatch):
    monkeypatch.setenv("PARKED_QUEUE_URL", stack["queue"].rsplit("/", 1)[0] + "/no-such-queue")
    malformed = record("m", 20, {"v": "1"})
    malformed["dynamodb"]["SequenceNumber"] = "not digits"
    with pytest.raises(sync.CheckpointError):
        handler.handle(dynamodb_event([malformed, record("b", 30, {"v": "2"})]), None)


def test_sync_batch_without_aws():
    """The pure function: refused records parked in one go, in order, and counted."""
    calls = []
    result = sync.sync_batch(
        [
            record("a", 1, {}),
            reserved("p", 2),
            record("x", 3, {}, stream_arn=STREAM_ARN.replace("table1", "other")),
            record("b", 4, {}),
        ],
        lambda change: "applied",
        calls.append,
        "table1",
    )
    assert result.response() == {"batchItemFailures": []}
    assert [[p.reason for p in batch] for batch in calls] == [["reserved_attribute", "wrong_source"]]
    assert result.counts == {"applied": 2, "parked": 2}
