"""The embedded AWS's patches of moto (local/moto_patches.py): each answer as AWS gives it,
against moto in-process. Every test here fails on moto without its patch."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local import moto_patches

REGION = "eu-west-1"
ACCOUNT = "123456789012"
KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/00000000-0000-0000-0000-000000000000"


@pytest.fixture
def session() -> Iterator[boto3.session.Session]:
    moto_patches.apply()
    with mock_aws():
        yield boto3.session.Session(region_name=REGION)


def raw_body(client: Any, call: str) -> list[bytes]:
    """Collect the HTTP bodies of ``call`` (what the provider's SDK parses, before boto3 does)."""
    bodies: list[bytes] = []
    client.meta.events.register(f"after-call.*.{call}", lambda http_response, **_: bodies.append(http_response.content))
    return bodies


# --- SQS --------------------------------------------------------------------------------------


def test_a_redrive_allow_policy_is_kept_returned_and_removed(session):
    sqs = session.client("sqs")
    url = sqs.create_queue(QueueName="dlq")["QueueUrl"]
    policy = json.dumps(
        {"redrivePermission": "byQueue", "sourceQueueArns": [f"arn:aws:sqs:{REGION}:{ACCOUNT}:q"]},
        separators=(",", ":"),
    )
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"RedriveAllowPolicy": policy})

    named = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedriveAllowPolicy"])["Attributes"]
    assert named == {"RedriveAllowPolicy": policy}
    assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]["RedriveAllowPolicy"] == policy

    sqs.set_queue_attributes(QueueUrl=url, Attributes={"RedriveAllowPolicy": ""})
    assert "RedriveAllowPolicy" not in sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]


def test_setting_one_attribute_keeps_the_queue_policy(session):
    sqs = session.client("sqs")
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    policy = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "sns.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": f"arn:aws:sqs:{REGION}:{ACCOUNT}:q",
                }
            ],
        }
    )
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": policy})

    sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "60"})

    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["VisibilityTimeout"] == "60"
    assert json.loads(attributes["Policy"]) == json.loads(policy)


def test_a_redrive_policy_comes_back_as_the_compact_json_aws_returns(session):
    sqs = session.client("sqs")
    dlq = sqs.create_queue(QueueName="q-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5}, separators=(",", ":"))
    url = sqs.create_queue(QueueName="q", Attributes={"RedrivePolicy": policy})["QueueUrl"]

    assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])["Attributes"] == {
        "RedrivePolicy": policy
    }


def test_a_receive_reads_the_retention_setting_once_per_message_not_every_attribute(session, monkeypatch):
    from moto.sqs.models import Queue, sqs_backends

    sqs = session.client("sqs")
    url = sqs.create_queue(QueueName="deep", Attributes={"MessageRetentionPeriod": "60"})["QueueUrl"]
    for start in range(0, 200, 10):
        sqs.send_message_batch(
            QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"m{i}"} for i in range(start, start + 10)]
        )
    computed = []
    original = Queue.attributes
    monkeypatch.setattr(Queue, "attributes", property(lambda self: computed.append(1) or original.fget(self)))
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30)["Messages"]
    assert len(got) == 10
    # Without the patch each message received works out every attribute again (twice).
    assert len(computed) < 5
    # A message past the queue's retention is still never received, as in SQS.
    expired_url = sqs.create_queue(QueueName="old", Attributes={"MessageRetentionPeriod": "60"})["QueueUrl"]
    sqs.send_message(QueueUrl=expired_url, MessageBody="old")
    (message,) = sqs_backends[ACCOUNT][REGION].get_queue("old")._messages
    message.sent_timestamp -= 61_000
    assert "Messages" not in sqs.receive_message(QueueUrl=expired_url, VisibilityTimeout=30)


# --- the server -----------------------------------------------------------------------------


def test_the_server_reads_moto_s_directory_once(session, monkeypatch):
    import os

    from moto import backends
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    listed = []
    real = os.listdir
    monkeypatch.setattr(os, "listdir", lambda path: listed.append(path) or real(path))
    app = DomainDispatcherApplication(create_backend_app)
    assert app.get_backend_for_host("s3") == "s3"
    assert app.get_backend_for_host("sqs") == "sqs"
    assert app.get_backend_for_host("nothing-of-moto") is None
    assert listed == []
    assert {"s3", "sqs", "kinesis", "dynamodb"} <= set(backends.list_of_moto_modules())


# --- CodeCommit -------------------------------------------------------------------------------


def test_repository_dates_are_epoch_seconds_and_the_key_is_kept(session):
    codecommit = session.client("codecommit")
    bodies = raw_body(codecommit, "GetRepository")
    codecommit.create_repository(repositoryName="repo1", kmsKeyId=KEY_ARN)

    metadata = codecommit.get_repository(repositoryName="repo1")["repositoryMetadata"]

    assert metadata["kmsKeyId"] == KEY_ARN
    wire = json.loads(bodies[0])["repositoryMetadata"]
    assert isinstance(wire["creationDate"], float)
    assert isinstance(wire["lastModifiedDate"], float)


def test_repository_tags_from_creation_tag_and_untag(session):
    codecommit = session.client("codecommit")
    arn = codecommit.create_repository(repositoryName="repo1", tags={"Project": "tributary"})["repositoryMetadata"][
        "Arn"
    ]
    assert codecommit.list_tags_for_resource(resourceArn=arn)["tags"] == {"Project": "tributary"}

    codecommit.tag_resource(resourceArn=arn, tags={"Environment": "local"})
    codecommit.untag_resource(resourceArn=arn, tagKeys=["Project"])
    assert codecommit.list_tags_for_resource(resourceArn=arn)["tags"] == {"Environment": "local"}

    codecommit.delete_repository(repositoryName="repo1")
    arn = codecommit.create_repository(repositoryName="repo1")["repositoryMetadata"]["Arn"]
    assert codecommit.list_tags_for_resource(resourceArn=arn)["tags"] == {}  # a new repository starts bare


# --- Lambda -----------------------------------------------------------------------------------


def function_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return None\n")
    return buffer.getvalue()


def create_function(session: boto3.session.Session, name: str, **extra: Any) -> str:
    role = session.client("iam").create_role(RoleName=f"{name}-fn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    return session.client("lambda").create_function(
        FunctionName=name,
        Role=role,
        Runtime="python3.13",
        Handler="handler.handler",
        Code={"ZipFile": function_zip()},
        **extra,
    )["FunctionArn"]


def test_a_functions_logging_config_is_kept_with_awss_defaults(session):
    lam = session.client("lambda")
    create_function(session, "given", LoggingConfig={"LogFormat": "Text", "LogGroup": "/aws/lambda/elsewhere"})
    create_function(session, "default")

    assert lam.get_function(FunctionName="given")["Configuration"]["LoggingConfig"] == {
        "LogFormat": "Text",
        "LogGroup": "/aws/lambda/elsewhere",
    }
    assert lam.get_function_configuration(FunctionName="default")["LoggingConfig"] == {
        "LogFormat": "Text",
        "LogGroup": "/aws/lambda/default",
    }

    lam.update_function_configuration(FunctionName="default", LoggingConfig={"LogFormat": "JSON"})
    assert lam.get_function_configuration(FunctionName="default")["LoggingConfig"] == {
        "LogFormat": "JSON",
        "LogGroup": "/aws/lambda/default",
        "ApplicationLogLevel": "INFO",
        "SystemLogLevel": "INFO",
    }


def test_event_source_mappings_are_stored_and_never_acted_on(session, monkeypatch):
    from moto.awslambda.models import LambdaFunction

    invoked: list[str] = []
    monkeypatch.setattr(LambdaFunction, "invoke", lambda self, *a, **k: invoked.append(self.function_name))
    lam, sqs, ddb = session.client("lambda"), session.client("sqs"), session.client("dynamodb")
    function = create_function(session, "consumer")
    url = sqs.create_queue(QueueName="work")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    stream_arn = ddb.create_table(
        TableName="table1",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )["TableDescription"]["LatestStreamArn"]
    kinesis = session.client("kinesis")
    kinesis.create_stream(StreamName="events", ShardCount=1)
    kinesis_arn = kinesis.describe_stream_summary(StreamName="events")["StreamDescriptionSummary"]["StreamARN"]
    uuids = {
        lam.create_event_source_mapping(
            FunctionName=function,
            EventSourceArn=arn,
            BatchSize=10,
            **({} if arn == queue_arn else {"StartingPosition": "TRIM_HORIZON"}),
        )["UUID"]
        for arn in (queue_arn, stream_arn, kinesis_arn)
    }

    sqs.send_message(QueueUrl=url, MessageBody="hello")
    ddb.put_item(TableName="table1", Item={"pk": {"S": "a"}})
    kinesis.put_record(StreamName="events", Data=b"x", PartitionKey="p")

    assert invoked == []
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=url).get("Messages", [])] == ["hello"]
    streams = session.client("dynamodbstreams")
    shard = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=stream_arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")[
        "ShardIterator"
    ]
    assert len(streams.get_records(ShardIterator=iterator)["Records"]) == 1
    assert {m["UUID"] for m in lam.list_event_source_mappings(FunctionName=function)["EventSourceMappings"]} == uuids
    for uuid in uuids:
        lam.delete_event_source_mapping(UUID=uuid)
    assert lam.list_event_source_mappings()["EventSourceMappings"] == []


# --- CodeBuild --------------------------------------------------------------------------------


def test_a_no_source_project_keeps_its_key_and_build_limit(session):
    codebuild = session.client("codebuild")
    project = codebuild.create_project(
        name="mirror",
        source={"type": "NO_SOURCE", "buildspec": "version: 0.2\n"},
        artifacts={"type": "NO_ARTIFACTS"},
        environment={
            "type": "LINUX_CONTAINER",
            "image": "aws/codebuild/standard:7.0",
            "computeType": "BUILD_GENERAL1_SMALL",
        },
        serviceRole=f"arn:aws:iam::{ACCOUNT}:role/build",
        encryptionKey=KEY_ARN,
        concurrentBuildLimit=1,
    )["project"]

    stored = codebuild.batch_get_projects(names=[project["arn"]])["projects"][0]
    assert stored["encryptionKey"] == KEY_ARN
    assert stored["concurrentBuildLimit"] == 1


def test_a_project_is_deleted_by_its_arn(session):
    codebuild = session.client("codebuild")
    project = codebuild.create_project(
        name="mirror",
        source={"type": "CODECOMMIT", "location": "https://example.com/repo"},
        artifacts={"type": "NO_ARTIFACTS"},
        environment={"type": "LINUX_CONTAINER", "image": "i", "computeType": "BUILD_GENERAL1_SMALL"},
        serviceRole=f"arn:aws:iam::{ACCOUNT}:role/build",
    )["project"]

    codebuild.delete_project(name=project["arn"])

    assert codebuild.batch_get_projects(names=["mirror"])["projects"] == []


# --- Kinesis ----------------------------------------------------------------------------------


def test_tags_given_to_create_stream_are_the_streams_tags(session):
    kinesis = session.client("kinesis")
    kinesis.create_stream(StreamName="events", ShardCount=1, Tags={"Project": "tributary"})

    assert kinesis.list_tags_for_stream(StreamName="events")["Tags"] == [{"Key": "Project", "Value": "tributary"}]


# --- S3 ---------------------------------------------------------------------------------------


def _bucket_with_policy(session: boto3.session.Session, *statements: dict[str, Any]) -> Any:
    s3 = session.client("s3")
    s3.create_bucket(Bucket="policy-bucket", CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_policy(
        Bucket="policy-bucket", Policy=json.dumps({"Version": "2012-10-17", "Statement": list(statements)})
    )
    return s3


def test_a_tls_only_bucket_policy_lets_requests_over_tls_through(session):
    # The lake module's policy: deny s3:* when aws:SecureTransport is false.
    s3 = _bucket_with_policy(
        session,
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": ["arn:aws:s3:::policy-bucket", "arn:aws:s3:::policy-bucket/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
    )
    s3.put_object(Bucket="policy-bucket", Key="k", Body=b"v")
    assert s3.get_object(Bucket="policy-bucket", Key="k")["Body"].read() == b"v"


def test_a_bucket_policy_deny_whose_condition_holds_still_denies(session):
    s3 = _bucket_with_policy(
        session,
        {
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:PutObject",
            "Resource": "arn:aws:s3:::policy-bucket/*",
            "Condition": {"Bool": {"aws:SecureTransport": "true"}},
        },
    )
    with pytest.raises(s3.exceptions.ClientError) as error:
        s3.put_object(Bucket="policy-bucket", Key="k", Body=b"v")
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


# --- installation -----------------------------------------------------------------------------


def test_the_embedded_aws_installs_every_patch_once():
    from local.server import EmbeddedAws

    with EmbeddedAws():
        assert moto_patches._applied == set(moto_patches.PATCHES)
    moto_patches.apply()  # again: nothing is wrapped twice
    from moto.sqs.models import Queue

    assert Queue.BASE_ATTRIBUTES.count("RedriveAllowPolicy") == 1


# --- Athena -----------------------------------------------------------------------------------


def test_a_saved_query_can_be_deleted(session):
    athena = session.client("athena")
    athena.create_work_group(Name="lake", Configuration={"ResultConfiguration": {"OutputLocation": "s3://r/results/"}})
    query_id = athena.create_named_query(Name="q", Database="d", QueryString="SELECT 1", WorkGroup="lake")[
        "NamedQueryId"
    ]
    athena.delete_named_query(NamedQueryId=query_id)
    assert athena.list_named_queries(WorkGroup="lake")["NamedQueryIds"] == []
