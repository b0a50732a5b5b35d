"""`make redrive` (tools/redrive.py) under moto: it never brings back an item whose tombstone has expired."""

from __future__ import annotations

import json
import time

import boto3
import pytest

from change_applier import handler as applier
from local.sqs import sqs_event
from stack import declarations
from stack.events import dynamodb_stream_record
from tests.table_stack import make_table
from tools import redrive
from tributary import ddb, replica

DAY = 86_400
TTL = 7 * DAY


@pytest.fixture
def queues(aws, monkeypatch):
    """The local environment's changes queue and DLQ, table1 and table2, as the stack names them."""
    dynamodb, sqs, sns = boto3.client("dynamodb"), boto3.client("sqs"), boto3.client("sns")
    names = {"table1": "tributary-local-table1", "table2": "tributary-local-table2"}
    for name in names.values():
        make_table(dynamodb, name)
    dlq = sqs.create_queue(QueueName="tributary-local-changes-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue = sqs.create_queue(
        QueueName="tributary-local-changes",
        Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5})},
    )["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    topic = sns.create_topic(Name="tributary-local-changes")["TopicArn"]
    for key, value in {
        "TARGET_TABLE": names["table2"],
        "SOURCE_TABLE": names["table1"],
        "TOPIC_ARN": topic,
        "TOMBSTONE_TTL_SECONDS": str(TTL),
    }.items():
        monkeypatch.setenv(key, value)
    return {"sqs": sqs, "dynamodb": dynamodb, "queue": queue, "queue_arn": queue_arn, "dlq": dlq, **names}


def change_message(event_name: str, seq: int, created: float, value: int | None = None, pk: str = "k") -> str:
    keys = ddb.to_item({"pk": pk, "sk": "s"})
    image = ddb.to_item({"pk": pk, "sk": "s", "value": value}) if value is not None else None
    stream = "arn:aws:dynamodb:eu-west-1:123456789012:table/tributary-local-table1/stream/2026-11-22T00:00:00.000"
    return replica.to_message(
        replica.from_stream_record(
            dynamodb_stream_record(event_name, keys, str(seq), new_image=image, created=created, stream_arn=stream)
        )
    )


def apply_what_is_queued(queues) -> None:
    sqs = queues["sqs"]
    while got := sqs.receive_message(QueueUrl=queues["queue"], MaxNumberOfMessages=10).get("Messages"):
        assert applier.handle(sqs_event(got, queues["queue_arn"], "eu-west-1"), None) == {"batchItemFailures": []}
        sqs.delete_message_batch(
            QueueUrl=queues["queue"],
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)],
        )


def in_dlq(queues) -> list[dict]:
    return (
        queues["sqs"]
        .receive_message(
            QueueUrl=queues["dlq"], MaxNumberOfMessages=10, VisibilityTimeout=0, MessageAttributeNames=["All"]
        )
        .get("Messages", [])
    )


def test_a_change_older_than_the_tombstones_stays_in_the_dlq(queues, capsys):
    """An update dead-lettered eight days ago, the item deleted since, its tombstone gone after seven."""
    now = time.time()
    sqs, client = queues["sqs"], queues["dynamodb"]
    old_update = change_message("MODIFY", 10, created=now - 8 * DAY, value=1)
    sqs.send_message(QueueUrl=queues["dlq"], MessageBody=old_update)
    delete = replica.from_message(change_message("REMOVE", 11, created=now - 8 * DAY + 60))
    replica.apply(delete, client, queues["table2"], now=now - 8 * DAY + 60, tombstone_ttl_s=TTL)
    # DynamoDB's TTL removes the tombstone once it has expired.
    key = ddb.to_item({"pk": "k", "sk": "s"})
    assert replica.user_view(client.get_item(TableName=queues["table2"], Key=key)["Item"]) is None
    client.delete_item(TableName=queues["table2"], Key=key)
    fresh = change_message("INSERT", 20, created=now - 3600, value=2, pk="fresh")
    sqs.send_message(QueueUrl=queues["dlq"], MessageBody=fresh)

    assert redrive.main(["--env", "local", "--queue", "changes_queue"]) == 1
    out, err = capsys.readouterr()
    assert json.loads(out) == {"moved": 1, "kept_older_than_tombstones": 1}
    assert "make verify REPAIR=1" in err
    apply_what_is_queued(queues)
    items = client.scan(TableName=queues["table2"])["Items"]
    assert [ddb.from_item(i)["pk"] for i in items] == ["fresh"]  # the deleted item did not come back
    assert [m["Body"] for m in in_dlq(queues)] == [old_update]  # kept, visible again for the next look


def test_the_age_is_read_through_an_sns_envelope_and_undated_changes_stay(queues):
    now = time.time()
    old = json.dumps(
        {"Type": "Notification", "TopicArn": "t", "Message": change_message("MODIFY", 1, now - 8 * DAY, 1)}
    )
    undated = json.loads(change_message("MODIFY", 2, now, 1))
    undated.pop("changedAt")
    for body in (old, json.dumps(undated), "not a change"):
        queues["sqs"].send_message(QueueUrl=queues["dlq"], MessageBody=body)
    counts = redrive.redrive(queues["sqs"], queues["dlq"], queues["queue"], 100, False, max_change_age_s=TTL, now=now)
    assert counts == {"moved": 1, "kept_older_than_tombstones": 1, "kept_undated": 1}


def test_redrive_sends_the_message_back_without_the_reasons_it_was_refused_for(queues):
    sqs = queues["sqs"]
    body = change_message("INSERT", 5, created=time.time(), value=3)
    sqs.send_message(
        QueueUrl=queues["dlq"],
        MessageBody=body,
        MessageAttributes={
            "table": {"DataType": "String", "StringValue": "tributary-local-table1"},
            "tributary.reason": {"DataType": "String", "StringValue": "wrong_topic"},
            "tributary.detail": {"DataType": "String", "StringValue": "..."},
        },
    )
    assert redrive.redrive(sqs, queues["dlq"], queues["queue"], 10, False, max_change_age_s=TTL) == {"moved": 1}
    [moved] = sqs.receive_message(QueueUrl=queues["queue"], MessageAttributeNames=["All"])["Messages"]
    assert moved["Body"] == body
    assert set(moved["MessageAttributes"]) == {"table"}


def test_code_events_are_moved_whatever_their_age(queues):
    sqs = queues["sqs"]
    sqs.send_message(QueueUrl=queues["dlq"], MessageBody=change_message("MODIFY", 1, created=0.5, value=1))
    assert redrive.redrive(sqs, queues["dlq"], queues["queue"], 10, False) == {"moved": 1}


def test_the_tombstone_lifetime_is_the_shortest_ttl_the_declarations_give():
    specs = declarations.load_all()
    assert redrive.tombstone_lifetime_s(specs) == min(
        int(specs[name].environment["TOMBSTONE_TTL_SECONDS"]) for name in ("table_sync", "change_applier")
    )
    assert redrive.tombstone_lifetime_s() > redrive.SAFETY_MARGIN_S
