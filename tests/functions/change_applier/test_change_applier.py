"""The fan-out path's consumer under moto: what happens to each message of a batch.

The SQS and SNS-over-SQS events are the Powertools samples (tests/events/powertools/sqsEvent.json,
snsSqsEvent.json) with only what a case needs replaced: the queue ARN (the dead-letter queue is
found from it), and the envelope's Message or TopicArn where the case is about them.
"""

from __future__ import annotations

import copy
import json

import boto3
import pytest
from botocore.exceptions import ClientError

from change_applier import apply, handler
from local.sqs import sqs_event
from stack.events import dynamodb_stream_record
from tests.conftest import load_event
from tests.table_stack import make_table
from tributary import ddb, replica

REGION = "eu-west-1"
STREAM_ARN = "arn:aws:dynamodb:eu-west-1:123456789012:table/table1/stream/2026-11-22T00:00:00.000"
MOTO_MAX_ITEM_BYTES = 405_000


@pytest.fixture
def stack(aws, monkeypatch):
    dynamodb, sqs, sns = boto3.client("dynamodb"), boto3.client("sqs"), boto3.client("sns")
    for name in ("table1", "table2"):
        make_table(dynamodb, name)
    topic = sns.create_topic(Name="changes")["TopicArn"]
    dlq = sqs.create_queue(QueueName="changes-dlq", Attributes={"MaximumMessageSize": "262144"})["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue = sqs.create_queue(
        QueueName="changes",
        Attributes={
            "MaximumMessageSize": "262144",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5}),
        },
    )["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    for key, value in {
        "TARGET_TABLE": "table2",
        "SOURCE_TABLE": "table1",
        "TOPIC_ARN": topic,
        "AWS_LAMBDA_FUNCTION_NAME": "tributary-test-change-applier",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(apply, "_dead_letter_queues", {}, raising=False)
    return {"dynamodb": dynamodb, "sqs": sqs, "topic": topic, "queue": queue, "queue_arn": queue_arn, "dlq": dlq}


def change(pk: str, seq: int, attrs: dict | None = None, stream_arn: str = STREAM_ARN) -> str:
    keys = ddb.to_item({"pk": pk, "sk": "s"}, "base64")
    image = ddb.to_item({"pk": pk, "sk": "s", **(attrs or {})}, "base64")
    return replica.to_message(
        replica.from_stream_record(
            dynamodb_stream_record("INSERT", keys, str(seq), new_image=image, stream_arn=stream_arn)
        )
    )


def event(stack, *bodies: str) -> dict:
    return sqs_event(
        [{"MessageId": f"m{i}", "ReceiptHandle": f"h{i}", "Body": b} for i, b in enumerate(bodies)],
        stack["queue_arn"],
        REGION,
    )


def on_queue(stack, sample: dict) -> dict:
    """A sample event as delivered by this test's queue."""
    sample = copy.deepcopy(sample)
    for r in sample["Records"]:
        r["eventSourceARN"] = stack["queue_arn"]
    return sample


def table2(client) -> dict:
    items = [ddb.from_item(i) for i in client.scan(TableName="table2")["Items"]]
    return {i["pk"]: view for i in items if (view := replica.user_view(i)) is not None}


def dead_letters(stack) -> list[dict]:
    out = []
    while (
        got := stack["sqs"]
        .receive_message(QueueUrl=stack["dlq"], MaxNumberOfMessages=10, MessageAttributeNames=["All"])
        .get("Messages")
    ):
        out += got
        stack["sqs"].delete_message_batch(
            QueueUrl=stack["dlq"],
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)],
        )
    return out


def reasons(letters: list[dict]) -> list[str]:
    return [m["MessageAttributes"]["tributary.reason"]["StringValue"] for m in letters]


def test_messages_that_are_not_changes_go_to_the_dlq_with_their_reason(stack):
    sample = on_queue(stack, load_event("powertools/sqsEvent.json"))
    assert handler.handle(sample, None) == {"batchItemFailures": []}
    letters = dead_letters(stack)
    assert sorted(m["Body"] for m in letters) == sorted(r["body"] for r in sample["Records"])
    assert reasons(letters) == ["bad_message", "bad_message"]
    first = next(m for m in letters if m["Body"] == "Test message.")
    assert first["MessageAttributes"]["testAttr"] == {"StringValue": "100", "DataType": "Number"}
    assert first["MessageAttributes"]["tributary.function"]["StringValue"] == "tributary-test-change-applier"


def sns_sample(stack, message: str, topic: str | None = None) -> dict:
    """The SNS-over-SQS sample with a change as its Message (and another TopicArn, if told)."""
    sample = on_queue(stack, load_event("powertools/snsSqsEvent.json"))
    envelope = json.loads(sample["Records"][0]["body"])
    envelope["Message"] = message
    if topic is not None:
        envelope["TopicArn"] = topic
    sample["Records"][0]["body"] = json.dumps(envelope, indent=2)
    return sample


def test_an_envelope_from_another_topic_is_refused(stack):
    sample = sns_sample(stack, change("a", 10, {"v": "1"}))
    assert handler.handle(sample, None) == {"batchItemFailures": []}
    assert table2(stack["dynamodb"]) == {}
    [letter] = dead_letters(stack)
    assert letter["Body"] == sample["Records"][0]["body"]
    assert reasons([letter]) == ["wrong_topic"]
    assert "powertools265" in letter["MessageAttributes"]["tributary.detail"]["StringValue"]


def test_an_envelope_from_the_changes_topic_applies(stack):
    sample = sns_sample(stack, change("a", 10, {"v": "1"}), topic=stack["topic"])
    assert handler.handle(sample, None) == {"batchItemFailures": []}
    assert table2(stack["dynamodb"]) == {"a": {"pk": "a", "sk": "s", "v": "1"}}
    assert dead_letters(stack) == []


@pytest.mark.parametrize("source", [STREAM_ARN.replace("table1", "table1-copy"), "", "eventsource_arn"])
def test_a_raw_change_from_another_source_is_refused(stack, source):
    ok = change("a", 10, {"v": "1"})
    assert handler.handle(event(stack, change("x", 11, {"v": "2"}, stream_arn=source), ok), None) == {
        "batchItemFailures": []
    }
    assert table2(stack["dynamodb"]) == {"a": {"pk": "a", "sk": "s", "v": "1"}}
    assert reasons(dead_letters(stack)) == ["wrong_source"]


def test_a_transient_failure_stays_a_batch_item_failure(stack, monkeypatch):
    real = replica.apply

    def throttled(change, *args, **kwargs):
        if change.version == 11:
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "PutItem")
        return real(change, *args, **kwargs)

    monkeypatch.setattr(replica, "apply", throttled)
    body = event(stack, change("a", 10, {"v": "1"}), change("t", 11, {"v": "2"}), "not a change")
    assert handler.handle(body, None) == {"batchItemFailures": [{"itemIdentifier": "m1"}]}
    assert table2(stack["dynamodb"]) == {"a": {"pk": "a", "sk": "s", "v": "1"}}
    assert reasons(dead_letters(stack)) == ["bad_message"]


def test_an_item_the_bookkeeping_pushes_over_the_size_limit_goes_to_the_dlq(stack):
    big = {"pk": "big", "sk": "s", "payload": "x" * (MOTO_MAX_ITEM_BYTES - 60)}
    stack["dynamodb"].put_item(TableName="table1", Item=ddb.to_item(big))
    reference = change("big", 10, {"payload": big["payload"]})
    assert json.loads(reference)["fetchFromSource"] is True  # too big for SNS: read from table1
    assert handler.handle(event(stack, reference), None) == {"batchItemFailures": []}
    [letter] = dead_letters(stack)
    assert (letter["Body"], reasons([letter])) == (reference, ["item_too_large"])


def test_without_a_dead_letter_queue_a_refused_message_is_left_to_sqs(stack):
    stack["sqs"].set_queue_attributes(QueueUrl=stack["queue"], Attributes={"RedrivePolicy": ""})
    assert handler.handle(event(stack, "not a change", change("a", 10, {"v": "1"})), None) == {
        "batchItemFailures": [{"itemIdentifier": "m0"}]
    }
    assert table2(stack["dynamodb"]) == {"a": {"pk": "a", "sk": "s", "v": "1"}}


def test_a_message_too_large_to_carry_its_reason_is_left_to_sqs(stack):
    body = "x" * (262_144 - 10)
    assert handler.handle(event(stack, body, "not a change either"), None) == {
        "batchItemFailures": [{"itemIdentifier": "m0"}]
    }
    assert [m["Body"] for m in dead_letters(stack)] == ["not a change either"]
