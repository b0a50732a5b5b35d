"""The local stack: the embedded AWS, the topology, the functions and their event sources.

``LocalStack`` stands up everything Terraform would deploy, on this machine:
the embedded AWS with the topology created from ``terraform/topology.json`` and the
environment's variables, every declared function running from its zip in worker
processes, and an event source mapping for each declared trigger.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3

from local import topology as topo
from local.codebuild import LocalCodeBuild
from local.codecommit import LocalCodeCommit
from local.eventbridge import EventBus
from local.events import StreamRecord, dynamodb_event, dynamodb_stream_record, kinesis_event
from local.faults import Faults
from local.functions import Invocation, LambdaFunction, extract
from local.server import EmbeddedAws
from local.sqs import QueueMapping, QueueSettings
from local.streams import Record, ShardSource, StreamMapping, StreamSettings
from local.xray import XRayCollector, trace_id

ROOT = topo.ROOT
HOST_DIST = ROOT / "dist" / "host"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


class LocalStack:
    """Everything the stack deploys, running locally; use as a context manager."""

    def __init__(
        self,
        environment: str = "local",
        faults: Faults | None = None,
        timeout_cap_s: float | None = None,
        visibility_cap_s: int | None = None,
        log: Callable[[str], None] = lambda message: None,
        variables: dict[str, Any] | None = None,
    ) -> None:
        self.environment = environment
        self.variables = variables or {}
        self.faults = faults or Faults()
        self.timeout_cap_s = timeout_cap_s
        self.visibility_cap_s = visibility_cap_s
        self.log = log
        self.server = EmbeddedAws(self.faults)
        self.topology: topo.Topology | None = None
        self.functions: dict[str, LambdaFunction] = {}
        self.collectors: dict[str, XRayCollector] = {}
        self.mappings: dict[str, Any] = {}
        self.codecommit: LocalCodeCommit | None = None
        self.codebuild: LocalCodeBuild | None = None
        self.bus: EventBus | None = None
        self.workdir = Path(tempfile.mkdtemp(prefix="tributary-local-"))
        self.session: boto3.session.Session | None = None
        self._saved_env: dict[str, str | None] = {}
        self._stopping = threading.Event()

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> LocalStack:
        self.server.start()
        self.log(f"embedded AWS listening on {self.server.endpoint}")
        self.topology = topo.load(self.environment, self.variables)
        self._point_sdk_here()
        self.session = boto3.session.Session()
        topo.create(self.topology, self.session)
        self._cap_visibility()
        self.log(f"created {len(self.topology.resources)} resources from terraform/topology.json "
                 f"and environments/{self.environment}.tfvars.json")
        layer_dir = extract(HOST_DIST / "layers" / "common.zip", self.workdir / "opt")
        for name, spec in self.topology.functions.items():
            self._start_function(name, spec, layer_dir)
        for name, spec in self.topology.functions.items():
            self._start_trigger(name, spec)
        self._start_code_services()
        self._notifier = threading.Thread(target=self._notify_deletes, name="s3-delete-events", daemon=True)
        self._notifier.start()
        return self

    def _notify_deletes(self) -> None:
        """Send the ObjectRemoved:DeleteMarkerCreated events moto leaves out, to the queues the
        bucket's notification configuration (from topology.json) names, as S3 would."""
        sqs = self.session.client("sqs")
        buckets = {r.name: r for r in self.topology.resources.values() if r.kind == "bucket"}
        while not self._stopping.is_set():
            deleted, self.server.app.deleted_objects[:] = list(self.server.app.deleted_objects), []
            for bucket, key in deleted:
                resource = buckets.get(bucket)
                for queue, spec in (resource.settings.get("notifications", {}) if resource else {}).items():
                    if key.startswith(spec["prefix"]) and any(e.startswith("s3:ObjectRemoved") for e in spec["events"]):
                        sqs.send_message(QueueUrl=self.topology.urls[queue], MessageBody=_json(
                            _s3_removed_event(bucket, key, self.topology.region)))
            self._stopping.wait(0.1)

    def _start_code_services(self) -> None:
        """CodeCommit as bare repositories, a CodeBuild worker, and EventBridge delivering the
        rules to them and to functions."""
        region = self.topology.region
        self.codecommit = LocalCodeCommit(self.workdir / "codecommit", region, topo.ACCOUNT_ID)
        for logical, resource in self.topology.resources.items():
            if resource.kind == "codecommit_repository":
                self.codecommit.create(resource.name, self.topology.arns[logical], self.topology.ids[logical],
                                       self.topology.urls[logical])
        self.codebuild = LocalCodeBuild(self.session.client("codebuild"), self.workdir / "codebuild", self.aws_env,
                                        self.codecommit.configure_git, ROOT / "dist" / "local" / "logs", region)
        self.bus = EventBus(self.session.client("events"), self.invoke_async, self.codebuild.start_build,
                            {self.topology.function_arn(name): name for name in self.functions}, region,
                            topo.ACCOUNT_ID)
        self._code_events = threading.Thread(target=self._deliver_code_events, name="codecommit-events",
                                             daemon=True)
        self._code_events.start()

    def _deliver_code_events(self) -> None:
        while not self._stopping.is_set():
            self.codecommit.poll(self.bus.put_event)
            self._stopping.wait(0.1)

    def fire_schedule(self, logical: str) -> dict[str, Any]:
        """Run a scheduled rule (topology.json) now, as its schedule would."""
        return self.bus.fire_schedule(self.topology.resource(logical).name)

    def stop(self) -> None:
        self._stopping.set()
        if self.codebuild is not None:
            self.codebuild.stop()
        for mapping in self.mappings.values():
            mapping.stop()
        for function in self.functions.values():
            function.stop()
        for collector in self.collectors.values():
            collector.stop()
        self.server.stop()
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> LocalStack:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- wiring -------------------------------------------------------------------------------

    @property
    def aws_env(self) -> dict[str, str]:
        """What points an SDK at the embedded AWS (boto3 honours AWS_ENDPOINT_URL)."""
        assert self.topology is not None
        return {
            "AWS_ENDPOINT_URL": self.server.endpoint,
            "AWS_REGION": self.topology.region,
            "AWS_DEFAULT_REGION": self.topology.region,
            "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
            **CREDENTIALS,
        }

    def _point_sdk_here(self) -> None:
        for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", *self.aws_env):
            self._saved_env.setdefault(key, os.environ.get(key))
        os.environ.pop("AWS_PROFILE", None)
        os.environ.pop("AWS_SESSION_TOKEN", None)
        os.environ.update(self.aws_env)

    def _cap_visibility(self) -> None:
        if not self.visibility_cap_s:
            return
        sqs = self.session.client("sqs")
        for logical, resource in self.topology.resources.items():
            if resource.kind == "queue":
                sqs.set_queue_attributes(QueueUrl=self.topology.urls[logical],
                                         Attributes={"VisibilityTimeout": str(self.visibility_cap_s)})

    def _start_function(self, name: str, spec: Any, layer_dir: Path) -> None:
        task_dir = extract(HOST_DIST / "functions" / f"{name}.zip", self.workdir / name / "task")
        collector = XRayCollector(name).start()
        self.collectors[name] = collector
        env = {
            **self.aws_env,
            **self.topology.function_environment(name),
            "AWS_XRAY_DAEMON_ADDRESS": collector.address,
            "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
            "TRIBUTARY_FAULTS": ",".join(f"{k}:{v}" for k, v in self.faults.rates.items()
                                         if k in ("crash", "timeout")),
            "TRIBUTARY_SEED": str(self.faults.seed),
        }
        logs = ROOT / "dist" / "local" / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        self.functions[name] = LambdaFunction(
            name=name,
            physical_name=self.topology.function_names[name],
            handler=spec.handler,
            task_dir=task_dir,
            layer_dir=layer_dir,
            environment=env,
            memory_mb=spec.memory_mb,
            timeout_s=spec.timeout_s,
            region=self.topology.region,
            log_path=logs / f"{name}.log",
            timeout_cap_s=self.timeout_cap_s,
        )

    def invoke(self, name: str, event: dict[str, Any]) -> Invocation:
        """Invoke a function synchronously, with a trace header as Lambda gives one."""
        return self.functions[name].invoke(event, trace_id())

    def invoke_async(self, name: str, event: dict[str, Any], retries: int = 2) -> Invocation:
        """An asynchronous invocation (EventBridge, S3 to a function): on a function error Lambda
        tries again, twice by default."""
        invocation = self.invoke(name, event)
        for _ in range(retries):
            if invocation.ok:
                break
            invocation = self.invoke(name, event)
        return invocation

    def _start_trigger(self, name: str, spec: Any) -> None:
        trigger = spec.trigger
        duplicate = lambda: self.faults.fire("duplicate_delivery", name)  # noqa: E731
        if trigger.type in ("kinesis", "dynamodb"):
            on_failure_url = self.topology.urls[trigger.settings["on_failure"]]
            sqs = self.session.client("sqs")
            source = (self._kinesis_source(trigger.source) if trigger.type == "kinesis"
                      else self._dynamodb_source(trigger.source))
            mapping = StreamMapping(
                name=f"{name}-mapping",
                source=source,
                settings=StreamSettings.from_trigger(trigger.settings),
                invoke=lambda event: self.invoke(name, event),
                send_on_failure=lambda record: sqs.send_message(QueueUrl=on_failure_url,
                                                                MessageBody=_json(record)),
                function_arn=self.functions[name].arn,
                duplicate=duplicate,
            )
            self.mappings[name] = mapping.start()
        elif trigger.type == "sqs":
            settings = QueueSettings.from_trigger(trigger.settings)
            mapping = QueueMapping(
                name=f"{name}-mapping",
                sqs=self.session.client("sqs"),
                queue_url=self.topology.urls[trigger.source],
                queue_arn=self.topology.arns[trigger.source],
                region=self.topology.region,
                settings=settings,
                invoke=lambda event: self.invoke(name, event),
                duplicate=duplicate,
            )
            self.mappings[name] = mapping.start()
        # "http" triggers are invoked by the caller with API Gateway's event (see invoke()).

    def _kinesis_source(self, logical: str) -> ShardSource:
        client = self.session.client("kinesis")
        stream = self.topology.resource(logical).name
        arn = self.topology.arns[logical]
        region = self.topology.region

        def read(iterator: str) -> tuple[list[Record], str | None]:
            page = client.get_records(ShardIterator=iterator, Limit=10_000)
            records = [
                Record(r["SequenceNumber"], r["PartitionKey"], r["ApproximateArrivalTimestamp"].timestamp(),
                       len(r["Data"]) + len(r["PartitionKey"]), r)
                for r in page["Records"]
            ]
            return records, page.get("NextShardIterator")

        def build(records: list[Record], shard: str) -> dict[str, Any]:
            return kinesis_event(
                [StreamRecord(r.raw["Data"], r.partition_key, r.sequence_number, r.arrival) for r in records],
                shard, arn, region,
            )

        return ShardSource(
            list_shards=lambda: [s["ShardId"] for s in client.list_shards(StreamName=stream)["Shards"]],
            iterator=lambda shard, position: client.get_shard_iterator(
                StreamName=stream, ShardId=shard, ShardIteratorType=position)["ShardIterator"],
            read=read,
            build_event=build,
            batch_info_key="KinesisBatchInfo",
            stream_arn=arn,
        )

    def _dynamodb_source(self, logical: str) -> ShardSource:
        from tributary import ddb

        client = self.session.client("dynamodbstreams")
        arn = self.topology.arns[f"{logical}:stream"]
        region = self.topology.region

        def json_image(image: dict[str, Any] | None) -> dict[str, Any] | None:
            # The SDK decodes binary to bytes; Lambda's event carries base64 text.
            return None if image is None else ddb.to_item(ddb.from_item(image), binary="base64")

        def read(iterator: str) -> tuple[list[Record], str | None]:
            page = client.get_records(ShardIterator=iterator, Limit=1000)
            records = []
            for r in page["Records"]:
                body = r["dynamodb"]
                created = body["ApproximateCreationDateTime"].timestamp()
                event = dynamodb_stream_record(
                    r["eventName"], json_image(body["Keys"]), body["SequenceNumber"],
                    new_image=json_image(body.get("NewImage")), old_image=json_image(body.get("OldImage")),
                    created=created, stream_arn=arn, region=region, event_id=r["eventID"],
                )
                key = json.dumps(body["Keys"], sort_keys=True, default=repr)
                records.append(Record(body["SequenceNumber"], key, created, body.get("SizeBytes", 0), event))
            return records, page.get("NextShardIterator")

        return ShardSource(
            list_shards=lambda: [s["ShardId"] for s in client.describe_stream(StreamArn=arn)["StreamDescription"]
                                 ["Shards"]],
            iterator=lambda shard, position: client.get_shard_iterator(
                StreamArn=arn, ShardId=shard, ShardIteratorType=position)["ShardIterator"],
            read=read,
            build_event=lambda records, shard: dynamodb_event(r.raw for r in records),
            batch_info_key="DDBStreamBatchInfo",
            stream_arn=arn,
        )

    def idle(self) -> bool:
        code_idle = (self.bus is None or self.bus.idle()) and (self.codebuild is None or self.codebuild.idle()) \
            and (self.codecommit is None or not self.codecommit.pending())
        return code_idle and all(mapping.idle() for mapping in self.mappings.values())


def _s3_removed_event(bucket: str, key: str, region: str) -> dict[str, Any]:
    from urllib.parse import quote_plus

    return {"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": region,
        "eventTime": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
        "eventName": "ObjectRemoved:DeleteMarkerCreated",
        "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
               "object": {"key": quote_plus(key, safe="")}},
    }]}


def _json(document: Any) -> str:
    return json.dumps(document, separators=(",", ":"))
