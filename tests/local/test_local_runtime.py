"""The local Lambda runtime, the SQS mapping and the embedded AWS's fault injection."""

from __future__ import annotations

import json
import sys
import textwrap
import time
from pathlib import Path

import boto3
import pytest

from local.faults import Faults, FaultSpecError, parse
from local.functions import Invocation, LambdaFunction
from local.server import EmbeddedAws
from local.sqs import QueueMapping, QueueSettings, sqs_event, succeeded

HANDLER = textwrap.dedent(
    """
    import os, sys, time
    STATE = {"calls": 0}

    def handle(event, context):
        STATE["calls"] += 1
        action = event["action"]
        if action == "echo":
            return {"event": event, "calls": STATE["calls"], "remaining": context.get_remaining_time_in_millis()}
        if action == "sleep":
            time.sleep(event["seconds"])
            return "late"
        if action == "exit":
            os._exit(3)
        if action == "raise":
            raise ValueError("bad input")
        if action == "alloc":
            block = bytearray(event["mb"] * 1024 * 1024)
            return len(block)
        if action == "env":
            return {k: os.environ.get(k) for k in event["keys"]}
        if action == "modules":
            return sorted(m for m in ("boto3", "moto", "pytest") if m in sys.modules or _importable(m))
        if action == "unserialisable":
            return {1, 2}
        if action == "write_tmp":
            import tempfile
            with tempfile.NamedTemporaryFile(dir=event.get("dir")) as f:
                for _ in range(event["mb"]):
                    f.write(b"x" * (1024 * 1024))
                f.flush()
                time.sleep(0.2)
            return tempfile.gettempdir()
        if action == "keep_tmp":
            import tempfile
            with open(os.path.join(tempfile.gettempdir(), event["name"]), "wb") as f:
                f.write(b"x" * (event["mb"] * 1024 * 1024))
            return sorted(os.listdir(tempfile.gettempdir()))

    def _importable(name):
        try:
            __import__(name)
            return True
        except ImportError:
            return False
    """
)


@pytest.fixture
def function(tmp_path):
    task = tmp_path / "task" / "fn"
    task.mkdir(parents=True)
    (task / "__init__.py").write_text("")
    (task / "handler.py").write_text(HANDLER)
    (tmp_path / "opt" / "python").mkdir(parents=True)
    created = []

    def make(
        memory_mb: int = 256, timeout_s: int = 2, env: dict | None = None, ephemeral_storage_mb: int = 512
    ) -> LambdaFunction:
        fn = LambdaFunction(
            "fn",
            "stack-fn",
            "fn.handler.handle",
            tmp_path / "task",
            tmp_path / "opt",
            env or {"SETTING": "x"},
            memory_mb,
            timeout_s,
            "eu-west-1",
            tmp_path / "fn.log",
            ephemeral_storage_mb=ephemeral_storage_mb,
        )
        created.append(fn)
        return fn

    yield make
    for fn in created:
        fn.stop()


def test_invocations_reuse_a_warm_worker_and_get_a_context(function):
    fn = function()
    first = fn.invoke({"action": "echo"})
    second = fn.invoke({"action": "echo"})
    assert first.ok
    assert second.ok
    assert (first.payload["calls"], second.payload["calls"]) == (1, 2)
    assert 0 < second.payload["remaining"] <= 2000
    assert fn.stats["cold_starts"] == 1


def test_a_function_past_its_timeout_is_killed_and_counts_as_an_error(function):
    fn = function(timeout_s=1)
    started = time.monotonic()
    result = fn.invoke({"action": "sleep", "seconds": 30})
    assert time.monotonic() - started < 10
    assert result.function_error
    assert result.error["errorType"] == "Sandbox.Timedout"
    assert fn.invoke({"action": "echo"}).payload["calls"] == 1  # a fresh environment
    assert fn.stats["timeouts"] == 1


def test_a_crashed_worker_is_an_error_and_is_replaced(function):
    fn = function()
    result = fn.invoke({"action": "exit"})
    assert result.error["errorType"] == "Runtime.ExitError"
    assert fn.invoke({"action": "echo"}).ok
    assert fn.stats["crashes"] == 1


def test_an_exception_has_lambdas_error_shape(function):
    result = function().invoke({"action": "raise"})
    assert result.error["errorType"] == "ValueError"
    assert result.error["errorMessage"] == "bad input"
    assert any("handler.py" in line for line in result.error["stackTrace"])


def test_a_response_that_is_not_json_is_a_marshal_error(function):
    assert function().invoke({"action": "unserialisable"}).error["errorType"] == "Runtime.MarshalError"


def test_memory_above_the_declared_size_is_out_of_memory(function):
    fn = function(memory_mb=128)
    result = fn.invoke({"action": "alloc", "mb": 200})
    assert result.error["errorType"] == "Runtime.OutOfMemory"
    assert fn.stats["out_of_memory"] == 1


def test_tmp_is_the_environments_own_and_is_kept_while_it_is_warm(function, tmp_path):
    fn = function()
    first = fn.invoke({"action": "keep_tmp", "name": "a", "mb": 1})
    assert first.ok
    assert first.payload == ["a"]
    assert fn.invoke({"action": "keep_tmp", "name": "b", "mb": 1}).payload == ["a", "b"]
    tmp = Path(fn.invoke({"action": "write_tmp", "mb": 1}).payload)
    assert tmp.is_relative_to(tmp_path)
    assert tmp.is_dir()
    fn.stop()
    assert not tmp.exists()  # an environment's /tmp goes with it


def test_more_in_tmp_than_the_declared_ephemeral_storage_fails_the_invocation(function):
    fn = function(ephemeral_storage_mb=8)
    assert fn.invoke({"action": "write_tmp", "mb": 6}).ok
    result = fn.invoke({"action": "write_tmp", "mb": 12})  # written, then removed before it returned
    assert result.error["errorType"] == "OSError"
    assert "No space left on device" in result.error["errorMessage"]
    assert fn.stats["storage_full"] == 1
    # What an invocation leaves counts against the next ones, as in a warm environment.
    assert fn.invoke({"action": "keep_tmp", "name": "a", "mb": 5}).ok
    assert fn.invoke({"action": "keep_tmp", "name": "b", "mb": 5}).error["errorType"] == "OSError"
    assert fn.invoke({"action": "keep_tmp", "name": "c", "mb": 5}).payload == ["c"]  # a fresh environment


def test_the_worker_sees_its_declared_environment_and_nothing_from_the_dev_tools(function):
    fn = function(env={"SETTING": "from-declaration"})
    env = fn.invoke(
        {
            "action": "env",
            "keys": [
                "SETTING",
                "AWS_LAMBDA_FUNCTION_NAME",
                "_HANDLER",
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                "VIRTUAL_ENV",
            ],
        }
    ).payload
    assert env == {
        "SETTING": "from-declaration",
        "AWS_LAMBDA_FUNCTION_NAME": "stack-fn",
        "_HANDLER": "fn.handler.handle",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "VIRTUAL_ENV": None,
    }
    # Neither the test tools nor the SDK are importable: only the zip and the (here empty) layer.
    assert fn.invoke({"action": "modules"}).payload == []


def test_fault_specs_are_parsed_and_checked():
    assert parse("s3_put_error:0.05,crash:0.01") == {"s3_put_error": 0.05, "crash": 0.01}
    assert parse("") == {}
    for bad in ("nope:0.1", "crash:2", "crash:x"):
        with pytest.raises(FaultSpecError):
            parse(bad)


def test_fault_decisions_are_reproducible_for_a_seed():
    def run(seed):
        faults = Faults({"throttle": 0.3}, seed=seed)
        return [faults.fire("throttle", "put") for _ in range(200)]

    assert run(1) == run(1)
    assert run(1) != run(2)
    assert 30 < sum(run(1)) < 90


@pytest.fixture
def embedded(monkeypatch):
    server = EmbeddedAws(Faults()).start()
    for key, value in {
        "AWS_ENDPOINT_URL": server.endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }.items():
        monkeypatch.setenv(key, value)
    yield server
    server.stop()


def test_the_embedded_aws_is_on_a_free_loopback_port_and_stops_cleanly(embedded):
    assert embedded.endpoint.startswith("http://127.0.0.1:")
    port = int(embedded.endpoint.rsplit(":", 1)[1])
    boto3.client("s3").create_bucket(Bucket="bucket-one", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    embedded.stop()
    import socket

    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0  # nothing listens there any more


def test_injected_throttling_fails_some_put_records_without_writing_them(embedded):
    embedded.faults.rates["throttle"] = 0.5
    kinesis = boto3.client("kinesis")
    kinesis.create_stream(StreamName="s", ShardCount=1)
    response = kinesis.put_records(
        StreamName="s", Records=[{"Data": f"{i}".encode(), "PartitionKey": "k"} for i in range(40)]
    )
    failed = [i for i, r in enumerate(response["Records"]) if "ErrorCode" in r]
    assert response["FailedRecordCount"] == len(failed) > 0
    shard = kinesis.list_shards(StreamName="s")["Shards"][0]["ShardId"]
    iterator = kinesis.get_shard_iterator(StreamName="s", ShardId=shard, ShardIteratorType="TRIM_HORIZON")[
        "ShardIterator"
    ]
    embedded.faults.rates["throttle"] = 0.0
    stored = [r["Data"].decode() for r in kinesis.get_records(ShardIterator=iterator)["Records"]]
    assert stored == [str(i) for i in range(40) if i not in failed]


def test_injected_s3_errors_answer_slow_down(embedded):
    s3 = boto3.client("s3", config=__import__("botocore.config").config.Config(retries={"max_attempts": 1}))
    s3.create_bucket(Bucket="bucket-two", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    embedded.faults.rates["s3_put_error"] = 1.0
    with pytest.raises(s3.exceptions.ClientError, match="SlowDown"):
        s3.put_object(Bucket="bucket-two", Key="a/b", Body=b"x")


def test_sqs_partial_failures_return_only_the_failed_messages():
    ids = ["a", "b", "c"]
    assert succeeded(Invocation(True, payload={"batchItemFailures": [{"itemIdentifier": "b"}]}), ids, True) == {
        "a",
        "c",
    }
    assert succeeded(Invocation(True, payload=None), ids, True) == set(ids)
    assert succeeded(Invocation(False, error={}), ids, True) == set()
    assert succeeded(Invocation(True, payload={"batchItemFailures": [{"itemIdentifier": "zz"}]}), ids, True) == set()


def test_an_sqs_message_goes_to_the_dlq_after_max_receive_count(embedded):
    sqs = boto3.client("sqs")
    dlq = sqs.create_queue(QueueName="work-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = sqs.create_queue(
        QueueName="work",
        Attributes={
            "VisibilityTimeout": "1",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2}),
        },
    )["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="poison")
    sqs.send_message(QueueUrl=url, MessageBody="fine")
    seen = []

    def invoke(event):
        seen.extend(r["body"] for r in event["Records"])
        failed = [{"itemIdentifier": r["messageId"]} for r in event["Records"] if r["body"] == "poison"]
        return Invocation(True, payload={"batchItemFailures": failed})

    mapping = QueueMapping(
        "work",
        sqs,
        url,
        "arn:aws:sqs:eu-west-1:123456789012:work",
        "eu-west-1",
        QueueSettings(batch_size=10, report_batch_item_failures=True),
        invoke,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        mapping.poll_once()
        moved = sqs.receive_message(QueueUrl=dlq, VisibilityTimeout=0).get("Messages", [])
        if moved:
            break
        time.sleep(0.3)
    assert [m["Body"] for m in moved] == ["poison"]
    assert seen.count("poison") == 2
    assert seen.count("fine") == 1


def test_sqs_event_shape():
    event = sqs_event(
        [
            {
                "MessageId": "m1",
                "ReceiptHandle": "h",
                "Body": "{}",
                "MD5OfBody": "x",
                "Attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1"},
                "MessageAttributes": {"a": {"DataType": "String", "StringValue": "v"}},
            }
        ],
        "arn:aws:sqs:eu-west-1:123456789012:q",
        "eu-west-1",
    )
    record = event["Records"][0]
    assert record["eventSource"] == "aws:sqs"
    assert record["messageAttributes"]["a"]["stringValue"] == "v"
    assert set(record) == {
        "messageId",
        "receiptHandle",
        "body",
        "attributes",
        "messageAttributes",
        "md5OfBody",
        "eventSource",
        "eventSourceARN",
        "awsRegion",
    }


def test_worker_file_imports_only_the_standard_library():
    source = Path("local/worker.py").read_text()
    imports = {
        line.split()[1].split(".")[0]
        for line in source.splitlines()
        if line.startswith(("import ", "from ")) and "__future__" not in line
    }
    assert imports <= sys.stdlib_module_names, imports - sys.stdlib_module_names
