"""The stack's topology for the local runtime, read from the files Terraform reads.

- ``terraform/topology.json``: the logical resources and their name templates;
- ``terraform/environments/<env>.tfvars.json``: the environment's variables;
- ``functions/*/function.json``: each function's declaration.

``terraform apply`` makes the resources (``stack/terraform.py``); ``discover`` finds them in
the embedded AWS by these names and records their URLs and ARNs.
"""

from __future__ import annotations

import json
import re
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import botocore.exceptions

from stack import declarations

ROOT = Path(__file__).resolve().parent.parent
TERRAFORM = ROOT / "terraform"
ACCOUNT_ID = "123456789012"  # moto's default account

# What a logical resource gives a function's resource_environment (as in the stack's `resources`).
ENVIRONMENT_ATTRIBUTE = {
    "kinesis_stream": "name",
    "bucket": "name",
    "queue": "url",
    "http_api": "name",
    "dynamodb_table": "name",
    "sns_topic": "arn",
}
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
    # Filled by discover(): logical name -> URL / ARN / id.
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
        """A function's environment: its declaration's static values, its bound resources and what
        the stack sets from its variables (``local.function_environments`` in main.tf)."""
        spec = self.functions[name]
        env = dict(spec.environment)
        env.update({key: self.environment_value(logical) for key, logical in spec.resource_environment.items()})
        if name == "lake_compactor":
            env.update(self.compactor_environment())
        if name == "stream_processor":
            env.update(self.codec_environment())
        return env

    def codec_environment(self) -> dict[str, str]:
        """The stream processor's codec, as main.tf sets it from ``var.lake_codec``."""
        given = self.variables.get("lake_codec") or {}
        env = {"LAKE_CODEC": str(given.get("codec", "gzip"))}
        if given.get("level") is not None:
            env["COMPRESSION_LEVEL"] = str(given["level"])
        return env

    def compactor_environment(self) -> dict[str, str]:
        """The compactor's timings, as lake_query.tf derives them from ``var.lake_compaction``."""
        given = self.variables.get("lake_compaction") or {}
        stream = self.functions["stream_processor"]
        settle = given.get("settle_seconds")
        if settle is None:
            settle = stream.trigger.settings["maximum_record_age_s"] + stream.timeout_s
        return {
            "LATENESS_SECONDS": str(given.get("lateness_seconds", 900)),
            "SETTLE_SECONDS": str(settle),
            "EFFECTIVE_AFTER_SECONDS": str(given.get("effective_after_seconds", 300)),
        }


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
        logical: Resource(
            logical,
            spec["kind"],
            render(spec["name"], names),
            {k: v for k, v in spec.items() if k not in ("kind", "name")},
        )
        for logical, spec in document["resources"].items()
    }
    paths = {k: v for k, v in document.get("paths", {}).items() if k != "description"}
    selected = variables.get("table_sync_paths", "both")
    selected_paths = {"direct", "fanout"} if selected == "both" else {selected}
    # The same rule as the stack's enabled_functions: a path's functions run only when it is selected.
    functions = {
        name: spec
        for name, spec in declarations.load_all().items()
        if name not in paths or paths[name] in selected_paths
    }
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


class NotDeployedError(RuntimeError):
    """A resource of topology.json that the embedded AWS does not hold under its name."""


def discover(topology: Topology, session: Any, outputs: dict[str, Any]) -> None:
    """Find every resource of topology.json in the (embedded) AWS the session points at, where
    ``terraform apply`` made it, and record its URL, ARN and id.

    A resource missing under its name raises ``NotDeployedError``: the names Terraform gives and
    the ones the runtime expects come from the same topology.json, so that is a defect."""
    topology.kms_key_id = outputs["kms_key_arn"]
    for logical, resource in topology.resources.items():
        finder = _FINDERS.get(resource.kind)
        try:
            if finder is None:
                topology.arns[logical] = resource.name
            else:
                finder(topology, session, resource)
        except botocore.exceptions.ClientError as error:
            raise NotDeployedError(
                f"{resource.kind} {resource.name!r} ({logical}, terraform/topology.json) is not in "
                f"the embedded AWS: {error}"
            ) from error


def queue_url(sqs: Any, arn: str) -> str:
    """The URL of the queue an ARN names (its name is the ARN's last field)."""
    return sqs.get_queue_url(QueueName=arn.rsplit(":", 1)[1])["QueueUrl"]


def _stream(topology: Topology, session: Any, resource: Resource) -> None:
    summary = session.client("kinesis").describe_stream_summary(StreamName=resource.name)
    topology.arns[resource.logical] = summary["StreamDescriptionSummary"]["StreamARN"]


def _bucket(topology: Topology, session: Any, resource: Resource) -> None:
    session.client("s3").head_bucket(Bucket=resource.name)
    topology.arns[resource.logical] = f"arn:aws:s3:::{resource.name}"


def _queue(topology: Topology, session: Any, resource: Resource) -> None:
    client = session.client("sqs")
    suffix = ".fifo" if resource.settings.get("fifo") else ""
    url = client.get_queue_url(QueueName=f"{resource.name}{suffix}")["QueueUrl"]
    attributes = client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn", "RedrivePolicy"])["Attributes"]
    topology.urls[resource.logical] = url
    topology.arns[resource.logical] = attributes["QueueArn"]
    if "RedrivePolicy" in attributes:
        dlq_arn = json.loads(attributes["RedrivePolicy"])["deadLetterTargetArn"]
        topology.arns[f"{resource.logical}:dlq"] = dlq_arn
        topology.urls[f"{resource.logical}:dlq"] = queue_url(client, dlq_arn)


def _table(topology: Topology, session: Any, resource: Resource) -> None:
    description = session.client("dynamodb").describe_table(TableName=resource.name)["Table"]
    topology.arns[resource.logical] = description["TableArn"]
    if "LatestStreamArn" in description:
        topology.arns[f"{resource.logical}:stream"] = description["LatestStreamArn"]


def _topic(topology: Topology, session: Any, resource: Resource) -> None:
    arn = f"arn:aws:sns:{topology.region}:{ACCOUNT_ID}:{resource.name}"
    session.client("sns").get_topic_attributes(TopicArn=arn)
    topology.arns[resource.logical] = arn


def _repository(topology: Topology, session: Any, resource: Resource) -> None:
    metadata = session.client("codecommit").get_repository(repositoryName=resource.name)["repositoryMetadata"]
    topology.arns[resource.logical] = metadata["Arn"]
    topology.urls[resource.logical] = metadata["cloneUrlHttp"]
    topology.ids[resource.logical] = metadata["repositoryId"]


def _project(topology: Topology, session: Any, resource: Resource) -> None:
    projects = session.client("codebuild").batch_get_projects(names=[resource.name])["projects"]
    if not projects:
        raise NotDeployedError(f"codebuild_project {resource.name!r} ({resource.logical}) is not in the embedded AWS")
    topology.arns[resource.logical] = projects[0]["arn"]


def _rule(topology: Topology, session: Any, resource: Resource) -> None:
    target = resource.settings.get("schedule_function")
    if target is not None and target not in topology.functions:
        return  # the stack leaves out a rule whose function is not enabled
    topology.arns[resource.logical] = session.client("events").describe_rule(Name=resource.name)["Arn"]


def _workgroup(topology: Topology, session: Any, resource: Resource) -> None:
    session.client("athena").get_work_group(WorkGroup=resource.name)
    topology.arns[resource.logical] = f"arn:aws:athena:{topology.region}:{ACCOUNT_ID}:workgroup/{resource.name}"


_FINDERS = {
    "kinesis_stream": _stream,
    "bucket": _bucket,
    "queue": _queue,
    "dynamodb_table": _table,
    "sns_topic": _topic,
    "codecommit_repository": _repository,
    "codebuild_project": _project,
    "event_rule": _rule,
    "athena_workgroup": _workgroup,
}
