"""The root stack's real Terraform, applied into the embedded AWS with the local environment's
variables: the apply succeeds, a second plan has nothing to change, the resources are there as
the local runtime names them, and destroy removes them.

The apply is the test run's own (tests/applied.py): its snapshot goes back into a fresh embedded
AWS and a copy of its Terraform state plans and destroys there, so this also checks that a
snapshot holds everything the apply made.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import boto3
import pytest

from local.server import EmbeddedAws
from stack import terraform as tf
from stack import topology as topo

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.build


def _clients(endpoint: str, region: str) -> Any:
    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=region)
    return lambda service: session.client(service, endpoint_url=endpoint)


def _check_stream(client: Any, topology: topo.Topology, outputs: dict[str, Any]) -> None:
    kinesis = client("kinesis")
    name = topology.resource("events_stream").name
    assert outputs["events_stream_name"] == name
    summary = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
    assert summary["StreamStatus"] == "ACTIVE"
    assert summary["OpenShardCount"] == topology.variable("stream_shard_count")
    assert summary["RetentionPeriodHours"] == topology.variable("stream_retention_hours")
    assert (summary["EncryptionType"], summary["KeyId"]) == ("KMS", outputs["kms_key_arn"])
    tags = {t["Key"]: t["Value"] for t in kinesis.list_tags_for_stream(StreamName=name)["Tags"]}
    assert tags["Environment"] == "local"


def _check_queues(client: Any, topology: topo.Topology, outputs: dict[str, Any]) -> dict[str, str]:
    """Every queue of topology.json, encrypted with the stack's key and TLS-only; those with a
    dead-letter queue redrive to it, and it accepts only them. Returns the queues' URLs."""
    sqs = client("sqs")
    urls = {}
    for resource in topology.resources.values():
        if resource.kind != "queue":
            continue
        url = urls[resource.logical] = sqs.get_queue_url(QueueName=resource.name)["QueueUrl"]
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        assert attributes["KmsMasterKeyId"] == outputs["kms_key_arn"]
        assert "DenyInsecureTransport" in [s["Sid"] for s in json.loads(attributes["Policy"])["Statement"]]
        if resource.settings["max_receive_count"] > 0:
            dlq_url = sqs.get_queue_url(QueueName=f"{resource.name}-dlq")["QueueUrl"]
            dlq = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["All"])["Attributes"]
            assert json.loads(attributes["RedrivePolicy"]) == {
                "deadLetterTargetArn": dlq["QueueArn"],
                "maxReceiveCount": resource.settings["max_receive_count"],
            }
            assert json.loads(dlq["RedriveAllowPolicy"]) == {
                "redrivePermission": "byQueue",
                "sourceQueueArns": [attributes["QueueArn"]],
            }
    assert outputs["events_failures_queue_url"] == urls["events_failures_queue"]
    assert outputs["table_failures_queue_url"] == urls["table_failures_queue"]
    return urls


def _check_functions(client: Any, topology: topo.Topology, outputs: dict[str, Any], urls: dict[str, str]) -> None:
    """Every enabled function, with the environment the local runtime gives it, the layer and its log group."""
    lam = client("lambda")
    assert outputs["function_names"] == topology.function_names
    topology.urls.update(urls)
    topology.arns["changes_topic"] = outputs["changes_topic_arn"]
    for name, function_name in topology.function_names.items():
        config = lam.get_function_configuration(FunctionName=function_name)
        assert config["Environment"]["Variables"] == topology.function_environment(name), name
        assert [layer["Arn"] for layer in config["Layers"]] == [outputs["layer_arn"]]
        assert config["LoggingConfig"] == {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{function_name}"}
    mappings = lam.list_event_source_mappings()["EventSourceMappings"]
    assert len(mappings) == sum(spec.trigger.type not in ("http", "schedule") for spec in topology.functions.values())


def _check_changes_pass_the_subscription_filter(client: Any, topology: topo.Topology, outputs: dict[str, Any]) -> None:
    """The SNS ``table`` attribute the publisher sets, the queue subscription's filter policy and
    both functions' ``SOURCE_TABLE`` agree: otherwise SNS drops every change, and nothing says so."""
    from moto.sns.utils import FilterPolicyMatcher

    from change_publisher import publish
    from stack.events import dynamodb_stream_record

    lam, sns = client("lambda"), client("sns")
    sources = {
        name: lam.get_function_configuration(FunctionName=outputs["function_names"][name])["Environment"]["Variables"][
            "SOURCE_TABLE"
        ]
        for name in ("change_publisher", "change_applier", "table_sync")
    }
    table = topology.resource("table1").name
    assert set(sources.values()) == {table}, sources
    (subscription,) = sns.list_subscriptions_by_topic(TopicArn=outputs["changes_topic_arn"])["Subscriptions"]
    attributes = sns.get_subscription_attributes(SubscriptionArn=subscription["SubscriptionArn"])["Attributes"]
    matcher = FilterPolicyMatcher(json.loads(attributes["FilterPolicy"]), attributes.get("FilterPolicyScope"))
    stream = f"arn:aws:dynamodb:{topology.region}:{topo.ACCOUNT_ID}:table/{table}/stream/2026-01-01T00:00:00.000"
    record = dynamodb_stream_record(
        "INSERT",
        {"pk": {"S": "a"}, "sk": {"S": "b"}},
        "100",
        new_image={"pk": {"S": "a"}, "sk": {"S": "b"}},
        stream_arn=stream,
        region=topology.region,
    )
    entry = publish._entry(0, record, sources["change_publisher"])

    def sent(entry_attributes: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        return {k: {"Type": v["DataType"], "Value": v["StringValue"]} for k, v in entry_attributes.items()}

    assert matcher.matches(sent(entry.attributes), entry.message), (attributes["FilterPolicy"], entry.attributes)
    other = {**entry.attributes, "table": {"DataType": "String", "StringValue": f"{table}-other"}}
    assert not matcher.matches(sent(other), entry.message)  # the filter does filter


def test_the_stack_applies_into_the_embedded_aws_plans_no_changes_and_destroys(tmp_path, applied_stacks):
    assert tf.reachable(), "the AWS provider is needed: a mirror (TF_PROVIDER_MIRROR) or the registry"
    topology = topo.load("local")
    applied = applied_stacks.get("default")
    shutil.copytree(
        applied_stacks.directory("default") / "terraform-state",
        tmp_path,
        dirs_exist_ok=True,
        symlinks=True,
        ignore=shutil.ignore_patterns(".terraform"),
    )
    outputs = applied.outputs
    with EmbeddedAws(port=applied.port) as aws:
        applied.restore()
        client = _clients(aws.endpoint, topology.region)
        try:
            # ARNs the provider builds itself carry the account the embedded AWS answers with.
            assert outputs["ingest_route_arn"].startswith(f"arn:aws:execute-api:{topology.region}:{topo.ACCOUNT_ID}:")
            code, output = tf.plan_local(aws.endpoint, tmp_path)
            assert code == 0, output
            _check_stream(client, topology, outputs)
            urls = _check_queues(client, topology, outputs)
            _check_functions(client, topology, outputs, urls)
            _check_changes_pass_the_subscription_filter(client, topology, outputs)
        finally:
            tf.destroy_local(aws.endpoint, tmp_path, refresh=False)
        assert client("lambda").list_functions()["Functions"] == []
        assert client("kinesis").list_streams()["StreamNames"] == []
        assert client("sqs").list_queues().get("QueueUrls", []) == []
        assert client("dynamodb").list_tables()["TableNames"] == []
