"""The stack's topology for the local runtime, read from the files Terraform reads.

- ``terraform/topology.json``: the logical resources and their name templates;
- ``terraform/environments/<env>.tfvars.json``: the environment's variables;
- ``functions/*/function.json``: each function's declaration.

``create`` makes the resources in the embedded AWS with plain boto3 calls.
"""

from __future__ import annotations

import base64
import json
import re
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools import declarations

ROOT = Path(__file__).resolve().parent.parent
TERRAFORM = ROOT / "terraform"
ACCOUNT_ID = "123456789012"  # moto's default account

# What a logical resource gives a function's resource_environment (as in the stack's `resources`).
ENVIRONMENT_ATTRIBUTE = {"kinesis_stream": "name", "bucket": "name", "queue": "url", "http_api": "name",
                         "dynamodb_table": "name", "sns_topic": "arn"}
# The git mirror's build: the same buildspec template and script the module deploys.
GIT_MIRROR_MODULE = TERRAFORM / "modules" / "git_mirror"
TEMPLATE_VARIABLE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def render(template: str, variables: dict[str, str]) -> str:
    """Fill a ``${name}`` template, as Terraform's templatestring does for plain variables."""
    return string.Template(template).substitute(variables)


def templatefile(path: Path, variables: dict[str, str]) -> str:
    """Terraform's templatefile for plain ``${name}`` interpolations; ``$name`` (shell) is left alone."""
    return TEMPLATE_VARIABLE.sub(lambda m: variables[m.group(1)], path.read_text())


def variable_defaults(path: Path = TERRAFORM / "variables.tf") -> dict[str, str]:
    """The string defaults of the stack's variables (what applies when a tfvars file is silent)."""
    pattern = re.compile(r'^variable "(\w+)" \{\n(?:(?!^\}).*\n)*?\s+default\s+=\s+"([^"]*)"$', re.MULTILINE)
    return {m.group(1): m.group(2) for m in pattern.finditer(path.read_text())}


@dataclass(frozen=True)
class Resource:
    """One logical resource: its kind, physical name and settings from topology.json."""

    logical: str
    kind: str
    name: str
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass
class Topology:
    """Everything the local runtime needs to stand the stack up."""

    environment: str
    region: str
    prefix: str
    variables: dict[str, Any]
    resources: dict[str, Resource]
    functions: dict[str, declarations.FunctionSpec]
    function_names: dict[str, str]
    layer_name: str
    names: dict[str, str] = field(default_factory=dict)
    # Filled by create(): logical name -> URL / ARN.
    urls: dict[str, str] = field(default_factory=dict)
    arns: dict[str, str] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)
    kms_key_id: str | None = None

    def resource(self, logical: str) -> Resource:
        try:
            return self.resources[logical]
        except KeyError:
            raise KeyError(f"{logical!r} is not in terraform/topology.json") from None

    def environment_value(self, logical: str) -> str:
        """The value a function's resource_environment gets for a logical resource."""
        resource = self.resource(logical)
        attribute = ENVIRONMENT_ATTRIBUTE[resource.kind]
        if attribute == "url":
            return self.urls[logical]
        if attribute == "arn":
            return self.arns[logical]
        return resource.name

    def function_arn(self, name: str) -> str:
        return f"arn:aws:lambda:{self.region}:{ACCOUNT_ID}:function:{self.function_names[name]}"

    def variable(self, name: str) -> Any:
        """A stack variable: the environment's value, else the default in variables.tf."""
        if name in self.variables:
            return self.variables[name]
        return variable_defaults()[name]

    def function_environment(self, name: str) -> dict[str, str]:
        """A function's environment: its declaration's static values and its bound resources."""
        spec = self.functions[name]
        env = dict(spec.environment)
        env.update({key: self.environment_value(logical) for key, logical in spec.resource_environment.items()})
        return env


def load(environment: str = "local", overrides: dict[str, Any] | None = None) -> Topology:
    """Read topology.json, the environment's variables (with ``overrides``, as ``-var`` would) and
    every declaration."""
    variables = json.loads((TERRAFORM / "environments" / f"{environment}.tfvars.json").read_text())
    variables.update(overrides or {})
    document = json.loads((TERRAFORM / "topology.json").read_text())
    name = variables.get("name", "tributary")
    prefix = f"{name}-{variables['environment']}"
    region = variables["region"]
    names = {"prefix": prefix, "account_id": ACCOUNT_ID, "region": region}
    resources = {
        logical: Resource(logical, spec["kind"], render(spec["name"], names),
                          {k: v for k, v in spec.items() if k not in ("kind", "name")})
        for logical, spec in document["resources"].items()
    }
    paths = {k: v for k, v in document.get("paths", {}).items() if k != "description"}
    selected = variables.get("table_sync_paths", "both")
    selected_paths = {"direct", "fanout"} if selected == "both" else {selected}
    # The same rule as the stack's enabled_functions: a path's functions run only when it is selected.
    functions = {name: spec for name, spec in declarations.load_all().items()
                 if name not in paths or paths[name] in selected_paths}
    function_names = {
        fn: render(document["naming"]["function"], {**names, "function": fn.replace("_", "-")}) for fn in functions
    }
    return Topology(
        environment=variables["environment"],
        region=region,
        prefix=prefix,
        variables=variables,
        resources=resources,
        functions=functions,
        function_names=function_names,
        layer_name=render(document["naming"]["layer"], names),
        names=names,
    )


def create(topology: Topology, session: Any) -> None:
    """Create every resource in the (embedded) AWS the session points at."""
    kms = session.client("kms")
    topology.kms_key_id = kms.create_key(Description=f"{topology.prefix} local key")["KeyMetadata"]["KeyId"]
    for logical, resource in sorted(topology.resources.items(), key=lambda kv: _ORDER.get(kv[1].kind, 3)):
        creator = _CREATORS.get(resource.kind)
        if creator is not None:
            creator(topology, session, resource)
        else:
            topology.arns[logical] = resource.name


def _stream(topology: Topology, session: Any, resource: Resource) -> None:
    client = session.client("kinesis")
    variables = topology.variables
    if variables.get("stream_on_demand", True):
        client.create_stream(StreamName=resource.name, StreamModeDetails={"StreamMode": "ON_DEMAND"})
    else:
        client.create_stream(StreamName=resource.name, ShardCount=int(variables.get("stream_shard_count", 1)))
    retention = int(variables.get("stream_retention_hours", 24))
    if retention > 24:
        client.increase_stream_retention_period(StreamName=resource.name, RetentionPeriodHours=retention)
    client.start_stream_encryption(StreamName=resource.name, EncryptionType="KMS", KeyId=topology.kms_key_id)
    summary = client.describe_stream_summary(StreamName=resource.name)["StreamDescriptionSummary"]
    topology.arns[resource.logical] = summary["StreamARN"]


def _bucket(topology: Topology, session: Any, resource: Resource) -> None:
    client = session.client("s3")
    client.create_bucket(Bucket=resource.name,
                         CreateBucketConfiguration={"LocationConstraint": topology.region})
    client.put_bucket_versioning(Bucket=resource.name, VersioningConfiguration={"Status": "Enabled"})
    client.put_public_access_block(
        Bucket=resource.name,
        PublicAccessBlockConfiguration={"BlockPublicAcls": True, "IgnorePublicAcls": True,
                                        "BlockPublicPolicy": True, "RestrictPublicBuckets": True},
    )
    client.put_bucket_encryption(
        Bucket=resource.name,
        ServerSideEncryptionConfiguration={"Rules": [{
            "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": topology.kms_key_id},
            "BucketKeyEnabled": True,
        }]},
    )
    topology.arns[resource.logical] = f"arn:aws:s3:::{resource.name}"
    notifications = resource.settings.get("notifications", {})
    if notifications:
        client.put_bucket_notification_configuration(Bucket=resource.name, NotificationConfiguration={
            "QueueConfigurations": [
                {"Id": queue, "QueueArn": topology.arns[queue], "Events": spec["events"],
                 "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": spec["prefix"]}]}}}
                for queue, spec in notifications.items()
            ]})


def _queue(topology: Topology, session: Any, resource: Resource) -> None:
    client = session.client("sqs")
    fifo = bool(resource.settings.get("fifo", False))
    suffix = ".fifo" if fifo else ""
    attributes = {"KmsMasterKeyId": topology.kms_key_id}
    if fifo:
        attributes["FifoQueue"] = "true"
    if "visibility_timeout_seconds" in resource.settings:
        attributes["VisibilityTimeout"] = str(resource.settings["visibility_timeout_seconds"])
    max_receive = int(resource.settings.get("max_receive_count", 5))
    if max_receive > 0:
        dlq_url = client.create_queue(QueueName=f"{resource.name}-dlq{suffix}", Attributes=dict(attributes))["QueueUrl"]
        dlq_arn = client.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        topology.urls[f"{resource.logical}:dlq"] = dlq_url
        topology.arns[f"{resource.logical}:dlq"] = dlq_arn
        attributes["RedrivePolicy"] = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive})
    url = client.create_queue(QueueName=f"{resource.name}{suffix}", Attributes=attributes)["QueueUrl"]
    topology.urls[resource.logical] = url
    topology.arns[resource.logical] = client.get_queue_attributes(
        QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def _table(topology: Topology, session: Any, resource: Resource) -> None:
    client = session.client("dynamodb")
    settings = resource.settings
    keys = [{"AttributeName": settings["hash_key"], "KeyType": "HASH"}]
    attributes = [{"AttributeName": settings["hash_key"], "AttributeType": "S"}]
    if settings.get("range_key"):
        keys.append({"AttributeName": settings["range_key"], "KeyType": "RANGE"})
        attributes.append({"AttributeName": settings["range_key"], "AttributeType": "S"})
    kwargs: dict[str, Any] = {
        "TableName": resource.name, "BillingMode": "PAY_PER_REQUEST", "KeySchema": keys,
        "AttributeDefinitions": attributes,
        "SSESpecification": {"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": topology.kms_key_id},
    }
    if settings.get("stream_view_type"):
        kwargs["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": settings["stream_view_type"]}
    description = client.create_table(**kwargs)["TableDescription"]
    client.update_continuous_backups(TableName=resource.name,
                                     PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
    if settings.get("ttl_attribute"):
        client.update_time_to_live(TableName=resource.name, TimeToLiveSpecification={
            "Enabled": True, "AttributeName": settings["ttl_attribute"]})
    topology.arns[resource.logical] = description["TableArn"]
    if "LatestStreamArn" in description:
        topology.arns[f"{resource.logical}:stream"] = description["LatestStreamArn"]


def _topic(topology: Topology, session: Any, resource: Resource) -> None:
    sns = session.client("sns")
    arn = sns.create_topic(Name=resource.name, Attributes={"KmsMasterKeyId": topology.kms_key_id})["TopicArn"]
    topology.arns[resource.logical] = arn
    for queue, subscription in resource.settings.get("subscriptions", {}).items():
        policy = render(json.dumps(subscription["filter_policy"]), topology.names)
        sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=topology.arns[queue], ReturnSubscriptionArn=True,
                      Attributes={"RawMessageDelivery": str(subscription["raw_message_delivery"]).lower(),
                                  "FilterPolicy": policy, "FilterPolicyScope": "MessageAttributes"})


def _repository(topology: Topology, session: Any, resource: Resource) -> None:
    metadata = session.client("codecommit").create_repository(
        repositoryName=resource.name, kmsKeyId=topology.kms_key_id)["repositoryMetadata"]
    topology.arns[resource.logical] = metadata["Arn"]
    topology.urls[resource.logical] = metadata["cloneUrlHttp"]
    topology.ids[resource.logical] = metadata["repositoryId"]


def _project(topology: Topology, session: Any, resource: Resource) -> None:
    """The git mirror's CodeBuild project, as modules/git_mirror defines it."""
    source, target = resource.settings["source_repository"], resource.settings["target_repository"]
    script = base64.b64encode((GIT_MIRROR_MODULE / "mirror.sh").read_bytes()).decode()
    project = session.client("codebuild").create_project(
        name=resource.name,
        # NO_SOURCE, as the module: the script reads repo1 itself (moto wants a location all the same).
        source={"type": "NO_SOURCE", "location": "none",
                "buildspec": templatefile(GIT_MIRROR_MODULE / "buildspec.yml.tftpl", {"script_base64": script})},
        artifacts={"type": "NO_ARTIFACTS"},
        environment={"type": "LINUX_CONTAINER", "image": "aws/codebuild/amazonlinux-x86_64-standard:5.0",
                     "computeType": "BUILD_GENERAL1_SMALL",
                     "environmentVariables": [{"name": "SOURCE_URL", "value": topology.urls[source]},
                                              {"name": "TARGET_URL", "value": topology.urls[target]}]},
        serviceRole=f"arn:aws:iam::{ACCOUNT_ID}:role/{resource.name}-build",
        encryptionKey=topology.kms_key_id,
        concurrentBuildLimit=1,
    )["project"]
    topology.arns[resource.logical] = project["arn"]


def _rule(topology: Topology, session: Any, resource: Resource) -> None:
    settings = resource.settings
    if "target_function" in settings:
        if settings["target_function"] not in topology.functions:
            return
        target = {"Id": settings["target_function"], "Arn": topology.function_arn(settings["target_function"])}
    else:
        target = {"Id": settings["target"], "Arn": topology.arns[settings["target"]],
                  "RoleArn": f"arn:aws:iam::{ACCOUNT_ID}:role/{topology.resource(settings['target']).name}-events"}
    events = session.client("events")
    if "event_pattern" in settings:
        pattern = dict(settings["event_pattern"])
        pattern["resources"] = [topology.arns[logical] for logical in settings.get("event_resources", [])]
        rule = events.put_rule(Name=resource.name, EventPattern=json.dumps(pattern),
                               Description=settings.get("description", ""))
    else:
        rule = events.put_rule(Name=resource.name, ScheduleExpression=topology.variable(settings["schedule_variable"]),
                               Description=settings.get("description", ""))
    events.put_targets(Rule=resource.name, Targets=[target])
    topology.arns[resource.logical] = rule["RuleArn"]


_CREATORS = {"kinesis_stream": _stream, "bucket": _bucket, "queue": _queue, "dynamodb_table": _table,
             "sns_topic": _topic, "codecommit_repository": _repository, "codebuild_project": _project,
             "event_rule": _rule}
# Queues first: topics subscribe them; rules last: they target the others.
_ORDER = {"queue": 0, "bucket": 1, "kinesis_stream": 1, "dynamodb_table": 1, "codecommit_repository": 1,
          "sns_topic": 2, "codebuild_project": 2, "event_rule": 4}
