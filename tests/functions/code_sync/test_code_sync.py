"""bucket1/code → bucket2/code under moto: events as S3 sends them, in any order, and reconciliation."""

from __future__ import annotations

import functools
import json
import time
import urllib.parse
from pathlib import Path

import boto3
import pytest
from boto3.s3.transfer import TransferConfig

from code_sync import handler
from local.sqs import sqs_event
from tests.doubles.s3 import AwsS3
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
    return json.dumps(
        {
            "Records": [
                {
                    "eventVersion": "2.1",
                    "eventSource": "aws:s3",
                    "awsRegion": REGION,
                    "eventName": event_name,
                    "eventTime": "2026-11-22T10:00:00.000Z",
                    "s3": {
                        "s3SchemaVersion": "1.0",
                        "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                        "object": {"key": urllib.parse.quote_plus(key, safe=""), "size": 1},
                    },
                }
            ]
        }
    )


def deliver(*bodies: str) -> dict:
    event = sqs_event(
        [{"MessageId": f"m{i}", "ReceiptHandle": f"h{i}", "Body": body} for i, body in enumerate(bodies)],
        "arn:aws:sqs:eu-west-1:123456789012:code-events",
        REGION,
    )
    return handler.handle(event, None)


def put(s3, key: str, body: bytes, **extra) -> None:
    s3.put_object(Bucket=B1, Key=key, Body=body, **extra)


def test_created_objects_are_copied_with_metadata_type_and_tags(s3):
    key = "code/dir with space/naïve+plus.py"
    put(
        s3,
        key,
        b"print('hi')\n",
        ContentType="text/x-python",
        Metadata={"owner": "team-a"},
        Tagging="stage=prod&team=a",
    )
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
    monkeypatch.setattr(
        s3sync, "COPY_CONFIG", TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024)
    )
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
    s3.put_bucket_notification_configuration(
        Bucket=B1,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "QueueArn": arn,
                    "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "code/"}]}},
                }
            ]
        },
    )
    put(s3, "code/über dir/a b.txt", b"1")
    put(s3, "code/keep.txt", b"2")
    s3.delete_object(Bucket=B1, Key="code/über dir/a b.txt")
    messages = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        messages.extend(batch)
        sqs.delete_message_batch(
            QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)]
        )
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
    assert {k: result["reconciled"][k] for k in ("copied", "deleted", "failed", "unchanged")} == {
        "copied": 2,
        "deleted": 1,
        "failed": 0,
        "unchanged": 3,
    }
    assert s3sync.compare(s3, PREFIXES)["equal"]


def test_a_source_changed_between_look_and_copy_is_looked_at_again(s3, monkeypatch):
    put(s3, "code/race.txt", b"old")
    stale = s3.head_object(Bucket=B1, Key="code/race.txt")
    put(s3, "code/race.txt", b"new!")
    aws_s3 = AwsS3(s3)  # moto ignores CopySourceIfMatch on CopyObject; AWS answers 412
    with pytest.raises(s3.exceptions.ClientError, match=r"PreconditionFailed|412"):
        s3sync.copy(aws_s3, PREFIXES, "code/race.txt", stale)  # the old version is gone: no copy
    heads = iter([stale])
    real_head = s3sync._head

    def first_stale(client, bucket, key):
        return next(heads, None) or real_head(client, bucket, key) if bucket == B1 else real_head(client, bucket, key)

    monkeypatch.setattr(s3sync, "_head", first_stale)
    assert s3sync.reconcile_key(aws_s3, PREFIXES, "code/race.txt") == "copied"
    copied = s3.head_object(Bucket=B2, Key="code/race.txt")
    assert copied["Metadata"][s3sync.SOURCE_ETAG] == s3.head_object(Bucket=B1, Key="code/race.txt")["ETag"]
    assert s3.get_object(Bucket=B2, Key="code/race.txt")["Body"].read() == b"new!"


# --- what a copy carries --------------------------------------------------------------------


def head(s3, bucket: str, key: str) -> dict:
    return s3.head_object(Bucket=bucket, Key=key)


def tags(s3, bucket: str, key: str) -> dict:
    return {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]}


@pytest.mark.parametrize("change", ["content_type", "metadata", "tags", "tags_removed", "cache_control"])
@pytest.mark.parametrize("path", ["event", "reconcile"])
def test_a_change_of_headers_metadata_or_tags_alone_is_propagated(s3, change, path):
    key = "code/app.py"
    put(s3, key, b"print(1)\n", ContentType="text/x-python", Metadata={"owner": "a"}, Tagging="stage=dev")
    deliver(notification("ObjectCreated:Put", key))
    if change == "tags":
        s3.put_object_tagging(Bucket=B1, Key=key, Tagging={"TagSet": [{"Key": "stage", "Value": "prod"}]})
    elif change == "tags_removed":
        s3.delete_object_tagging(Bucket=B1, Key=key)
    else:  # a copy in place, as `aws s3 cp --metadata-directive REPLACE` does
        extra = {
            "content_type": {"ContentType": "text/plain", "Metadata": {"owner": "a"}},
            "metadata": {"ContentType": "text/x-python", "Metadata": {"owner": "b"}},
            "cache_control": {"ContentType": "text/x-python", "Metadata": {"owner": "a"}, "CacheControl": "max-age=60"},
        }[change]
        s3.copy_object(Bucket=B1, Key=key, CopySource={"Bucket": B1, "Key": key}, MetadataDirective="REPLACE", **extra)
    assert s3sync.compare(s3, PREFIXES)["different"] == ["app.py"]
    if path == "event":
        deliver(notification("ObjectTagging:Put" if "tags" in change else "ObjectCreated:Copy", key))
    else:
        handler.handle({"source": "aws.events", "detail-type": "Scheduled Event"}, None)
    source, target = head(s3, B1, key), head(s3, B2, key)
    assert s3sync.carried(target, tags(s3, B2, key)) == s3sync.carried(source, tags(s3, B1, key))
    assert s3sync.compare(s3, PREFIXES)["equal"]


# --- one object that cannot be copied ------------------------------------------------------


def test_an_archived_object_fails_alone_and_the_deletes_still_run(s3, capsys, monkeypatch):
    for i in range(10):
        put(s3, f"code/f{i}.txt", f"file {i}".encode(), **({"StorageClass": "GLACIER"} if i == 4 else {}))
    s3.put_object(Bucket=B2, Key="code/stale.txt", Body=b"gone from bucket1")
    result = handler.handle({"source": "aws.events", "detail-type": "Scheduled Event"}, None)["reconciled"]
    assert (result["copied"], result["deleted"], result["failed"]) == (9, 1, 1)
    [failure] = result["failures"]
    assert failure["key"] == "code/f4.txt"
    assert failure["reason"] in ("InvalidObjectState", "ObjectNotInActiveTierError")
    drift = s3sync.compare(s3, PREFIXES)
    assert (drift["missing"], drift["extra"]) == (["f4.txt"], [])
    # The tool says so too, as `aws s3 sync` does: exit 2, the failure named.
    from tools import code_reconcile as tool

    monkeypatch.setattr(
        tool,
        "resolve",
        lambda env: type("S", (), {"name": lambda self, r: {"code_bucket1": B1, "code_bucket2": B2}[r]})(),
    )
    capsys.readouterr()
    assert tool.main(["--env", "dev"]) == 2
    assert "failed code/f4.txt: " in capsys.readouterr().err


# --- deletes: only for a missing key, and only of the copy the decision saw ----------------


@pytest.mark.parametrize("again", [b"same bytes", b"other bytes, longer"])
def test_a_delete_racing_a_re_create_never_leaves_the_target_behind(s3, monkeypatch, again):
    key = "code/flip.txt"
    put(s3, key, b"same bytes")
    deliver(notification("ObjectCreated:Put", key))
    s3.delete_object(Bucket=B1, Key=key)
    real_delete = s3sync.delete

    def re_created_before_the_delete(client, prefixes, target_key, etag):
        # Meanwhile the key is written again (the same bytes: the same ETag; or others) and
        # another invocation copies it.
        put(s3, key, again)
        assert s3sync.reconcile_key(s3, PREFIXES, key) in ("copied", "skipped")
        real_delete(client, prefixes, target_key, etag)

    monkeypatch.setattr(s3sync, "delete", re_created_before_the_delete)
    s3sync.reconcile_key(s3, PREFIXES, key)  # the late delete event's invocation
    assert s3.get_object(Bucket=B2, Key=key)["Body"].read() == again
    assert s3sync.compare(s3, PREFIXES)["equal"]


def test_a_missing_source_bucket_never_deletes_the_target(s3, monkeypatch):
    key = "code/keep.txt"
    put(s3, key, b"precious")
    deliver(notification("ObjectCreated:Put", key))
    monkeypatch.setenv("SOURCE_BUCKET", "bucket-that-does-not-exist")
    monkeypatch.setattr(handler.aws, "client", lambda name: AwsS3(s3))
    body = notification("ObjectRemoved:Delete", key, bucket="bucket-that-does-not-exist")
    assert deliver(body) == {"batchItemFailures": [{"itemIdentifier": "m0"}]}
    missing = s3sync.Prefixes("bucket-that-does-not-exist", B2)
    with pytest.raises(s3.exceptions.NoSuchBucket):
        s3sync.reconcile_key(AwsS3(s3), missing, key)
    assert s3.get_object(Bucket=B2, Key=key)["Body"].read() == b"precious"


def test_access_denied_is_an_error_never_absence(s3, monkeypatch):
    key = "code/keep.txt"
    put(s3, key, b"precious")
    deliver(notification("ObjectCreated:Put", key))
    s3.delete_object(Bucket=B1, Key=key)
    denied = AwsS3(s3, may_list={B2})  # may not list bucket1: its missing keys answer 403
    with pytest.raises(s3.exceptions.ClientError, match="403"):
        s3sync.reconcile_key(denied, PREFIXES, key)
    assert s3.get_object(Bucket=B2, Key=key)["Body"].read() == b"precious"
    # With the ListBucket the stack grants, the same delete goes through.
    assert s3sync.reconcile_key(AwsS3(s3), PREFIXES, key) == "deleted"


# --- every shape the function can be wired to ------------------------------------------------


def sample(name: str, key: str | None = None) -> dict:
    """A Powertools sample (tests/events/powertools) with bucket1 and ``key`` in place of its own."""
    text = (Path(__file__).parents[2] / "events" / "powertools" / name).read_text()
    event = json.loads(text)
    if key is None:
        return event
    for record in event.get("Records", [event]):
        target = record["s3"] if "s3" in record else record["detail"]
        target["bucket"]["name"] = B1
        target["object"]["key"] = urllib.parse.quote_plus(key, safe="/")
    return event


@pytest.mark.parametrize(
    "name",
    [
        "s3Event.json",
        "s3EventGlacier.json",
        "s3EventBridgeNotificationObjectCreatedEvent.json",
        "s3EventBridgeNotificationObjectRestoreCompletedEvent.json",
    ],
)
@pytest.mark.parametrize("wiring", ["direct", "sqs"])
def test_every_s3_event_shape_copies_the_key_it_names(s3, name, wiring):
    key = "code/a dir/Happy Face+1.jpg"
    put(s3, key, b"jpeg")
    event = sample(name, key)
    if wiring == "direct":
        assert handler.handle(event, None) == {"keys": {"copied": 1}}
    else:
        assert deliver(json.dumps(event)) == {"batchItemFailures": []}
    assert s3.get_object(Bucket=B2, Key=key)["Body"].read() == b"jpeg"


@pytest.mark.parametrize(
    "name",
    [
        "s3EventDeleteObject.json",
        "s3EventBridgeNotificationObjectDeletedEvent.json",
        "s3EventBridgeNotificationObjectExpiredEvent.json",
    ],
)
@pytest.mark.parametrize("wiring", ["direct", "sqs"])
def test_every_removal_shape_deletes_the_copy(s3, name, wiring):
    key = "code/gone.txt"
    s3.put_object(Bucket=B2, Key=key, Body=b"left over")
    event = sample(name, key)
    if wiring == "direct":
        assert handler.handle(event, None) == {"keys": {"deleted": 1}}
    else:
        assert deliver(json.dumps(event)) == {"batchItemFailures": []}
    assert "Contents" not in s3.list_objects_v2(Bucket=B2)


def test_the_sqs_sample_is_read_as_delivered(s3):
    event = sample("s3SqsEvent.json")  # the body is a string: replace its bucket and key inside
    body = json.loads(event["Records"][0]["body"])
    body["Records"][0]["s3"]["bucket"]["name"] = B1
    body["Records"][0]["s3"]["object"]["key"] = "code/test.pdf"
    event["Records"][0]["body"] = json.dumps(body)
    put(s3, "code/test.pdf", b"%PDF")
    assert handler.handle(event, None) == {"batchItemFailures": []}
    assert s3.get_object(Bucket=B2, Key="code/test.pdf")["Body"].read() == b"%PDF"


@pytest.mark.parametrize(
    "event",
    [
        {},
        {"Records": []},
        {"Records": [{"eventSource": "aws:sns"}]},
        {"source": "aws.s3", "detail-type": "Object Created"},
        {"hello": "world"},
    ],
)
def test_an_event_of_no_known_shape_is_refused_loudly(s3, event):
    with pytest.raises(s3sync.EventError):
        handler.handle(event, None)


@pytest.mark.parametrize(
    "body",
    ["not json", json.dumps({"hello": "world"}), json.dumps([1, 2]), json.dumps({"source": "aws.s3", "detail": {}})],
)
def test_an_sqs_message_of_no_known_shape_fails_alone(s3, body):
    put(s3, "code/ok.txt", b"ok")
    assert deliver(notification("ObjectCreated:Put", "code/ok.txt"), body) == {
        "batchItemFailures": [{"itemIdentifier": "m1"}]
    }
    assert s3.get_object(Bucket=B2, Key="code/ok.txt")["Body"].read() == b"ok"


# --- the dry run and the reconcile's pace ---------------------------------------------------


def test_the_dry_run_prints_only_what_would_really_be_done(s3, capsys, monkeypatch):
    from tools import code_reconcile as tool

    monkeypatch.setattr(
        tool,
        "resolve",
        lambda env: type("S", (), {"name": lambda self, r: {"code_bucket1": B1, "code_bucket2": B2}[r]})(),
    )
    put(s3, "code/same.txt", b"same")
    put(s3, "code/new.txt", b"new")
    deliver(notification("ObjectCreated:Put", "code/same.txt"))
    time.sleep(1.1)  # S3 times are to the second
    put(s3, "code/same.txt", b"same")  # newer in the source, the same object
    assert head(s3, B1, "code/same.txt")["LastModified"] > head(s3, B2, "code/same.txt")["LastModified"]
    capsys.readouterr()
    assert tool.main(["--env", "dev", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "copy   s3://bucket-one/code/new.txt" in out
    assert "same.txt" not in out
    assert tool.main(["--env", "dev"]) == 0
    capsys.readouterr()
    assert tool.main(["--env", "dev", "--dry-run"]) == 0
    assert "(dry run)" not in capsys.readouterr().out


class Context:
    """A Lambda context whose clock runs out after ``calls`` questions."""

    def __init__(self, calls: int) -> None:
        self.calls = calls

    def get_remaining_time_in_millis(self) -> int:
        self.calls -= 1
        return 300_000 if self.calls > 0 else 1_000


def test_a_reconcile_that_runs_out_of_time_continues_where_it_stopped(s3, monkeypatch):
    sqs = boto3.client("sqs")
    queue = sqs.create_queue(QueueName="code-events")["QueueUrl"]
    monkeypatch.setenv("CONTINUE_QUEUE_URL", queue)
    monkeypatch.setattr(s3sync, "plan", functools.partial(s3sync.plan, chunk=7))
    for i in range(30):
        put(s3, f"code/{i:02d}.txt", b"x")
    first = handler.handle({"source": "aws.events", "detail-type": "Scheduled Event"}, Context(calls=2))
    assert first["reconciled"]["copied"] == 14
    assert first["reconciled"]["continues_after"] == "13.txt"
    rounds = 0
    while got := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages"):
        sqs.delete_message(QueueUrl=queue, ReceiptHandle=got[0]["ReceiptHandle"])
        event = sqs_event(got, "arn:aws:sqs:eu-west-1:123456789012:code-events", REGION)
        assert handler.handle(event, Context(calls=2)) == {"batchItemFailures": []}
        rounds += 1
    assert rounds == 2
    assert s3sync.compare(s3, PREFIXES)["equal"]
