"""The local stack: the embedded AWS, what Terraform made in it, and the functions running.

``LocalStack`` applies the root stack (``terraform apply`` with the environment's tfvars,
``stack/terraform.py``) into the embedded AWS, then runs what it made: every function Lambda
holds, with its configuration, in worker processes, and every event source mapping with its
settings, delivered by the runtime (``local/streams.py``, ``local/sqs.py``). EventBridge rules,
bucket notifications and the CodeBuild project are read from the embedded AWS too.
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

from local import iam, snapshot
from local.codebuild import LocalCodeBuild
from local.codecommit import LocalCodeCommit
from local.eventbridge import EventBus
from local.faults import Faults
from local.functions import Invocation, LambdaFunction, extract
from local.server import EmbeddedAws
from local.sqs import QueueMapping, QueueSettings
from local.streams import Record, ShardSource, StreamMapping, StreamSettings
from local.xray import XRayCollector, trace_id
from stack import topology as topo
from stack.events import StreamRecord, dynamodb_event, dynamodb_stream_record, kinesis_event

ROOT = topo.ROOT
HOST_DIST = ROOT / "dist" / "host"
# How often an idle event source mapping polls, as Lambda does: each Kinesis shard once a second
# and each DynamoDB stream shard four times a second (the base rates the Lambda Developer Guide
# gives); SQS five times a second, standing in for Lambda's long polls, which moto's server would
# answer while holding its one lock.
POLL_INTERVAL_S = {"kinesis": 1.0, "dynamodb": 0.25, "sqs": 0.2}
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


class NotStartedError(RuntimeError):
    """A part of the local stack that exists only while it runs was asked for before start()."""

    def __init__(self, part: str) -> None:
        super().__init__(f"{part} runs only once the local stack has started: use LocalStack as a context manager")


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
        applied: snapshot.Applied | None = None,
    ) -> None:
        self.environment = environment
        self.variables = variables or {}
        if applied is not None and applied.variables != self.variables:
            raise ValueError(f"the snapshot was applied with {applied.variables}, not {self.variables}")
        self.applied = applied
        self.outputs: dict[str, Any] = {}
        self.timings: dict[str, float] = {}
        self.faults = faults or Faults()
        self.timeout_cap_s = timeout_cap_s
        self.visibility_cap_s = visibility_cap_s
        self.log = log
        self.server = EmbeddedAws(self.faults, port=applied.port if applied is not None else 0)
        self.topology = topo.load(self.environment, self.variables)
        self.workdir = Path(tempfile.mkdtemp(prefix="tributary-local-"))
        # The session of the runtime itself; its clients, all made after start(), find the
        # embedded AWS through AWS_ENDPOINT_URL.
        self.session = boto3.session.Session(
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            region_name=self.topology.region,
        )
        self.functions: dict[str, LambdaFunction] = {}
        self.collectors: dict[str, XRayCollector] = {}
        self.mappings: dict[str, Any] = {}
        self.codecommit = LocalCodeCommit(self.workdir / "codecommit", self.topology.region, topo.ACCOUNT_ID)
        self._codebuild: LocalCodeBuild | None = None
        self._bus: EventBus | None = None
        self.credentials: dict[str, dict[str, str]] = {}
        self._saved_env: dict[str, str | None] = {}
        self._stopping = threading.Event()

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> LocalStack:
        self.server.start()
        self.log(f"embedded AWS listening on {self.server.endpoint}")
        self._point_sdk_here()
        self.outputs = self._deploy()
        topo.discover(self.topology, self.session, self.outputs)
        self._cap_visibility()
        started = time.monotonic()
        configurations = self._function_configurations()
        self._assume_execution_roles(configurations)
        layer_dir = extract(HOST_DIST / "layers" / "common.zip", self.workdir / "opt")
        for name, configuration in configurations.items():
            self._start_function(name, configuration, layer_dir)
        by_arn = {function.arn: name for name, function in self.functions.items()}
        for mapping in self._event_source_mappings():
            self._start_mapping(by_arn[mapping["FunctionArn"]], mapping)
        self._start_code_services()
        self._notifications = self._delete_notifications()
        self._notifier = threading.Thread(target=self._notify_deletes, name="s3-delete-events", daemon=True)
        self._notifier.start()
        self.timings["runtime"] = time.monotonic() - started
        self.log(
            f"running {len(self.functions)} functions and {len(self.mappings)} event source mappings "
            f"as Terraform configured them ({self.timings['runtime']:.1f} s)"
        )
        return self

    def _deploy(self) -> dict[str, Any]:
        """``terraform apply`` of the root stack into the embedded AWS, or an earlier apply's
        snapshot put back (``local/snapshot.py``); returns the stack's outputs."""
        if self.applied is not None:
            started = time.monotonic()
            self.applied.restore()
            self.timings["restore"] = time.monotonic() - started
            self.log(f"restored the state an earlier terraform apply left ({self.timings['restore']:.1f} s)")
            return self.applied.outputs
        from stack import terraform

        outputs = terraform.apply_local(
            self.server.endpoint,
            self.workdir / "terraform-state",
            self.environment,
            variables=self.variables,
            timings=self.timings,
        )
        self.log(
            f"terraform init {self.timings['init']:.1f} s, apply {self.timings['apply']:.1f} s: "
            f"the root stack with environments/{self.environment}.tfvars.json"
        )
        return outputs

    def _function_configurations(self) -> dict[str, dict[str, Any]]:
        """Each function Terraform made (the stack's ``function_names`` output), as Lambda
        describes it: the runtime runs it with that handler, memory, timeout and environment."""
        lam = self.session.client("lambda")
        configurations = {}
        for name, physical in sorted(self.outputs["function_names"].items()):
            configuration = lam.get_function_configuration(FunctionName=physical)
            layers = [layer["Arn"].split(":")[6] for layer in configuration.get("Layers", [])]
            if layers != [self.topology.layer_name]:
                raise topo.NotDeployedError(f"{physical} has layers {layers}, not [{self.topology.layer_name!r}]")
            configurations[name] = configuration
        return configurations

    def _assume_execution_roles(self, configurations: dict[str, dict[str, Any]]) -> None:
        """Give each function its execution role's credentials, as Lambda does, and have the
        embedded AWS check every call made with them against that role (``local/iam.py``)."""
        enforcer = self.server.iam
        enforcer.region = self.topology.region
        enforcer.facts = iam.read_facts(self.session)
        admin, sts = self.session.client("iam"), self.session.client("sts")
        for name, configuration in configurations.items():
            role_arn = configuration["Role"]
            role = admin.get_role(RoleName=role_arn.rsplit("/", 1)[1])["Role"]
            if not iam.lambda_may_assume(role["AssumeRolePolicyDocument"], role_arn):
                raise topo.NotDeployedError(
                    f"{configuration['FunctionName']}: the role {role_arn} does not let lambda.amazonaws.com assume it"
                )
            session_name = configuration["FunctionName"]
            credentials = sts.assume_role(RoleArn=role_arn, RoleSessionName=session_name)["Credentials"]
            session_arn = f"arn:aws:sts::{topo.ACCOUNT_ID}:assumed-role/{role['RoleName']}/{session_name}"
            identity = iam.read_identity(admin, name, role_arn, session_arn)
            enforcer.register(credentials["AccessKeyId"], identity)
            for need, why in iam.lambda_service_needs(configuration, self.topology.region, topo.ACCOUNT_ID):
                enforcer.require(identity, need, why)
            self.credentials[name] = {
                "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
                "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
                "AWS_SESSION_TOKEN": credentials["SessionToken"],
            }

    def function_session(self, name: str) -> boto3.session.Session:
        """A session with a function's role credentials: what its event source mappings poll with."""
        credentials = self.credentials[name]
        return boto3.session.Session(
            aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=credentials["AWS_SESSION_TOKEN"],
            region_name=self.topology.region,
        )

    def _event_source_mappings(self) -> list[dict[str, Any]]:
        lam = self.session.client("lambda")
        return [
            mapping
            for page in lam.get_paginator("list_event_source_mappings").paginate()
            for mapping in page["EventSourceMappings"]
        ]

    def _delete_notifications(self) -> dict[str, list[tuple[str, str]]]:
        """Per bucket, the (queue URL, key prefix) of each queue notification for ObjectRemoved
        events, from the buckets' notification configurations as Terraform made them."""
        s3, sqs = self.session.client("s3"), self.session.client("sqs")
        found: dict[str, list[tuple[str, str]]] = {}
        for resource in self.topology.resources.values():
            if resource.kind != "bucket":
                continue
            configuration = s3.get_bucket_notification_configuration(Bucket=resource.name)
            for queue in configuration.get("QueueConfigurations", []):
                if not any(event.startswith("s3:ObjectRemoved") for event in queue["Events"]):
                    continue
                rules = queue.get("Filter", {}).get("Key", {}).get("FilterRules", [])
                prefix = next((r["Value"] for r in rules if r["Name"].lower() == "prefix"), "")
                url = topo.queue_url(sqs, queue["QueueArn"])
                found.setdefault(resource.name, []).append((url, prefix))
        return found

    def _notify_deletes(self) -> None:
        """Send the ObjectRemoved:DeleteMarkerCreated events moto leaves out, to the queues the
        bucket's notification configuration names, as S3 would."""
        sqs = self.session.client("sqs")
        while not self._stopping.is_set():
            deleted, self.server.app.deleted_objects[:] = list(self.server.app.deleted_objects), []
            for bucket, key in deleted:
                for url, prefix in self._notifications.get(bucket, []):
                    if key.startswith(prefix):
                        sqs.send_message(
                            QueueUrl=url, MessageBody=_json(_s3_removed_event(bucket, key, self.topology.region))
                        )
            self._stopping.wait(0.1)

    def _start_code_services(self) -> None:
        """CodeCommit as bare repositories, a CodeBuild worker, and EventBridge delivering the
        rules to them and to functions."""
        region = self.topology.region
        for logical, resource in self.topology.resources.items():
            if resource.kind == "codecommit_repository":
                self.codecommit.create(
                    resource.name, self.topology.arns[logical], self.topology.ids[logical], self.topology.urls[logical]
                )
        self._codebuild = codebuild = LocalCodeBuild(
            self.session.client("codebuild"),
            self.workdir / "codebuild",
            self.aws_env,
            self.codecommit.configure_git,
            ROOT / "dist" / "local" / "logs",
            region,
        )
        self._bus = EventBus(
            self.session.client("events"),
            self.invoke_async,
            codebuild.start_build,
            {self.topology.function_arn(name): name for name in self.functions},
            region,
            topo.ACCOUNT_ID,
        )
        self._code_events = threading.Thread(target=self._deliver_code_events, name="codecommit-events", daemon=True)
        self._code_events.start()

    @property
    def codebuild(self) -> LocalCodeBuild:
        """The CodeBuild worker, once started."""
        if self._codebuild is None:
            raise NotStartedError("CodeBuild")
        return self._codebuild

    @property
    def bus(self) -> EventBus:
        """EventBridge, once started."""
        if self._bus is None:
            raise NotStartedError("EventBridge")
        return self._bus

    def _deliver_code_events(self) -> None:
        while not self._stopping.is_set():
            self.codecommit.poll(self.bus.put_event)
            self._stopping.wait(0.1)

    def fire_schedule(self, logical: str) -> dict[str, Any]:
        """Run a scheduled rule (topology.json) now, as its schedule would."""
        return self.bus.fire_schedule(self.topology.resource(logical).name)

    def stop(self) -> None:
        self._stopping.set()
        if self._codebuild is not None:
            self._codebuild.stop()
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
        for url in sqs.list_queues().get("QueueUrls", []):
            sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": str(self.visibility_cap_s)})

    def _start_function(self, name: str, configuration: dict[str, Any], layer_dir: Path) -> None:
        """Run a function with its configuration; the code is this machine's build of the same
        source (``make build-host``), as the Lambda zips carry another architecture's wheels."""
        task_dir = extract(HOST_DIST / "functions" / f"{name}.zip", self.workdir / name / "task")
        collector = XRayCollector(name).start()
        self.collectors[name] = collector
        env = {
            **self.aws_env,
            **self.credentials[name],
            **configuration.get("Environment", {}).get("Variables", {}),
            "AWS_XRAY_DAEMON_ADDRESS": collector.address,
            "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
            "TRIBUTARY_FAULTS": ",".join(f"{k}:{v}" for k, v in self.faults.rates.items() if k in ("crash", "timeout")),
            "TRIBUTARY_SEED": str(self.faults.seed),
        }
        logs = ROOT / "dist" / "local" / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        self.functions[name] = LambdaFunction(
            name=name,
            physical_name=configuration["FunctionName"],
            handler=configuration["Handler"],
            task_dir=task_dir,
            layer_dir=layer_dir,
            environment=env,
            memory_mb=configuration["MemorySize"],
            ephemeral_storage_mb=configuration.get("EphemeralStorage", {}).get("Size", 512),
            timeout_s=configuration["Timeout"],
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

    def _start_mapping(self, name: str, mapping: dict[str, Any]) -> None:
        """Deliver an event source mapping Terraform made, with its settings; moto stores it
        and never acts on it (``local/moto_patches.py``). API Gateway's route is the caller's:
        ``invoke`` with its event."""
        if mapping.get("State", "Enabled") != "Enabled":
            return
        source_arn = mapping["EventSourceArn"]
        service = source_arn.split(":")[2]
        duplicate = lambda: self.faults.fire("duplicate_delivery", name)  # noqa: E731
        # Lambda polls, deletes and sends to the on-failure destination with the function's role.
        role = self.function_session(name)
        sqs, operator_sqs = role.client("sqs"), self.session.client("sqs")
        if service in ("kinesis", "dynamodb"):
            destination = mapping.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
            on_failure_url = topo.queue_url(operator_sqs, destination) if destination else None
            source = (
                self._kinesis_source(source_arn, role)
                if service == "kinesis"
                else self._dynamodb_source(source_arn, role)
            )

            def send_on_failure(record: dict[str, Any]) -> None:
                if on_failure_url is not None:  # without a destination, Lambda drops the record
                    sqs.send_message(QueueUrl=on_failure_url, MessageBody=_json(record))

            stream_mapping = StreamMapping(
                name=f"{name}-mapping",
                source=source,
                settings=StreamSettings.from_mapping(mapping),
                invoke=lambda event: self.invoke(name, event),
                send_on_failure=send_on_failure,
                function_arn=self.functions[name].arn,
                duplicate=duplicate,
                poll_interval_s=POLL_INTERVAL_S[service],
            )
            self.mappings[name] = stream_mapping.start()
        elif service == "sqs":
            queue_mapping = QueueMapping(
                name=f"{name}-mapping",
                sqs=sqs,
                queue_url=topo.queue_url(operator_sqs, source_arn),
                queue_arn=source_arn,
                region=self.topology.region,
                settings=QueueSettings.from_mapping(mapping),
                invoke=lambda event: self.invoke(name, event),
                duplicate=duplicate,
                poll_interval_s=POLL_INTERVAL_S[service],
            )
            self.mappings[name] = queue_mapping.start()
        else:
            raise topo.NotDeployedError(
                f"{name}: an event source mapping from {source_arn}, which the runtime does not deliver"
            )

    def _kinesis_source(self, arn: str, role: boto3.session.Session) -> ShardSource:
        client = role.client("kinesis")
        stream = arn.split(":stream/", 1)[1]
        region = self.topology.region

        def read(iterator: str) -> tuple[list[Record], str | None]:
            page = client.get_records(ShardIterator=iterator, Limit=10_000)
            records = [
                Record(
                    r["SequenceNumber"],
                    r["PartitionKey"],
                    r["ApproximateArrivalTimestamp"].timestamp(),
                    len(r["Data"]) + len(r["PartitionKey"]),
                    r,
                )
                for r in page["Records"]
            ]
            return records, page.get("NextShardIterator")

        def build(records: list[Record], shard: str) -> dict[str, Any]:
            return kinesis_event(
                [StreamRecord(r.raw["Data"], r.partition_key, r.sequence_number, r.arrival) for r in records],
                shard,
                arn,
                region,
            )

        return ShardSource(
            list_shards=lambda: [s["ShardId"] for s in client.list_shards(StreamName=stream)["Shards"]],
            iterator=lambda shard, position: client.get_shard_iterator(
                StreamName=stream, ShardId=shard, ShardIteratorType=position
            )["ShardIterator"],
            read=read,
            build_event=build,
            batch_info_key="KinesisBatchInfo",
            stream_arn=arn,
        )

    def _dynamodb_source(self, arn: str, role: boto3.session.Session) -> ShardSource:
        from tributary import ddb

        client = role.client("dynamodbstreams")
        region = self.topology.region

        def as_json(image: dict[str, Any]) -> dict[str, Any]:
            # The SDK decodes binary to bytes; Lambda's event carries base64 text.
            return ddb.to_item(ddb.from_item(image), binary="base64")

        def json_image(image: dict[str, Any] | None) -> dict[str, Any] | None:
            return None if image is None else as_json(image)

        def read(iterator: str) -> tuple[list[Record], str | None]:
            page = client.get_records(ShardIterator=iterator, Limit=1000)
            records = []
            for r in page["Records"]:
                body = r["dynamodb"]
                created = body["ApproximateCreationDateTime"].timestamp()
                event = dynamodb_stream_record(
                    r["eventName"],
                    as_json(body["Keys"]),
                    body["SequenceNumber"],
                    new_image=json_image(body.get("NewImage")),
                    old_image=json_image(body.get("OldImage")),
                    created=created,
                    stream_arn=arn,
                    region=region,
                    event_id=r["eventID"],
                )
                key = json.dumps(body["Keys"], sort_keys=True, default=repr)
                records.append(Record(body["SequenceNumber"], key, created, body.get("SizeBytes", 0), event))
            return records, page.get("NextShardIterator")

        return ShardSource(
            list_shards=lambda: [
                s["ShardId"] for s in client.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
            ],
            iterator=lambda shard, position: client.get_shard_iterator(
                StreamArn=arn, ShardId=shard, ShardIteratorType=position
            )["ShardIterator"],
            read=read,
            build_event=lambda records, shard: dynamodb_event(r.raw for r in records),
            batch_info_key="DDBStreamBatchInfo",
            stream_arn=arn,
        )

    def idle(self) -> bool:
        code_idle = (
            (self._bus is None or self._bus.idle())
            and (self._codebuild is None or self._codebuild.idle())
            and not self.codecommit.pending()
        )
        return code_idle and all(mapping.idle() for mapping in self.mappings.values())


def _s3_removed_event(bucket: str, key: str, region: str) -> dict[str, Any]:
    from urllib.parse import quote_plus

    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": region,
                "eventTime": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
                "eventName": "ObjectRemoved:DeleteMarkerCreated",
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                    "object": {"key": quote_plus(key, safe="")},
                },
            }
        ]
    }


def _json(document: Any) -> str:
    return json.dumps(document, separators=(",", ":"))
