"""bucket1/code → bucket2/code under moto: events as S3 sends them, in any order, and reconciliation."""

from __future__ import annotations

import json
import urllib.parse

import boto3
import pytest
from boto3.s3.transfer import TransferConfig
from code_sync import handler

from local.sqs import sqs_event
from tributary import s3sync

REGION = "eu-west-1"
B1, B2 = "bucket-one", "bucket-two"
PREFIXES = s3sync.Prefixes(B1, B2)


@pytest.fixture
def s3(aws, monkeypatch):
    client = boto3.client("s3")
    for bucket in (B1, B2):
        client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    monkeypatch.setenv("SOURCE_BUCKET", B1)
    monkeypatch.setenv("TARGET_BUCKET", B2)
    return client


def notification(event_name: str, key: str, bucket: str = B1) -> str:
    """An S3 event notification body as SQS receives it (the key URL-encoded, no sequencer)."""
    return json.dumps({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": REGION, "eventName": event_name,
        "eventTime": "2026-11-22T10:00:00.000Z",
        "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
               "object": {"key": urllib.parse.quote_plus(key, safe=""), "size": 1}},
    }]})


def deliver(*bodies: str) -> dict:
    event = sqs_event([{"MessageId": f"m{i}", "ReceiptHandle": f"h{i}", "Body": body}
                       for i, body in enumerate(bodies)], "arn:aws:sqs:eu-west-1:123456789012:code-events", REGION)
    return handler.handle(event, None)


def put(s3, key: str, body: bytes, **extra) -> None:
    s3.put_object(Bucket=B1, Key=key, Body=body, **extra)


def test_created_objects_are_copied_with_metadata_type_and_tags(s3):
    key = "code/dir with space/naïve+plus.py"
    put(s3, key, b"print('hi')\n", ContentType="text/x-python", Metadata={"owner": "team-a"},
        Tagging="stage=prod&team=a")
    assert deliver(notification("ObjectCreated:Put", key)) == {"batchItemFailures": []}
    copied = s3.head_object(Bucket=B2, Key=key)
    assert copied["ContentType"] == "text/x-python"
    assert copied["Metadata"]["owner"] == "team-a"
    tags = {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=B2, Key=key)["TagSet"]}
    assert tags == {"stage": "prod", "team": "a"}
    assert s3sync.compare(s3, PREFIXES)["equal"]


def test_same_content_is_not_copied_again(s3, capsys):
    put(s3, "code/a.txt", b"same")
    deliver(notification("ObjectCreated:Put", "code/a.txt"))
    assert s3sync.reconcile_key(s3, PREFIXES, "code/a.txt") == "skipped"


def test_late_duplicated_and_reordered_events_converge(s3):
    put(s3, "code/x.txt", b"v1")
    created = notification("ObjectCreated:Put", "code/x.txt")
    s3.delete_object(Bucket=B1, Key="code/x.txt")
    removed = notification("ObjectRemoved:Delete", "code/x.txt")
    put(s3, "code/y.txt", b"y")
    # The delete arrives first, then the create (late), then the delete again.
    deliver(removed)
    deliver(created, created)
    deliver(removed, notification("ObjectCreated:Put", "code/y.txt"))
    assert s3sync.compare(s3, PREFIXES)["equal"]
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=B2).get("Contents", [])] == ["code/y.txt"]


def test_overwrites_propagate(s3):
    put(s3, "code/c.cfg", b"first")
    deliver(notification("ObjectCreated:Put", "code/c.cfg"))
    put(s3, "code/c.cfg", b"second, longer")
    deliver(notification("ObjectCreated:Put", "code/c.cfg"))
    assert s3.get_object(Bucket=B2, Key="code/c.cfg")["Body"].read() == b"second, longer"


def test_large_objects_use_the_multipart_copy_and_are_recognised_after(s3, monkeypatch):
    monkeypatch.setattr(s3sync, "COPY_CONFIG", TransferConfig(multipart_threshold=5 * 1024 * 1024,
                                                              multipart_chunksize=5 * 1024 * 1024))
    body = bytes(range(256)) * (12 * 1024 * 1024 // 256)
    put(s3, "code/big.bin", body, ContentType="application/octet-stream")
    deliver(notification("ObjectCreated:CompleteMultipartUpload", "code/big.bin"))
    copied = s3.head_object(Bucket=B2, Key="code/big.bin")
    source = s3.head_object(Bucket=B1, Key="code/big.bin")
    assert copied["ETag"] != source["ETag"]  # a multipart copy has an ETag of its own ...
    assert copied["Metadata"][s3sync.SOURCE_ETAG] == source["ETag"]  # ... so the source's is recorded
    assert s3sync.reconcile_key(s3, PREFIXES, "code/big.bin") == "skipped"
    assert s3.get_object(Bucket=B2, Key="code/big.bin")["Body"].read() == body


def test_the_test_event_and_other_prefixes_are_ignored(s3):
    test_event = json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": B1})
    put(s3, "elsewhere/z.txt", b"z")
    assert deliver(test_event, notification("ObjectCreated:Put", "elsewhere/z.txt")) == {"batchItemFailures": []}
    assert s3.list_objects_v2(Bucket=B2).get("KeyCount", 0) == 0


def test_an_unreadable_message_fails_alone(s3):
    put(s3, "code/ok.txt", b"ok")
    result = deliver("not json", notification("ObjectCreated:Put", "code/ok.txt"))
    assert result == {"batchItemFailures": [{"itemIdentifier": "m0"}]}
    assert s3sync.compare(s3, PREFIXES)["equal"]


def test_notifications_moto_really_sends_are_understood(s3):
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName="code-events")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3.put_bucket_notification_configuration(Bucket=B1, NotificationConfiguration={"QueueConfigurations": [{
        "QueueArn": arn, "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"],
        "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "code/"}]}}}]})
    put(s3, "code/über dir/a b.txt", b"1")
    put(s3, "code/keep.txt", b"2")
    s3.delete_object(Bucket=B1, Key="code/über dir/a b.txt")
    messages = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        messages.extend(batch)
        sqs.delete_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                                                        for i, m in enumerate(batch)])
    assert deliver(*[m["Body"] for m in messages]) == {"batchItemFailures": []}
    assert s3sync.compare(s3, PREFIXES)["equal"]


def test_reconciliation_finds_and_fixes_a_hand_made_drift(s3):
    for i in range(5):
        put(s3, f"code/f{i}.txt", f"file {i}".encode())
        deliver(notification("ObjectCreated:Put", f"code/f{i}.txt"))
    s3.put_object(Bucket=B2, Key="code/extra.txt", Body=b"nobody wrote me")
    s3.put_object(Bucket=B2, Key="code/f1.txt", Body=b"tampered, longer")
    s3.delete_object(Bucket=B2, Key="code/f2.txt")
    drift = s3sync.compare(s3, PREFIXES)
    assert (drift["missing"], drift["extra"], drift["different"]) == (["f2.txt"], ["extra.txt"], ["f1.txt"])
    todo = s3sync.plan(s3, PREFIXES)
    assert sorted(todo.copy) == ["code/f1.txt", "code/f2.txt"]
    assert todo.delete == ["code/extra.txt"]
    result = handler.handle({"source": "aws.events", "detail-type": "Scheduled Event"}, None)
    assert result == {"reconciled": {"copied": 2, "deleted": 1, "skipped": 0, "absent": 0}}
    assert s3sync.compare(s3, PREFIXES)["equal"]


def test_a_source_changed_between_look_and_copy_is_looked_at_again(s3, monkeypatch):
    put(s3, "code/race.txt", b"old")
    stale = s3.head_object(Bucket=B1, Key="code/race.txt")
    put(s3, "code/race.txt", b"new!")
    with pytest.raises(s3.exceptions.ClientError, match=r"PreconditionFailed|412"):
        s3sync.copy(s3, PREFIXES, "code/race.txt", stale)  # the old version is gone: no copy
    heads = iter([stale])
    real_head = s3sync._head

    def first_stale(client, bucket, key):
        return next(heads, None) or real_head(client, bucket, key) if bucket == B1 else real_head(client, bucket, key)

    monkeypatch.setattr(s3sync, "_head", first_stale)
    assert s3sync.reconcile_key(s3, PREFIXES, "code/race.txt") == "copied"
    copied = s3.head_object(Bucket=B2, Key="code/race.txt")
    assert copied["Metadata"][s3sync.SOURCE_ETAG] == s3.head_object(Bucket=B1, Key="code/race.txt")["ETag"]
    assert s3.get_object(Bucket=B2, Key="code/race.txt")["Body"].read() == b"new!"
