"""Every runbook command (docs/runbooks/), run as an operator would run it, against the
local stack: the deployed functions' zips on the embedded AWS, named as in an environment."""

from __future__ import annotations

import base64
import gzip
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest

from local.runtime import LocalStack
from stack.events import dynamodb_stream_record
from tools import mirror
from tributary import ddb, lake, replica
from tributary_cli import synthetic

ROOT = Path(__file__).resolve().parents[2]
RUNBOOKS = ROOT / "docs" / "runbooks"
pytestmark = pytest.mark.build


@pytest.fixture(scope="module")
def stack(applied_stacks):
    with LocalStack(applied=applied_stacks.get("default")) as running:
        yield running


def tool(stack: LocalStack, module: str, *args: str) -> subprocess.CompletedProcess:
    """A runbook command: the module `make <target>` runs, with the operator's AWS settings."""
    env = {**os.environ, **stack.aws_env}
    return subprocess.run(
        [sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True, text=True, env=env, timeout=300
    )


def wait(condition, timeout_s: float = 90.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.3)
    raise AssertionError("timed out")


def records_done(stack: LocalStack) -> int:
    """Records the stream processor's mapping has delivered and checkpointed past."""
    return stack.mappings["stream_processor"].stats.total()["records_done"]


def lake_ids(stack: LocalStack) -> list[str]:
    s3 = stack.session.client("s3")
    bucket = stack.topology.resource("lake_bucket").name
    ids = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="events/"):
        for item in page.get("Contents", []):
            body = gzip.decompress(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())
            ids += [line["id"] for line in lake.decode_ndjson(body)]
    return ids


def test_replay_quarantine_puts_records_back_once(stack):
    """A record quarantined by an older, stricter validator is replayed after the fix."""
    s3 = stack.session.client("s3")
    bucket = stack.topology.resource("lake_bucket").name
    record = next(synthetic.generate(1, seed=5, malformed=0.0, id_prefix="replayed-")).data
    record_id = json.loads(record)["id"]
    line = {
        "reason": "schema_v1",
        "detail": "payload.kind was required",
        "shard_id": "shardId-000000000000",
        "sequence_number": "1",
        "subsequence": 0,
        "partition_key": "pk-1",
        "ingest_time": "2026-11-22T10:00:00Z",
        "raw_base64": base64.b64encode(record).decode(),
    }
    key = "quarantine/dt=2026-11-22/hour=10/shardId-000000000000-1.ndjson.gz"
    s3.put_object(Bucket=bucket, Key=key, Body=gzip.compress(json.dumps(line).encode() + b"\n"))

    dry = tool(stack, "tools.replay", "quarantine", "--env", "local", "--from", "2026-11-22T10", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert '"records_to_replay": 1' in dry.stdout
    first = tool(
        stack, "tools.replay", "quarantine", "--env", "local", "--from", "2026-11-22T09", "--to", "2026-11-22T11"
    )
    assert first.returncode == 0, first.stderr
    assert '"records_replayed": 1' in first.stdout
    wait(lambda: record_id in lake_ids(stack))
    wait(stack.idle)
    done = records_done(stack)
    again = tool(stack, "tools.replay", "quarantine", "--env", "local", "--from", "2026-11-22T10")
    assert '"objects_skipped": 1' in again.stdout
    wait(stack.idle)
    assert records_done(stack) == done  # the second run put nothing back on the stream
    assert lake_ids(stack).count(record_id) == 1


def test_replay_failed_batches_rereads_the_stream_range_without_duplicating_the_lake(stack):
    kinesis = stack.session.client("kinesis")
    stream = stack.topology.resource("events_stream").name
    records = [r.data for r in synthetic.generate(3, seed=9, malformed=0.0, id_prefix="failed-batch-")]
    put = kinesis.put_records(StreamName=stream, Records=[{"Data": d, "PartitionKey": "same"} for d in records])
    shard = put["Records"][0]["ShardId"]
    ids = [json.loads(d)["id"] for d in records]
    wait(lambda: all(i in lake_ids(stack) for i in ids))
    invocation_record = {
        "KinesisBatchInfo": {
            "shardId": shard,
            "startSequenceNumber": put["Records"][0]["SequenceNumber"],
            "endSequenceNumber": put["Records"][-1]["SequenceNumber"],
            "batchSize": 3,
            "streamArn": stack.topology.arns["events_stream"],
        }
    }
    sqs = stack.session.client("sqs")
    queue = stack.topology.urls["events_failures_queue"]
    sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(invocation_record))

    dry = tool(stack, "tools.replay", "failed-batches", "--env", "local", "--dry-run")
    assert '"records_to_replay": 3' in dry.stdout, dry.stdout + dry.stderr
    wait(stack.idle)
    done = records_done(stack)
    result = tool(stack, "tools.replay", "failed-batches", "--env", "local")
    assert result.returncode == 0, result.stderr
    assert '"records_replayed": 3' in result.stdout
    assert (
        sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"][
            "ApproximateNumberOfMessages"
        ]
        == "0"
    )
    # The replayed records are processed and dropped as already written.
    wait(lambda: records_done(stack) >= done + 3 and stack.idle())
    found = lake_ids(stack)
    assert [found.count(i) for i in ids] == [1, 1, 1]


def test_replay_failed_batches_keeps_a_message_whose_records_left_the_stream(stack):
    sqs = stack.session.client("sqs")
    queue = stack.topology.urls["events_failures_queue"]
    kinesis = stack.session.client("kinesis")
    stream = stack.topology.resource("events_stream").name
    data = next(synthetic.generate(1, seed=13, malformed=0.0, id_prefix="expired-")).data
    put = kinesis.put_record(StreamName=stream, Data=data, PartitionKey="expired")
    # The batch had 5 records; only the one left is still in the stream (retention expired the rest).
    sqs.send_message(
        QueueUrl=queue,
        MessageBody=json.dumps(
            {
                "KinesisBatchInfo": {
                    "shardId": put["ShardId"],
                    "startSequenceNumber": put["SequenceNumber"],
                    "endSequenceNumber": put["SequenceNumber"],
                    "batchSize": 5,
                    "streamArn": stack.topology.arns["events_stream"],
                }
            }
        ),
    )
    result = tool(stack, "tools.replay", "failed-batches", "--env", "local")
    assert result.returncode == 1
    assert '"records_missing": 4' in result.stdout
    assert "4 no longer in the stream" in result.stdout
    kept = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, VisibilityTimeout=0).get("Messages", [])
    assert kept  # the only record of the loss stays
    for message in kept:
        sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])


def test_redrive_moves_dead_letters_back_and_the_applier_applies_them(stack):
    table1, table2 = (stack.topology.resource(t).name for t in ("table1", "table2"))
    item = {"pk": "redriven", "sk": "1", "value": 7}
    record = dynamodb_stream_record(
        "INSERT",
        ddb.to_item({"pk": "redriven", "sk": "1"}),
        "900000000000000000001",
        new_image=ddb.to_item(item),
        stream_arn=stack.topology.arns["table1:stream"],
        created=time.time() - 3600,
    )
    body = replica.to_message(replica.from_stream_record(record))
    sqs = stack.session.client("sqs")
    sqs.send_message(
        QueueUrl=stack.topology.urls["changes_queue:dlq"],
        MessageBody=body,
        MessageAttributes={"table": {"DataType": "String", "StringValue": table1}},
    )

    dry = tool(stack, "tools.redrive", "--env", "local", "--queue", "changes_queue", "--dry-run")
    assert '"messages_waiting": 1' in dry.stdout
    moved = tool(stack, "tools.redrive", "--env", "local", "--queue", "changes_queue")
    assert moved.returncode == 0, moved.stderr
    assert '"moved": 1' in moved.stdout
    dynamodb = stack.session.client("dynamodb")
    found = wait(
        lambda: dynamodb.get_item(TableName=table2, Key=ddb.to_item({"pk": "redriven", "sk": "1"})).get("Item")
    )
    assert replica.user_view(ddb.from_item(found)) == item


def test_a_refused_change_lands_in_the_changes_dlq_with_its_reason(stack):
    """The applier finds the DLQ from the queue's redrive policy and sets the message aside at once."""
    sqs = stack.session.client("sqs")
    dlq = stack.topology.urls["changes_queue:dlq"]
    other = stack.topology.arns["table1:stream"].replace(stack.topology.resource("table1").name, "someone-elses")
    record = dynamodb_stream_record(
        "INSERT",
        ddb.to_item({"pk": "foreign", "sk": "1"}),
        "900000000000000000002",
        new_image=ddb.to_item({"pk": "foreign", "sk": "1"}),
        stream_arn=other,
        created=time.time(),
    )
    body = replica.to_message(replica.from_stream_record(record))
    sqs.send_message(QueueUrl=stack.topology.urls["changes_queue"], MessageBody=body)
    [letter] = wait(
        lambda: sqs.receive_message(QueueUrl=dlq, MessageAttributeNames=["All"], VisibilityTimeout=60).get("Messages")
    )
    assert letter["Body"] == body
    assert letter["MessageAttributes"]["tributary.reason"]["StringValue"] == "wrong_source"
    assert (
        letter["MessageAttributes"]["tributary.function"]["StringValue"]
        == stack.topology.function_names["change_applier"]
    )
    sqs.delete_message(QueueUrl=dlq, ReceiptHandle=letter["ReceiptHandle"])


def test_redrive_keeps_a_change_older_than_the_tombstones(stack):
    table1 = stack.topology.resource("table1").name
    record = dynamodb_stream_record(
        "MODIFY",
        ddb.to_item({"pk": "stale", "sk": "1"}),
        "900000000000000000003",
        new_image=ddb.to_item({"pk": "stale", "sk": "1"}),
        stream_arn=stack.topology.arns["table1:stream"],
        created=time.time() - 8 * 86400,
    )
    body = replica.to_message(replica.from_stream_record(record))
    sqs = stack.session.client("sqs")
    dlq = stack.topology.urls["changes_queue:dlq"]
    sqs.send_message(
        QueueUrl=dlq, MessageBody=body, MessageAttributes={"table": {"DataType": "String", "StringValue": table1}}
    )
    kept = tool(stack, "tools.redrive", "--env", "local", "--queue", "changes_queue")
    assert kept.returncode == 1, kept.stdout + kept.stderr
    assert '"kept_older_than_tombstones": 1' in kept.stdout
    assert "make verify REPAIR=1" in kept.stderr
    [left] = sqs.receive_message(QueueUrl=dlq, VisibilityTimeout=60).get("Messages", [])
    assert left["Body"] == body
    sqs.delete_message(QueueUrl=dlq, ReceiptHandle=left["ReceiptHandle"])


def test_resync_buckets_finds_and_fixes_drift(stack):
    s3 = stack.session.client("s3")
    env = stack.topology.function_environment("code_sync")
    s3.put_object(Bucket=env["TARGET_BUCKET"], Key="code/stray.py", Body=b"not in bucket1")
    dry = tool(stack, "tools.code_reconcile", "--env", "local", "--dry-run")
    assert "(dry run) delete s3://" in dry.stdout
    assert "code/stray.py" in dry.stdout
    fixed = tool(stack, "tools.code_reconcile", "--env", "local")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "bucket1/code == bucket2/code" in fixed.stdout


def test_recover_table2_with_verify_backfill_and_repair(stack):
    dynamodb = stack.session.client("dynamodb")
    table1, table2 = (stack.topology.resource(t).name for t in ("table1", "table2"))
    key = ddb.to_item({"pk": "recover", "sk": "1"})
    dynamodb.put_item(TableName=table1, Item=ddb.to_item({"pk": "recover", "sk": "1", "n": 1}))
    wait(lambda: dynamodb.get_item(TableName=table2, Key=key).get("Item"))
    wait(stack.idle)  # both sync paths have applied it
    dynamodb.delete_item(TableName=table2, Key=key)  # table2 loses an item behind the sync's back
    drift = tool(stack, "tools.table_repair", "verify", "--env", "local")
    assert drift.returncode != 0
    assert json.loads(drift.stdout)["before"]["missing"] == 1, drift.stdout
    assert tool(stack, "tools.table_repair", "backfill", "--env", "local").returncode == 0
    repaired = tool(stack, "tools.table_repair", "verify", "--env", "local", "--repair")
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    clean = tool(stack, "tools.table_repair", "verify", "--env", "local")
    assert clean.returncode == 0, clean.stdout + clean.stderr


def test_rerun_the_git_mirror_starts_the_project_and_waits_for_it(stack):
    codebuild = boto3.client("codebuild", endpoint_url=stack.server.endpoint, region_name=stack.topology.region)
    project = stack.topology.resource("git_mirror").name
    status, build = mirror.run(codebuild, project, wait=True, poll_s=0.01, timeout_s=30)
    assert status == "SUCCEEDED"
    assert build["projectName"] == project
    started = tool(stack, "tools.mirror", "--env", "local", "--no-wait")
    assert started.returncode == 0, started.stderr
    assert f"started {project}:" in started.stdout


RUNBOOK_TARGETS = {
    "replay-quarantine.md": {"replay", "replay-failed"},
    "redrive-a-dlq.md": {"redrive"},
    "rerun-git-mirror.md": {"mirror"},
    "resync-buckets.md": {"s3-sync"},
    "recover-table2.md": {"verify", "backfill"},
    "rollback-a-deploy.md": {"plan", "deploy", "smoke"},
}


def test_each_runbook_uses_only_real_targets_and_each_is_exercised_here():
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][a-z0-9-]*):", makefile, re.MULTILINE))
    assert {p.name for p in RUNBOOKS.glob("*.md")} - {"README.md"} == set(RUNBOOK_TARGETS)
    for name, expected in RUNBOOK_TARGETS.items():
        text = (RUNBOOKS / name).read_text()
        blocks = re.findall(r"```sh\n(.*?)```", text, re.DOTALL)
        used = {m for block in blocks for m in re.findall(r"^\s*make ([a-z][a-z0-9-]*)", block, re.MULTILINE)}
        assert used == expected, name
        assert used <= targets
