"""The SNS double refuses what SNS documents it refuses, and passes the rest on to moto."""

from __future__ import annotations

import boto3
import pytest

from tests.doubles.sns import MAX_BYTES, CallFault, EntryFault, SnsLimits, check, entry_bytes


def entry(i: int = 0, message: str = "m", **attributes: dict) -> dict:
    return {"Id": str(i), "Message": message, "MessageAttributes": attributes}


def string(value: str) -> dict:
    return {"DataType": "String", "StringValue": value}


@pytest.fixture
def topic(aws):
    sns, sqs = boto3.client("sns"), boto3.client("sqs")
    arn = sns.create_topic(Name="t")["TopicArn"]
    queue = sqs.create_queue(QueueName="q")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
    return {"sns": sns, "sqs": sqs, "arn": arn, "queue": queue, "limits": SnsLimits(sns)}


def delivered(topic) -> list[str]:
    out = []
    while got := topic["sqs"].receive_message(QueueUrl=topic["queue"], MaxNumberOfMessages=10).get("Messages"):
        out += [m["Body"] for m in got]
        topic["sqs"].delete_message_batch(
            QueueUrl=topic["queue"],
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)],
        )
    return out


def test_sizes_count_utf8_bytes_of_the_message_and_every_attribute_part():
    assert entry_bytes(entry(message="é" * 3, table=string("t1"))) == 6 + len("table") + len("String") + 2
    assert (
        entry_bytes(
            {"Id": "0", "Message": "m", "MessageAttributes": {"b": {"DataType": "Binary", "BinaryValue": b"\x00\x01"}}}
        )
        == 1 + 1 + 6 + 2
    )


@pytest.mark.parametrize(
    ("entries", "code"),
    [
        ([], "EmptyBatchRequest"),
        ([entry(i) for i in range(11)], "TooManyEntriesInBatchRequest"),
        ([entry(0), entry(0)], "BatchEntryIdsNotDistinct"),
        ([{"Id": "a.b", "Message": "m"}], "InvalidBatchEntryId"),
        ([{"Id": "x" * 81, "Message": "m"}], "InvalidBatchEntryId"),
        ([{"Id": "", "Message": "m"}], "InvalidBatchEntryId"),
        ([entry(message="")], "InvalidParameter"),
        ([entry(message="x" * (MAX_BYTES + 1))], "InvalidParameter"),
        ([entry(message="é" * (MAX_BYTES // 2 + 1))], "InvalidParameter"),  # bytes, not characters
        ([entry(message="x" * (MAX_BYTES - 5), a=string("vv"))], "InvalidParameter"),  # attributes count
        ([entry(i, "x" * 40_000) for i in range(7)], "BatchRequestTooLong"),
        ([entry(**{"AWS.x": string("v")})], "InvalidParameter"),
        ([entry(**{"amazon.x": string("v")})], "InvalidParameter"),
        ([entry(**{".x": string("v")})], "InvalidParameter"),
        ([entry(**{"x.": string("v")})], "InvalidParameter"),
        ([entry(**{"a..b": string("v")})], "InvalidParameter"),
        ([entry(**{"a b": string("v")})], "InvalidParameter"),
        ([entry(**{"a" * 257: string("v")})], "InvalidParameter"),
        ([entry(a={"DataType": "Strin", "StringValue": "v"})], "InvalidParameter"),
        ([entry(a=string(""))], "ParameterValueInvalid"),
        ([entry(a={"DataType": "Number", "StringValue": "x1"})], "ParameterValueInvalid"),
        ([entry(a={"DataType": "String.Array", "StringValue": "{}"})], "ParameterValueInvalid"),
        ([entry(a={"DataType": "Binary", "BinaryValue": b""})], "ParameterValueInvalid"),
    ],
)
def test_check_refuses_what_sns_refuses(entries, code):
    with pytest.raises(Exception, match=code) as raised:
        check(entries)
    assert raised.value.code == code


def test_check_accepts_a_call_at_the_limits():
    ids = ["a" * 80, "B-_9", *map(str, range(8))]
    size = MAX_BYTES // 10
    first = {**entry(0, "x" * (size - 7), a=string("vv")), "Id": ids[0]}
    check([first] + [{"Id": i, "Message": "x" * size} for i in ids[1:]])
    check(
        [
            entry(
                a={"DataType": "Number", "StringValue": "-1.5e3"},
                b={"DataType": "String.Array", "StringValue": '["x", 1, null]'},
            )
        ]
    )


def test_a_refused_call_raises_the_clients_modeled_exception_and_delivers_nothing(topic):
    sns = topic["sns"]
    with pytest.raises(sns.exceptions.BatchRequestTooLongException):
        sns.publish_batch(TopicArn=topic["arn"], PublishBatchRequestEntries=[entry(i, "x" * 40_000) for i in range(10)])
    assert topic["limits"].refused == ["BatchRequestTooLong"]
    assert delivered(topic) == []


def test_a_call_within_the_limits_reaches_moto_and_is_delivered(topic):
    response = topic["sns"].publish_batch(
        TopicArn=topic["arn"], PublishBatchRequestEntries=[entry(i, "x" * 26_000) for i in range(10)]
    )
    assert len(response["Successful"]) == 10
    assert len(delivered(topic)) == 10
    assert len(topic["limits"].calls) == 1


def test_faults_fail_a_call_or_some_entries(topic):
    sns, limits = topic["sns"], topic["limits"]
    limits.faults.extend([CallFault("Throttled", "Rate exceeded", 429), EntryFault(("1",))])
    with pytest.raises(sns.exceptions.ThrottledException):
        sns.publish_batch(TopicArn=topic["arn"], PublishBatchRequestEntries=[entry(0)])
    response = sns.publish_batch(TopicArn=topic["arn"], PublishBatchRequestEntries=[entry(0, "a"), entry(1, "b")])
    assert [s["Id"] for s in response["Successful"]] == ["0"]
    assert response["Failed"] == [
        {"Id": "1", "Code": "InternalError", "Message": "Internal error", "SenderFault": False}
    ]
    assert delivered(topic) == ["a"]
