"""local/snapshot.py: what the embedded AWS holds comes back whole, in another server, with the
objects moto keeps that do not pickle as they are (KMS keys, SQS's conditions, Lambda's weak
ARN index and its defaultdict of aliases)."""

from __future__ import annotations

import io
import json
import zipfile

import boto3

from local import snapshot
from local.server import EmbeddedAws

REGION = "eu-west-1"


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "def handle(event, context):\n    return event\n")
    return buffer.getvalue()


def _client(aws: EmbeddedAws, service: str):
    return boto3.client(service, endpoint_url=aws.endpoint, region_name=REGION)


def _fill(aws: EmbeddedAws) -> dict[str, str]:
    kms, sqs, lam, s3, ddb = (_client(aws, s) for s in ("kms", "sqs", "lambda", "s3", "dynamodb"))
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    dlq = sqs.create_queue(QueueName="q-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue = sqs.create_queue(
        QueueName="q",
        Attributes={
            "KmsMasterKeyId": key,
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 3}),
        },
    )["QueueUrl"]
    sqs.send_message(QueueUrl=queue, MessageBody="kept")
    role = _client(aws, "iam").create_role(
        RoleName="fn",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": "lambda.amazonaws.com"}}
                ],
            }
        ),
    )["Role"]["Arn"]
    lam.create_function(
        FunctionName="fn",
        Runtime="python3.13",
        Role=role,
        Handler="app.handle",
        Code={"ZipFile": _zip()},
        Environment={"Variables": {"QUEUE_URL": queue}},
    )
    lam.create_event_source_mapping(
        FunctionName="fn",
        EventSourceArn=sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"],
        BatchSize=7,
    )
    s3.create_bucket(Bucket="snapshot-bucket", CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_object(Bucket="snapshot-bucket", Key="k", Body=b"body")
    ddb.create_table(
        TableName="t",
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    ddb.put_item(TableName="t", Item={"pk": {"S": "a"}})
    return {"key": key, "queue": queue}


def test_a_snapshot_comes_back_whole_in_a_fresh_server_and_works_there():
    with EmbeddedAws() as first:
        made = _fill(first)
        state, endpoint = snapshot.capture(), first.endpoint
    applied = snapshot.Applied({"x": "1"}, {"out": 1}, state, endpoint)
    with EmbeddedAws(port=applied.port) as second:
        assert _client(second, "sqs").list_queues().get("QueueUrls", []) == []  # a fresh server is empty
        applied.restore()
        sqs, lam, kms = (_client(second, s) for s in ("sqs", "lambda", "kms"))
        assert sqs.get_queue_url(QueueName="q")["QueueUrl"] == made["queue"]
        assert sqs.receive_message(QueueUrl=made["queue"])["Messages"][0]["Body"] == "kept"
        sqs.send_message(QueueUrl=made["queue"], MessageBody="new")  # the queue's condition works again
        blob = kms.encrypt(KeyId=made["key"], Plaintext=b"secret")["CiphertextBlob"]
        assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"secret"
        config = lam.get_function_configuration(FunctionName="fn")
        assert config["Environment"]["Variables"] == {"QUEUE_URL": made["queue"]}
        assert lam.get_function_configuration(FunctionName=config["FunctionArn"])["FunctionName"] == "fn"
        [mapping] = lam.list_event_source_mappings(FunctionName="fn")["EventSourceMappings"]
        assert mapping["BatchSize"] == 7
        assert _client(second, "s3").get_object(Bucket="snapshot-bucket", Key="k")["Body"].read() == b"body"
        ddb = _client(second, "dynamodb")
        assert ddb.get_item(TableName="t", Key={"pk": {"S": "a"}})["Item"] == {"pk": {"S": "a"}}
        ddb.put_item(TableName="t", Item={"pk": {"S": "b"}})
        assert "LatestStreamArn" in ddb.describe_table(TableName="t")["Table"]


def test_a_saved_snapshot_loads_as_it_was_saved(tmp_path):
    applied = snapshot.Applied(
        {"table_sync_paths": "direct"}, {"names": {"a": "b"}}, b"\x80state", "http://127.0.0.1:45678"
    )
    applied.save(tmp_path / "s.bin")
    assert snapshot.Applied.load(tmp_path / "s.bin") == applied
    assert applied.port == 45678
