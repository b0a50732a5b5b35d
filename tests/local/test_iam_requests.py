"""The IAM action, resource and condition keys of a request, derived from what the real SDK sends.

Each request here is serialised by botocore itself (stopped before it leaves the process), so
the derivation is tested on the wire format the functions produce, not on one written for it.
The expected actions follow the Service Authorization Reference.
"""

from __future__ import annotations

import base64
from urllib.parse import unquote, urlsplit

import boto3
import pytest

from local import iam

REGION, ACCOUNT = "eu-west-1", "123456789012"
ARN = f"{REGION}:{ACCOUNT}"


class SentError(Exception):
    def __init__(self, request):
        self.request = request


def sent(service: str, operation: str, **params):
    """The request botocore would send for one call, as the embedded AWS receives it."""
    client = boto3.client(
        service,
        region_name=REGION,
        endpoint_url="http://127.0.0.1:9",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
    )

    def stop(request, **kwargs):
        raise SentError(request)

    client.meta.events.register("before-send", stop)
    with pytest.raises(SentError) as caught:
        getattr(client, operation)(**params)
    request = caught.value.request
    url = urlsplit(request.url)
    body = request.body or b""
    if hasattr(body, "read"):
        body = body.read()
    if isinstance(body, str):
        body = body.encode()
    headers = {k.lower(): (v.decode() if isinstance(v, bytes) else v) for k, v in request.headers.items()}
    return iam.describe(request.method, unquote(url.path), url.query, headers, body)


def needs(service: str, operation: str, **params):
    call = sent(service, operation, **params)
    assert call is not None, f"{service}.{operation} was not recognised"
    return [(n.action, n.resource) for n in iam.needs(call, REGION, ACCOUNT)]


S3_CASES = [
    ("get_object", {"Bucket": "b", "Key": "dir/ü ?x+y#1.txt"}, [("s3:GetObject", "arn:aws:s3:::b/dir/ü ?x+y#1.txt")]),
    ("get_object", {"Bucket": "b", "Key": "k", "VersionId": "v1"}, [("s3:GetObjectVersion", "arn:aws:s3:::b/k")]),
    ("head_object", {"Bucket": "b", "Key": "a/b"}, [("s3:GetObject", "arn:aws:s3:::b/a/b")]),
    ("put_object", {"Bucket": "b", "Key": "lake/x.gz", "Body": b"x"}, [("s3:PutObject", "arn:aws:s3:::b/lake/x.gz")]),
    (
        "put_object",
        {"Bucket": "b", "Key": "k", "Body": b"x", "Tagging": "a=b"},
        [("s3:PutObject", "arn:aws:s3:::b/k"), ("s3:PutObjectTagging", "arn:aws:s3:::b/k")],
    ),
    ("list_objects_v2", {"Bucket": "b", "Prefix": "code/"}, [("s3:ListBucket", "arn:aws:s3:::b")]),
    ("list_objects", {"Bucket": "b"}, [("s3:ListBucket", "arn:aws:s3:::b")]),
    ("list_object_versions", {"Bucket": "b"}, [("s3:ListBucketVersions", "arn:aws:s3:::b")]),
    ("head_bucket", {"Bucket": "b"}, [("s3:ListBucket", "arn:aws:s3:::b")]),
    (
        "copy_object",
        {"Bucket": "dst", "Key": "code/k 2", "CopySource": {"Bucket": "src", "Key": "code/k 1"}},
        [("s3:PutObject", "arn:aws:s3:::dst/code/k 2"), ("s3:GetObject", "arn:aws:s3:::src/code/k 1")],
    ),
    (
        "copy_object",
        {
            "Bucket": "dst",
            "Key": "k",
            "CopySource": {"Bucket": "src", "Key": "k", "VersionId": "v"},
            "TaggingDirective": "REPLACE",
            "Tagging": "a=b",
        },
        [
            ("s3:PutObject", "arn:aws:s3:::dst/k"),
            ("s3:GetObjectVersion", "arn:aws:s3:::src/k"),
            ("s3:PutObjectTagging", "arn:aws:s3:::dst/k"),
        ],
    ),
    (
        "upload_part_copy",
        {"Bucket": "dst", "Key": "k", "CopySource": "src/big", "PartNumber": 1, "UploadId": "u"},
        [("s3:PutObject", "arn:aws:s3:::dst/k"), ("s3:GetObject", "arn:aws:s3:::src/big")],
    ),
    (
        "upload_part",
        {"Bucket": "b", "Key": "k", "PartNumber": 2, "UploadId": "u", "Body": b"x"},
        [("s3:PutObject", "arn:aws:s3:::b/k")],
    ),
    ("create_multipart_upload", {"Bucket": "b", "Key": "k"}, [("s3:PutObject", "arn:aws:s3:::b/k")]),
    (
        "abort_multipart_upload",
        {"Bucket": "b", "Key": "k", "UploadId": "u"},
        [("s3:AbortMultipartUpload", "arn:aws:s3:::b/k")],
    ),
    ("delete_object", {"Bucket": "b", "Key": "k"}, [("s3:DeleteObject", "arn:aws:s3:::b/k")]),
    ("delete_object", {"Bucket": "b", "Key": "k", "VersionId": "v"}, [("s3:DeleteObjectVersion", "arn:aws:s3:::b/k")]),
    (
        "delete_objects",
        {"Bucket": "b", "Delete": {"Objects": [{"Key": "a&b"}, {"Key": "c", "VersionId": "v"}]}},
        [("s3:DeleteObject", "arn:aws:s3:::b/a&b"), ("s3:DeleteObjectVersion", "arn:aws:s3:::b/c")],
    ),
    ("get_object_tagging", {"Bucket": "b", "Key": "k"}, [("s3:GetObjectTagging", "arn:aws:s3:::b/k")]),
    (
        "get_object_tagging",
        {"Bucket": "b", "Key": "k", "VersionId": "v"},
        [("s3:GetObjectVersionTagging", "arn:aws:s3:::b/k")],
    ),
    (
        "put_object_tagging",
        {"Bucket": "b", "Key": "k", "Tagging": {"TagSet": []}},
        [("s3:PutObjectTagging", "arn:aws:s3:::b/k")],
    ),
    ("get_bucket_notification_configuration", {"Bucket": "b"}, [("s3:GetBucketNotification", "arn:aws:s3:::b")]),
    ("get_bucket_policy", {"Bucket": "b"}, [("s3:GetBucketPolicy", "arn:aws:s3:::b")]),
    # A key that reads like a version: botocore percent-encodes it, and it stays the key.
    (
        "copy_object",
        {"Bucket": "dst", "Key": "k", "CopySource": {"Bucket": "src", "Key": "a?versionId=x"}},
        [("s3:PutObject", "arn:aws:s3:::dst/k"), ("s3:GetObject", "arn:aws:s3:::src/a?versionId=x")],
    ),
    # Operations whose action has another name, or shares its URI with a deprecated one.
    ("get_bucket_lifecycle_configuration", {"Bucket": "b"}, [("s3:GetLifecycleConfiguration", "arn:aws:s3:::b")]),
    ("list_buckets", {}, [("s3:ListAllMyBuckets", "*")]),
    ("get_public_access_block", {"Bucket": "b"}, [("s3:GetBucketPublicAccessBlock", "arn:aws:s3:::b")]),
    ("delete_bucket_tagging", {"Bucket": "b"}, [("s3:PutBucketTagging", "arn:aws:s3:::b")]),
    ("delete_bucket_encryption", {"Bucket": "b"}, [("s3:PutEncryptionConfiguration", "arn:aws:s3:::b")]),
    (
        "put_object_acl",
        {"Bucket": "b", "Key": "k", "ACL": "private", "VersionId": "v"},
        [("s3:PutObjectVersionAcl", "arn:aws:s3:::b/k")],
    ),
]


@pytest.mark.parametrize(
    ("operation", "params", "expected"), S3_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(S3_CASES)]
)
def test_s3_requests_name_the_action_and_the_bucket_or_object(operation, params, expected):
    assert needs("s3", operation, **params) == expected


def test_s3_listing_carries_its_prefix_and_delimiter_as_condition_keys():
    call = sent("s3", "list_objects_v2", Bucket="b", Prefix="code/ü/", Delimiter="/")
    (need,) = iam.needs(call, REGION, ACCOUNT)
    assert need.context["s3:prefix"] == "code/ü/"
    assert need.context["s3:delimiter"] == "/"
    (head,) = iam.needs(sent("s3", "head_object", Bucket="b", Key="code/x"), REGION, ACCOUNT)
    assert "s3:prefix" not in head.context  # a HEAD carries no prefix: a prefix condition cannot match it


def test_s3_encryption_headers_become_condition_keys():
    call = sent(
        "s3",
        "put_object",
        Bucket="b",
        Key="k",
        Body=b"x",
        ServerSideEncryption="aws:kms",
        SSEKMSKeyId="arn:aws:kms:eu-west-1:123456789012:key/k",
    )
    (need,) = iam.needs(call, REGION, ACCOUNT)
    assert need.context["s3:x-amz-server-side-encryption"] == "aws:kms"
    assert need.context["s3:x-amz-server-side-encryption-aws-kms-key-id"].endswith(":key/k")


TABLE = f"arn:aws:dynamodb:{ARN}:table"


def test_dynamodb_item_calls_name_each_table_and_index():
    item = {"pk": {"S": "a"}}
    assert needs("dynamodb", "put_item", TableName="t2", Item=item) == [("dynamodb:PutItem", f"{TABLE}/t2")]
    assert needs("dynamodb", "get_item", TableName=f"{TABLE}/t1", Key=item) == [("dynamodb:GetItem", f"{TABLE}/t1")]
    assert needs(
        "dynamodb",
        "query",
        TableName="t",
        IndexName="by_sk",
        KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": "a"}},
    ) == [("dynamodb:Query", f"{TABLE}/t/index/by_sk")]
    assert needs(
        "dynamodb",
        "batch_write_item",
        RequestItems={"a": [{"PutRequest": {"Item": item}}], "b": [{"DeleteRequest": {"Key": item}}]},
    ) == [("dynamodb:BatchWriteItem", f"{TABLE}/a"), ("dynamodb:BatchWriteItem", f"{TABLE}/b")]
    # A transaction asks for each item's own action.
    assert needs(
        "dynamodb",
        "transact_write_items",
        TransactItems=[
            {"Put": {"TableName": "a", "Item": item}},
            {"ConditionCheck": {"TableName": "b", "Key": item, "ConditionExpression": "attribute_exists(pk)"}},
        ],
    ) == [("dynamodb:PutItem", f"{TABLE}/a"), ("dynamodb:ConditionCheckItem", f"{TABLE}/b")]
    assert needs("dynamodb", "list_tables") == [("dynamodb:ListTables", "*")]


def test_dynamodb_streams_calls_are_dynamodb_actions_on_the_stream():
    stream = f"{TABLE}/t1/stream/2026-01-01T00:00:00.000"
    assert needs("dynamodbstreams", "describe_stream", StreamArn=stream) == [("dynamodb:DescribeStream", stream)]
    shard = "shardId-00000001700000000000-0000abcd"
    assert needs(
        "dynamodbstreams", "get_shard_iterator", StreamArn=stream, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    ) == [("dynamodb:GetShardIterator", stream)]
    # GetRecords names only an iterator; moto's begin with the stream's ARN.
    assert needs("dynamodbstreams", "get_records", ShardIterator=f"{stream}|1|abc") == [("dynamodb:GetRecords", stream)]


def test_kinesis_calls_name_the_stream_by_name_arn_or_iterator():
    stream = f"arn:aws:kinesis:{ARN}:stream/events"
    records = [{"Data": b"x", "PartitionKey": "k"}]
    assert needs("kinesis", "put_records", StreamName="events", Records=records) == [("kinesis:PutRecords", stream)]
    assert needs("kinesis", "put_record", StreamARN=stream, Data=b"x", PartitionKey="k") == [
        ("kinesis:PutRecord", stream)
    ]
    assert needs("kinesis", "list_shards", StreamName="events") == [("kinesis:ListShards", stream)]
    iterator = base64.b64encode(b"events:shardId-000000000000:0").decode()
    assert needs("kinesis", "get_records", ShardIterator=iterator) == [("kinesis:GetRecords", stream)]


def test_sqs_batch_calls_ask_for_the_single_actions_on_the_queue_from_its_url():
    url = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/changes-dlq"
    queue = f"arn:aws:sqs:{ARN}:changes-dlq"
    assert needs("sqs", "send_message_batch", QueueUrl=url, Entries=[{"Id": "1", "MessageBody": "x"}]) == [
        ("sqs:SendMessage", queue)
    ]
    assert needs("sqs", "delete_message_batch", QueueUrl=url, Entries=[{"Id": "1", "ReceiptHandle": "h"}]) == [
        ("sqs:DeleteMessage", queue)
    ]
    assert needs("sqs", "receive_message", QueueUrl=url) == [("sqs:ReceiveMessage", queue)]
    assert needs("sqs", "get_queue_url", QueueName="changes-dlq") == [("sqs:GetQueueUrl", queue)]
    assert needs("sqs", "get_queue_url", QueueName="q", QueueOwnerAWSAccountId="210987654321") == [
        ("sqs:GetQueueUrl", f"arn:aws:sqs:{REGION}:210987654321:q")
    ]


def test_sns_publish_batch_is_publish_on_the_topic():
    topic = f"arn:aws:sns:{ARN}:changes"
    assert needs("sns", "publish", TopicArn=topic, Message="m") == [("sns:Publish", topic)]
    assert needs("sns", "publish_batch", TopicArn=topic, PublishBatchRequestEntries=[{"Id": "1", "Message": "m"}]) == [
        ("sns:Publish", topic)
    ]


def test_other_services_name_their_resources():
    assert needs("lambda", "invoke", FunctionName="fn", Qualifier="live", Payload=b"{}") == [
        ("lambda:InvokeFunction", f"arn:aws:lambda:{ARN}:function:fn:live")
    ]
    assert needs(
        "events",
        "put_events",
        Entries=[
            {"Source": "s", "DetailType": "d", "Detail": "{}"},
            {"Source": "s", "DetailType": "d", "Detail": "{}", "EventBusName": "ops"},
        ],
    ) == [
        ("events:PutEvents", f"arn:aws:events:{ARN}:event-bus/default"),
        ("events:PutEvents", f"arn:aws:events:{ARN}:event-bus/ops"),
    ]
    assert needs(
        "logs",
        "put_log_events",
        logGroupName="/aws/lambda/f",
        logStreamName="s",
        logEvents=[{"timestamp": 0, "message": "m"}],
    ) == [("logs:PutLogEvents", f"arn:aws:logs:{ARN}:log-group:/aws/lambda/f:log-stream:s")]
    assert needs("kms", "decrypt", CiphertextBlob=b"x", KeyId="alias/stack") == [
        ("kms:Decrypt", f"arn:aws:kms:{ARN}:alias/stack")
    ]
    assert needs("codecommit", "get_branch", repositoryName="repo1", branchName="main") == [
        ("codecommit:GetBranch", f"arn:aws:codecommit:{ARN}:repo1")
    ]
    assert needs("xray", "put_trace_segments", TraceSegmentDocuments=["{}"]) == [("xray:PutTraceSegments", "*")]
    assert needs(
        "cloudwatch", "put_metric_data", Namespace="tributary", MetricData=[{"MetricName": "m", "Value": 1.0}]
    ) == [("cloudwatch:PutMetricData", "*")]
    assert needs("sts", "get_caller_identity") == []  # answered for any caller


def test_a_function_payload_is_not_read_as_parameters_and_partial_arns_are_completed():
    assert needs("lambda", "invoke", FunctionName="fn", Payload=b'{"Qualifier": "other", "FunctionName": "x"}') == [
        ("lambda:InvokeFunction", f"arn:aws:lambda:{ARN}:function:fn")
    ]
    assert needs("lambda", "invoke", FunctionName="fn", Payload=b"{not json") == [
        ("lambda:InvokeFunction", f"arn:aws:lambda:{ARN}:function:fn")
    ]
    assert needs("lambda", "get_function", FunctionName=f"{ACCOUNT}:function:fn") == [
        ("lambda:GetFunction", f"arn:aws:lambda:{ARN}:function:fn")
    ]
    # ListStreams takes no resource type, whatever table it names.
    assert needs("dynamodbstreams", "list_streams", TableName="table1") == [("dynamodb:ListStreams", "*")]


@pytest.mark.parametrize("signature_version", ["s3", "s3v4"])
def test_a_presigned_url_names_its_signer_in_the_query(signature_version):
    from botocore.config import Config

    client = boto3.client(
        "s3",
        region_name=REGION,
        endpoint_url="http://127.0.0.1:9",
        aws_access_key_id="ASIAFUNCTION",
        aws_secret_access_key="secret",
        config=Config(signature_version=signature_version),
    )
    url = urlsplit(client.generate_presigned_url("get_object", Params={"Bucket": "b", "Key": "k"}))
    authorization = iam.presigned_authorization(url.query)
    assert iam.access_key(authorization) == "ASIAFUNCTION"
    call = iam.describe("GET", unquote(url.path), url.query, {"authorization": authorization}, b"")
    assert [(n.action, n.resource) for n in iam.needs(call, REGION, ACCOUNT)] == [("s3:GetObject", "arn:aws:s3:::b/k")]


def test_a_request_without_a_signature_or_of_no_known_shape_is_not_described():
    assert iam.describe("GET", "/", "", {}, b"") is None
    authorization = "AWS4-HMAC-SHA256 Credential=AKID/20260101/eu-west-1/lambda/aws4_request, SignedHeaders=host"
    assert iam.describe("PATCH", "/nowhere", "", {"authorization": authorization}, b"") is None
    unknown = authorization.replace("/lambda/", "/no-such-service/")
    assert iam.describe("POST", "/", "", {"authorization": unknown}, b"") is None


def test_every_derived_action_exists_in_the_iam_definitions():
    from tools import iam_lint

    for operation, params, _ in S3_CASES:
        for action, _resource in needs("s3", operation, **params):
            assert iam_lint.action_exists(action), action
    samples = [
        ("dynamodbstreams", "get_records", {"ShardIterator": f"{TABLE}/t/stream/x|1|a"}),
        ("sqs", "send_message_batch", {"QueueUrl": "https://q/1/q", "Entries": [{"Id": "1", "MessageBody": "x"}]}),
        (
            "sns",
            "publish_batch",
            {"TopicArn": f"arn:aws:sns:{ARN}:t", "PublishBatchRequestEntries": [{"Id": "1", "Message": "m"}]},
        ),
        ("lambda", "invoke", {"FunctionName": "f"}),
        ("kinesis", "put_records", {"StreamName": "s", "Records": [{"Data": b"x", "PartitionKey": "k"}]}),
    ]
    for service, operation, params in samples:
        for action, _resource in needs(service, operation, **params):
            assert iam_lint.action_exists(action), action
