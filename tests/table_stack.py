"""The table → table stack as the tests build it in moto: table1 (with its stream), table2, the
changes topic and queue (raw delivery, filtered on ``table``), the changes DLQ and the table
failures queue, and the functions' settings pointing at them."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest


def make_table(client: Any, name: str, stream: bool = False) -> None:
    kwargs = {}
    if stream:
        kwargs["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    client.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        **kwargs,
    )


def build(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Create the stack in the current moto and set the functions' environment; its clients and names."""
    dynamodb = boto3.client("dynamodb")
    make_table(dynamodb, "table1", stream=True)
    make_table(dynamodb, "table2")
    sns, sqs = boto3.client("sns"), boto3.client("sqs")
    topic = sns.create_topic(Name="changes")["TopicArn"]
    failures = sqs.create_queue(QueueName="table-failures")["QueueUrl"]
    dlq = sqs.create_queue(QueueName="changes-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue = sqs.create_queue(
        QueueName="changes",
        Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5})},
    )["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=queue_arn,
        Attributes={
            "RawMessageDelivery": "true",
            "FilterPolicy": json.dumps({"table": ["table1"]}),
            "FilterPolicyScope": "MessageAttributes",
        },
    )
    for key, value in {
        "TARGET_TABLE": "table2",
        "SOURCE_TABLE": "table1",
        "TOPIC_ARN": topic,
        "PARKED_QUEUE_URL": failures,
    }.items():
        monkeypatch.setenv(key, value)
    return {
        "dynamodb": dynamodb,
        "sqs": sqs,
        "queue": queue,
        "queue_arn": queue_arn,
        "sns": sns,
        "topic": topic,
        "failures": failures,
        "dlq": dlq,
    }
