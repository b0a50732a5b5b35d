"""The stack's topology for the local runtime, read from the files Terraform reads.

- ``terraform/topology.json``: the logical resources and their name templates;
- ``terraform/environments/<env>.tfvars.json``: the environment's variables;
- ``functions/*/function.json``: each function's declaration.

``create`` makes the resources in the embedded AWS with plain boto3 calls.
"""

from __future__ import annotations

import json
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools import declarations

ROOT = Path(__file__).resolve().parent.parent
TERRAFORM = ROOT / "terraform"
ACCOUNT_ID = "123456789012"  # moto's default account

# What a logical resource gives a function's resource_environment (as in the stack's `resources`).
ENVIRONMENT_ATTRIBUTE = {"kinesis_stream": "name", "bucket": "name", "queue": "url", "http_api": "name"}


def render(template: str, variables: dict[str, str]) -> str:
    """Fill a ``${name}`` template, as Terraform's templatestring does for plain variables."""
    return string.Template(template).substitute(variables)


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
    # Filled by create(): logical name -> URL / ARN.
    urls: dict[str, str] = field(default_factory=dict)
    arns: dict[str, str] = field(default_factory=dict)
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
        return self.urls[logical] if attribute == "url" else resource.name

    def function_environment(self, name: str) -> dict[str, str]:
        """A function's environment: its declaration's static values and its bound resources."""
        spec = self.functions[name]
        env = dict(spec.environment)
        env.update({key: self.environment_value(logical) for key, logical in spec.resource_environment.items()})
        return env


def load(environment: str = "local") -> Topology:
    """Read topology.json, the environment's variables and every declaration."""
    variables = json.loads((TERRAFORM / "environments" / f"{environment}.tfvars.json").read_text())
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
    functions = declarations.load_all()
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
    )


def create(topology: Topology, session: Any) -> None:
    """Create every resource in the (embedded) AWS the session points at."""
    kms = session.client("kms")
    topology.kms_key_id = kms.create_key(Description=f"{topology.prefix} local key")["KeyMetadata"]["KeyId"]
    for logical, resource in topology.resources.items():
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
    client.increase_stream_retention_period(
        StreamName=resource.name, RetentionPeriodHours=int(variables.get("stream_retention_hours", 24))
    ) if int(variables.get("stream_retention_hours", 24)) > 24 else None
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


_CREATORS = {"kinesis_stream": _stream, "bucket": _bucket, "queue": _queue}
