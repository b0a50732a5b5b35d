"""The embedded AWS refuses a function's call its role does not allow, as AWS would.

Each test makes a role through IAM's API, assumes it as the runtime does for a function, and
calls the embedded AWS with those credentials through the real SDK; the calls that pass or
fail are the ones AWS's policy evaluation logic lets through or refuses.
"""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError

from local import iam
from local.server import EmbeddedAws

REGION, ACCOUNT = "us-east-1", "123456789012"
TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


@pytest.fixture
def aws(monkeypatch):
    with EmbeddedAws() as server:
        server.iam.region = REGION
        monkeypatch.setenv("AWS_ENDPOINT_URL", server.endpoint)
        yield server


def admin(aws, service):
    return boto3.client(
        service,
        region_name=REGION,
        endpoint_url=aws.endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def function_client(aws, service, statements, boundary=None, name="fn"):
    """A client with the credentials of a new role that has these statements, registered as a
    function's, as ``LocalStack`` registers each function's role."""
    iam_client = admin(aws, "iam")
    role = iam_client.create_role(
        RoleName=f"{name}-role",
        AssumeRolePolicyDocument=json.dumps(TRUST),
        **({"PermissionsBoundary": boundary} if boundary else {}),
    )["Role"]
    iam_client.put_role_policy(
        RoleName=f"{name}-role",
        PolicyName="access",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}),
    )
    credentials = admin(aws, "sts").assume_role(RoleArn=role["Arn"], RoleSessionName=name)["Credentials"]
    session_arn = f"arn:aws:sts::{ACCOUNT}:assumed-role/{name}-role/{name}"
    aws.iam.register(credentials["AccessKeyId"], iam.read_identity(iam_client, name, role["Arn"], session_arn))
    aws.iam.facts = iam.read_facts(
        boto3.session.Session(region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing")
    )
    return boto3.client(
        service,
        region_name=REGION,
        endpoint_url=aws.endpoint,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


def refused(call, *args, **kwargs) -> ClientError:
    with pytest.raises(ClientError) as caught:
        call(*args, **kwargs)
    return caught.value


def test_a_role_may_make_exactly_the_calls_its_statements_allow(aws):
    admin(aws, "s3").create_bucket(Bucket="lake")
    s3 = function_client(
        aws, "s3", [{"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::lake/events/*"}]
    )
    s3.put_object(Bucket="lake", Key="events/dt=2026-01-01/a.gz", Body=b"x")
    error = refused(s3.put_object, Bucket="lake", Key="state/a", Body=b"x")
    assert error.response["Error"]["Code"] == "AccessDenied"
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert "s3:PutObject on resource: arn:aws:s3:::lake/state/a" in error.response["Error"]["Message"]
    assert [(d.function, d.action, d.resource) for d in aws.iam.denials] == [
        ("fn", "s3:PutObject", "arn:aws:s3:::lake/state/a")
    ]
    assert aws.iam.report()["denied"] == 1


def test_an_explicit_deny_wins_over_any_allow(aws):
    admin(aws, "s3").create_bucket(Bucket="lake")
    s3 = function_client(
        aws,
        "s3",
        [
            {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
            {"Effect": "Deny", "Action": "s3:Put*", "Resource": "arn:aws:s3:::lake/quarantine/*"},
        ],
    )
    s3.put_object(Bucket="lake", Key="events/a", Body=b"x")
    assert (
        refused(s3.put_object, Bucket="lake", Key="quarantine/a", Body=b"x").response["Error"]["Code"] == "AccessDenied"
    )


def test_least_privilege_on_stream_table_queue_and_topic_arns_is_matched(aws):
    """moto's own enforcement checks these services against "*" only; here the ARN must match."""
    admin(aws, "kinesis").create_stream(StreamName="events", ShardCount=1)
    admin(aws, "dynamodb").create_table(
        TableName="table2",
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
    )
    admin(aws, "dynamodb").create_table(
        TableName="table1",
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
    )
    url = admin(aws, "sqs").create_queue(QueueName="failures")["QueueUrl"]
    stream = f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/events"
    statements = [
        {
            "Effect": "Allow",
            "Action": ["kinesis:ListShards", "kinesis:GetShardIterator", "kinesis:GetRecords", "kinesis:PutRecords"],
            "Resource": stream,
        },
        {
            "Effect": "Allow",
            "Action": "dynamodb:PutItem",
            "Resource": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/table2",
        },
        {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": f"arn:aws:sqs:{REGION}:{ACCOUNT}:failures"},
    ]
    kinesis = function_client(aws, "kinesis", statements)
    kinesis.put_records(StreamName="events", Records=[{"Data": b"{}", "PartitionKey": "k"}])
    shard = kinesis.list_shards(StreamName="events")["Shards"][0]["ShardId"]
    iterator = kinesis.get_shard_iterator(StreamName="events", ShardId=shard, ShardIteratorType="TRIM_HORIZON")[
        "ShardIterator"
    ]
    assert len(kinesis.get_records(ShardIterator=iterator)["Records"]) == 1
    assert refused(kinesis.describe_stream, StreamName="events").response["Error"]["Code"] == "AccessDeniedException"
    session = boto3.session.Session()  # the same role's credentials for the other services
    credentials = kinesis._request_signer._credentials

    def client(service):
        return session.client(
            service,
            region_name=REGION,
            endpoint_url=aws.endpoint,
            aws_access_key_id=credentials.access_key,
            aws_secret_access_key=credentials.secret_key,
            aws_session_token=credentials.token,
        )

    ddb, sqs = client("dynamodb"), client("sqs")
    ddb.put_item(TableName="table2", Item={"pk": {"S": "a"}})
    assert (
        refused(ddb.put_item, TableName="table1", Item={"pk": {"S": "a"}}).response["Error"]["Code"]
        == "AccessDeniedException"
    )
    assert (
        refused(ddb.get_item, TableName="table2", Key={"pk": {"S": "a"}}).response["Error"]["Code"]
        == "AccessDeniedException"
    )
    sqs.send_message(QueueUrl=url, MessageBody="x")
    assert refused(sqs.receive_message, QueueUrl=url).response["Error"]["Code"] == "AccessDenied"


def test_a_read_of_a_missing_key_is_404_only_for_a_caller_allowed_to_list_the_bucket(aws):
    admin(aws, "s3").create_bucket(Bucket="code")
    reader = function_client(
        aws, "s3", [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::code/*"}], name="reader"
    )
    lister = function_client(
        aws,
        "s3",
        [
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::code/*"},
            {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::code"},
        ],
        name="lister",
    )
    for call in ("head_object", "get_object"):
        assert (
            refused(getattr(reader, call), Bucket="code", Key="absent").response["ResponseMetadata"]["HTTPStatusCode"]
            == 403
        )
        assert (
            refused(getattr(lister, call), Bucket="code", Key="absent").response["ResponseMetadata"]["HTTPStatusCode"]
            == 404
        )
    # The function cannot tell absent from forbidden, so the run counts each such 403 as a refusal.
    assert [(d.function, d.action) for d in aws.iam.denials] == [("reader", "s3:ListBucket")] * 2
    admin(aws, "s3").put_object(Bucket="code", Key="present", Body=b"x")
    assert reader.get_object(Bucket="code", Key="present")["Body"].read() == b"x"
    # A prefix condition on ListBucket cannot help a HEAD, which carries no s3:prefix.
    prefixed = function_client(
        aws,
        "s3",
        [
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::code/*"},
            {
                "Effect": "Allow",
                "Action": "s3:ListBucket",
                "Resource": "arn:aws:s3:::code",
                "Condition": {"StringLike": {"s3:prefix": ["code/*"]}},
            },
        ],
        name="prefixed",
    )
    assert (
        refused(prefixed.head_object, Bucket="code", Key="absent").response["ResponseMetadata"]["HTTPStatusCode"] == 403
    )
    prefixed.list_objects_v2(Bucket="code", Prefix="code/")
    assert refused(prefixed.list_objects_v2, Bucket="code", Prefix="other/").response["Error"]["Code"] == "AccessDenied"


def test_writing_to_an_encrypted_bucket_or_queue_needs_the_key_and_the_key_policy_must_delegate(aws):
    kms = admin(aws, "kms")
    key = kms.create_key()["KeyMetadata"]["Arn"]
    s3, sqs = admin(aws, "s3"), admin(aws, "sqs")
    s3.create_bucket(Bucket="lake")
    s3.put_bucket_encryption(
        Bucket="lake",
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key}}]
        },
    )
    url = sqs.create_queue(QueueName="q", Attributes={"KmsMasterKeyId": key})["QueueUrl"]
    queue = f"arn:aws:sqs:{REGION}:{ACCOUNT}:q"
    without_key = function_client(
        aws, "s3", [{"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::lake/*"}], name="nokey"
    )
    error = refused(without_key.put_object, Bucket="lake", Key="a", Body=b"x")
    assert "kms:GenerateDataKey" in error.response["Error"]["Message"]
    with_key = function_client(
        aws,
        "s3",
        [
            {"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::lake/*"},
            {"Effect": "Allow", "Action": ["kms:GenerateDataKey", "kms:Decrypt"], "Resource": key},
            {"Effect": "Allow", "Action": ["sqs:SendMessage"], "Resource": queue},
        ],
        name="withkey",
    )
    with_key.put_object(Bucket="lake", Key="a", Body=b"x")
    # A key policy that names neither the role nor the account's root refuses even a granted role.
    kms.put_key_policy(
        KeyId=key,
        PolicyName="default",
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/someone-else"},
                        "Action": "kms:*",
                        "Resource": "*",
                    }
                ],
            }
        ),
    )
    sqs_client = function_client(
        aws,
        "sqs",
        [
            {"Effect": "Allow", "Action": ["sqs:SendMessage"], "Resource": queue},
            {"Effect": "Allow", "Action": ["kms:GenerateDataKey"], "Resource": key},
        ],
        name="sender",
    )
    error = refused(sqs_client.send_message, QueueUrl=url, MessageBody="x")
    assert "key policy" in error.response["Error"]["Message"]


def test_a_sender_to_an_encrypted_queue_needs_both_key_actions_and_sse_s3_needs_no_key(aws):
    kms = admin(aws, "kms")
    key, other = (kms.create_key()["KeyMetadata"]["Arn"] for _ in range(2))
    url = admin(aws, "sqs").create_queue(QueueName="q", Attributes={"KmsMasterKeyId": key})["QueueUrl"]
    queue = f"arn:aws:sqs:{REGION}:{ACCOUNT}:q"
    s3 = admin(aws, "s3")
    s3.create_bucket(Bucket="lake")
    s3.put_bucket_encryption(
        Bucket="lake",
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key}}]
        },
    )
    sqs = function_client(
        aws,
        "sqs",
        [
            {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": queue},
            {"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::lake/*"},
            {"Effect": "Allow", "Action": "kms:GenerateDataKey", "Resource": key},
        ],
    )
    error = refused(sqs.send_message, QueueUrl=url, MessageBody="x")
    assert "kms:Decrypt" in error.response["Error"]["Message"]  # SQS and SNS senders need both
    credentials = sqs._request_signer._credentials
    writer = boto3.client(
        "s3",
        region_name=REGION,
        endpoint_url=aws.endpoint,
        aws_access_key_id=credentials.access_key,
        aws_secret_access_key="x",
        aws_session_token="y",
    )
    writer.put_object(Bucket="lake", Key="k", Body=b"x")  # the bucket's default key, which the role may use
    writer.put_object(Bucket="lake", Key="k", Body=b"x", ServerSideEncryption="AES256")  # SSE-S3: no key asked
    # A key the request names is the one asked for, not the bucket's default.
    error = refused(
        writer.put_object, Bucket="lake", Key="k", Body=b"x", ServerSideEncryption="aws:kms", SSEKMSKeyId=other
    )
    assert f"kms:GenerateDataKey on resource: {other}" in error.response["Error"]["Message"]


def test_a_request_the_embedded_aws_cannot_read_is_refused_not_a_crash(aws):
    import urllib.error
    import urllib.request

    client = function_client(aws, "dynamodb", [{"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"}])
    key = client._request_signer._credentials.access_key
    request = urllib.request.Request(
        f"{aws.endpoint}/",
        data=b"{not json",
        method="POST",
        headers={
            "X-Amz-Target": "DynamoDB_20120810.PutItem",
            "Content-Type": "application/x-amz-json-1.0",
            "Authorization": f"AWS4-HMAC-SHA256 Credential={key}/20260101/us-east-1/dynamodb/aws4_request, "
            "SignedHeaders=host, Signature=0",
        },
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=30)
    assert caught.value.code == 400
    assert "AccessDeniedException" in caught.value.read().decode()
    assert "cannot read the request" in aws.iam.denials[-1].reason
    client.list_tables()  # the server goes on answering


def test_a_grant_to_the_session_is_not_limited_by_the_boundary_but_one_to_the_role_is(aws):
    iam_client = admin(aws, "iam")
    boundary = iam_client.create_policy(
        PolicyName="sqs-only",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sqs:*", "Resource": "*"}]}
        ),
    )["Policy"]["Arn"]
    s3 = admin(aws, "s3")
    for bucket, principal in (
        ("to-session", f"arn:aws:sts::{ACCOUNT}:assumed-role/fn-role/fn"),
        ("to-role", f"arn:aws:iam::{ACCOUNT}:role/fn-role"),
    ):
        s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key="k", Body=b"x")
        s3.put_bucket_policy(
            Bucket=bucket,
            Policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"AWS": principal},
                            "Action": "s3:GetObject",
                            "Resource": f"arn:aws:s3:::{bucket}/*",
                        }
                    ],
                }
            ),
        )
    reader = function_client(
        aws, "s3", [{"Effect": "Allow", "Action": "sqs:ListQueues", "Resource": "*"}], boundary=boundary
    )
    assert reader.get_object(Bucket="to-session", Key="k")["Body"].read() == b"x"
    assert "permissions boundary" in refused(reader.get_object, Bucket="to-role", Key="k").response["Error"]["Message"]


def test_a_key_policy_naming_the_account_by_its_id_delegates_to_iam(aws):
    kms = admin(aws, "kms")
    key = kms.create_key(
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "kms:*", "Resource": "*"}],
            }
        )
    )["KeyMetadata"]["Arn"]
    url = admin(aws, "sqs").create_queue(QueueName="q", Attributes={"KmsMasterKeyId": key})["QueueUrl"]
    sqs = function_client(
        aws,
        "sqs",
        [
            {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": f"arn:aws:sqs:{REGION}:{ACCOUNT}:q"},
            {"Effect": "Allow", "Action": ["kms:GenerateDataKey", "kms:Decrypt"], "Resource": key},
        ],
    )
    sqs.send_message(QueueUrl=url, MessageBody="x")


def test_a_permissions_boundary_limits_what_the_role_grants(aws):
    iam_client = admin(aws, "iam")
    boundary = iam_client.create_policy(
        PolicyName="boundary",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
        ),
    )["Policy"]["Arn"]
    admin(aws, "s3").create_bucket(Bucket="bkt")
    admin(aws, "s3").put_object(Bucket="bkt", Key="k", Body=b"x")
    s3 = function_client(aws, "s3", [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}], boundary=boundary)
    s3.get_object(Bucket="bkt", Key="k")
    assert (
        "permissions boundary" in refused(s3.put_object, Bucket="bkt", Key="k", Body=b"y").response["Error"]["Message"]
    )


def test_a_resource_policy_naming_the_role_allows_what_its_own_policies_do_not(aws):
    sqs = admin(aws, "sqs")
    url = sqs.create_queue(QueueName="shared")["QueueUrl"]
    queue = f"arn:aws:sqs:{REGION}:{ACCOUNT}:shared"
    sqs.set_queue_attributes(
        QueueUrl=url,
        Attributes={
            "Policy": json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/fn-role"},
                            "Action": "sqs:SendMessage",
                            "Resource": queue,
                        }
                    ],
                }
            )
        },
    )
    client = function_client(aws, "sqs", [{"Effect": "Allow", "Action": "sqs:GetQueueUrl", "Resource": "*"}])
    client.send_message(QueueUrl=url, MessageBody="x")
    assert refused(client.receive_message, QueueUrl=url).response["Error"]["Code"] == "AccessDenied"


def test_other_credentials_are_not_checked_and_every_service_answers_in_its_own_error_shape(aws):
    admin(aws, "s3").create_bucket(Bucket="bkt")  # the operator's credentials: not a function
    assert aws.iam.report() == {"checked": 0, "denied": 0, "denials": []}
    topic = admin(aws, "sns").create_topic(Name="t")["TopicArn"]
    fn = admin(aws, "lambda")
    assert fn  # a rest-json service, refused below through the same role
    sns = function_client(aws, "sns", [{"Effect": "Allow", "Action": "sns:ListTopics", "Resource": "*"}])
    assert refused(sns.publish, TopicArn=topic, Message="m").response["Error"]["Code"] == "AuthorizationError"
    lam = boto3.client(
        "lambda",
        region_name=REGION,
        endpoint_url=aws.endpoint,
        aws_access_key_id=sns._request_signer._credentials.access_key,
        aws_secret_access_key="x",
        aws_session_token="y",
    )
    assert refused(lam.invoke, FunctionName="other").response["Error"]["Code"] == "AccessDeniedException"
    assert aws.iam.report()["checked"] == 2


def test_lambda_must_be_trusted_by_the_role():
    assert iam.lambda_may_assume(json.dumps(TRUST), "arn:aws:iam::123456789012:role/r")
    ec2_only = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
    assert not iam.lambda_may_assume(ec2_only, "arn:aws:iam::123456789012:role/r")
    account_only = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "sts:AssumeRole"}
        ],
    }
    assert not iam.lambda_may_assume(account_only, "arn:aws:iam::123456789012:role/r")


def test_what_lambda_does_with_the_role_is_checked_too(aws):
    """Lambda decrypts the environment, writes the logs and sends the traces with the function's
    role: a role that lacks one of those is a refusal, though no function code made a call."""
    configuration = {
        "FunctionName": "fn",
        "KMSKeyArn": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/k",
        "TracingConfig": {"Mode": "Active"},
        "LoggingConfig": {"LogGroup": "/aws/lambda/fn"},
    }
    needs = iam.lambda_service_needs(configuration, REGION, ACCOUNT)
    assert [n.action for n, _ in needs] == [
        "kms:Decrypt",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
    ]
    function_client(
        aws,
        "s3",
        [
            {
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/fn:*",
            },
            {"Effect": "Allow", "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"], "Resource": "*"},
        ],
    )
    identity = next(iter(aws.iam.identities.values()))
    refused_needs = [need for need, why in needs if aws.iam.require(identity, need, why)]
    assert [n.action for n in refused_needs] == ["kms:Decrypt"]
    assert "decrypts the function's environment" in aws.iam.denials[-1].reason
    assert iam.lambda_service_needs({"FunctionName": "plain"}, REGION, ACCOUNT)[0][0].resource.startswith(
        f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/plain:log-stream:"
    )
