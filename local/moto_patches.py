"""Where moto answers differently from AWS in ways the Terraform AWS provider notices.

``terraform apply`` of the stack into the embedded AWS needs moto to keep what it was
given and to answer in AWS's shapes: the provider waits until a read matches what it
wrote, and anything missing polls until a timeout, or shows as drift in the next plan.
Each patch below names the difference it closes; ``apply`` installs them all, once per
process (moto's classes are shared, so the in-process ``mock_aws`` of the tests sees them
too, and only ever as answers closer to AWS's).

Event source mappings are kept and read back but never acted on: the local runtime
delivers events itself (``local/sqs.py``, ``local/streams.py``), whereas moto would invoke
the functions through Docker, leave SQS messages in flight and clear a DynamoDB stream's
records after one failed invocation.
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Callable
from typing import Any

_applied: set[str] = set()
_lock = threading.Lock()


def _replace(owner: Any, name: str, make: Callable[[Any], Any]) -> None:
    """Set ``owner.name`` to ``make(original)``."""
    original = owner.__dict__[name] if isinstance(owner, type) else getattr(owner, name)
    setattr(owner, name, make(original))


# --- SQS --------------------------------------------------------------------------------------


def sqs_redrive_allow_policy() -> None:
    """Keep and return ``RedriveAllowPolicy``: moto does not list it among the queue attributes,
    so GetQueueAttributes refuses the name and the provider's wait for it never ends."""
    from moto.sqs.models import Queue

    if "RedriveAllowPolicy" not in Queue.BASE_ATTRIBUTES:
        Queue.BASE_ATTRIBUTES.append("RedriveAllowPolicy")
    Queue.redrive_allow_policy = None  # queues made before the patch have no such attribute

    def make(original: Callable[..., None]) -> Callable[..., None]:
        @functools.wraps(original)
        def _set_attributes(self: Queue, attributes: dict[str, Any], now: float | None = None) -> None:
            original(self, attributes, now)
            if attributes.get("RedriveAllowPolicy") == "":  # an empty value removes it, as in AWS
                self.redrive_allow_policy = None

        return _set_attributes

    _replace(Queue, "_set_attributes", make)


def sqs_partial_set_keeps_policy() -> None:
    """SetQueueAttributes changes only the attributes it names: moto sets ``Policy`` to
    whatever the call carries, so setting anything else removed the queue's policy."""
    from moto.sqs.models import Queue

    def make(original: Callable[..., None]) -> Callable[..., None]:
        @functools.wraps(original)
        def _set_attributes(self: Queue, attributes: dict[str, Any], now: float | None = None) -> None:
            kept = getattr(self, "policy", None)
            original(self, attributes, now)
            if "Policy" not in attributes:
                self.policy = kept

        return _set_attributes

    _replace(Queue, "_set_attributes", make)


def sqs_compact_redrive_policy() -> None:
    """Return ``RedrivePolicy`` as AWS does, compact JSON (moto's ``json.dumps`` adds spaces,
    which the provider compares as text and plans as a change)."""
    from moto.sqs.models import Queue

    def make(original: property) -> property:
        def attributes(self: Queue) -> dict[str, Any]:
            result = original.fget(self)  # type: ignore[misc]
            if self.redrive_policy:
                result["RedrivePolicy"] = json.dumps(self.redrive_policy, separators=(",", ":"))
            return result

        return property(attributes)

    _replace(Queue, "attributes", make)


def sqs_retention_reads_the_setting() -> None:
    """ReceiveMessage checks each visible message's retention against the queue's setting, not
    against every attribute of the queue worked out again (the message counts among them, which
    walk every message): moto's check made a receive quadratic in the queue's depth, and the
    embedded AWS, which answers one request at a time, slowed down with every backlog."""
    from moto.core.utils import unix_time
    from moto.sqs.models import Message, SQSBackend

    def make(original: Callable[..., bool]) -> Callable[..., bool]:
        @functools.wraps(original)
        def valid(self: SQSBackend, queue_name: str, message: Message) -> bool:
            retention = int(self.get_queue(queue_name).message_retention_period)
            return retention + message.sent_timestamp / 1000 > unix_time()

        return valid

    _replace(SQSBackend, "is_message_valid_based_on_retention_period", make)


# --- the server -----------------------------------------------------------------------------


def server_lists_its_services_once() -> None:
    """moto's server finds the service of every request by listing moto's package directory
    (a directory read and a stat per service, on each request); the list is read once."""
    from moto import backends

    listed = tuple(backends.list_of_moto_modules())
    _replace(backends, "list_of_moto_modules", lambda original: lambda: iter(listed))


# --- CodeCommit -------------------------------------------------------------------------------


def codecommit_repository_fields() -> None:
    """Repository dates as epoch seconds (the JSON protocol's timestamps; moto writes ISO
    text, which the provider's SDK refuses), and the ``kmsKeyId`` given at creation."""
    from moto.codecommit.models import CodeCommit
    from moto.core.utils import unix_time

    def make_init(original: Callable[..., None]) -> Callable[..., None]:
        @functools.wraps(original)
        def init(self: CodeCommit, *args: Any, **kwargs: Any) -> None:
            original(self, *args, **kwargs)
            now = unix_time()
            self.repository_metadata["creationDate"] = now
            self.repository_metadata["lastModifiedDate"] = now

        return init

    _replace(CodeCommit, "__init__", make_init)

    from moto.codecommit.responses import CodeCommitResponse

    def make_create(original: Callable[..., str]) -> Callable[..., str]:
        @functools.wraps(original)
        def create_repository(self: CodeCommitResponse) -> str:
            original(self)
            backend = self.codecommit_backend
            metadata = backend.repositories[self._get_param("repositoryName")].repository_metadata
            # AWS encrypts every repository: with the key given, else with aws/codecommit.
            metadata["kmsKeyId"] = self._get_param("kmsKeyId") or "alias/aws/codecommit"
            return json.dumps({"repositoryMetadata": metadata})

        return create_repository

    _replace(CodeCommitResponse, "create_repository", make_create)


def _codecommit_tags(backend: Any) -> dict[str, dict[str, str]]:
    if not hasattr(backend, "repository_tags"):
        backend.repository_tags = {}
    return backend.repository_tags


def codecommit_tags() -> None:
    """Tags on repositories (given at creation, TagResource, UntagResource,
    ListTagsForResource), which moto does not implement for CodeCommit."""
    from moto.codecommit.exceptions import RepositoryDoesNotExistException
    from moto.codecommit.models import CodeCommitBackend
    from moto.codecommit.responses import CodeCommitResponse

    def repository_arn(backend: CodeCommitBackend, arn: str) -> str:
        name = arn.rsplit(":", 1)[-1]
        repository = backend.repositories.get(name)
        if repository is None or repository.repository_metadata["Arn"] != arn:
            raise RepositoryDoesNotExistException(name)
        return arn

    def list_tags_for_resource(self: CodeCommitResponse) -> str:
        arn = repository_arn(self.codecommit_backend, self._get_param("resourceArn"))
        return json.dumps({"tags": _codecommit_tags(self.codecommit_backend).get(arn, {})})

    def tag_resource(self: CodeCommitResponse) -> str:
        arn = repository_arn(self.codecommit_backend, self._get_param("resourceArn"))
        _codecommit_tags(self.codecommit_backend).setdefault(arn, {}).update(self._get_param("tags") or {})
        return "{}"

    def untag_resource(self: CodeCommitResponse) -> str:
        arn = repository_arn(self.codecommit_backend, self._get_param("resourceArn"))
        tags = _codecommit_tags(self.codecommit_backend).get(arn, {})
        for key in self._get_param("tagKeys") or []:
            tags.pop(key, None)
        return "{}"

    def make_create(original: Callable[..., str]) -> Callable[..., str]:
        @functools.wraps(original)
        def create_repository(self: CodeCommitResponse) -> str:
            body = original(self)
            if self._get_param("tags"):
                arn = json.loads(body)["repositoryMetadata"]["Arn"]
                _codecommit_tags(self.codecommit_backend)[arn] = dict(self._get_param("tags"))
            return body

        return create_repository

    _replace(CodeCommitResponse, "create_repository", make_create)
    CodeCommitResponse.list_tags_for_resource = list_tags_for_resource
    CodeCommitResponse.tag_resource = tag_resource
    CodeCommitResponse.untag_resource = untag_resource

    def make_delete(original: Callable[..., str | None]) -> Callable[..., str | None]:
        @functools.wraps(original)
        def delete_repository(self: CodeCommitBackend, repository_name: str) -> str | None:
            repository = self.repositories.get(repository_name)
            if repository is not None:
                _codecommit_tags(self).pop(repository.repository_metadata["Arn"], None)
            return original(self, repository_name)

        return delete_repository

    _replace(CodeCommitBackend, "delete_repository", make_delete)


# --- Lambda -----------------------------------------------------------------------------------


def lambda_logging_config() -> None:
    """Keep a function's ``LoggingConfig`` and return it with AWS's defaults (Text, the
    function's own log group); moto drops it."""
    from moto.awslambda.models import LambdaFunction

    def logging_config(function: LambdaFunction) -> dict[str, Any]:
        given = dict(getattr(function, "logging_config", None) or {})
        config = {
            "LogFormat": given.get("LogFormat") or "Text",
            "LogGroup": given.get("LogGroup") or f"/aws/lambda/{function.function_name}",
        }
        if config["LogFormat"] == "JSON":
            config["ApplicationLogLevel"] = given.get("ApplicationLogLevel") or "INFO"
            config["SystemLogLevel"] = given.get("SystemLogLevel") or "INFO"
        return config

    def make_init(original: Callable[..., None]) -> Callable[..., None]:
        @functools.wraps(original)
        def init(self: LambdaFunction, account_id: str, spec: dict[str, Any], *args: Any, **kwargs: Any) -> None:
            original(self, account_id, spec, *args, **kwargs)
            self.logging_config = spec.get("LoggingConfig") or {}

        return init

    def make_get(original: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
        @functools.wraps(original)
        def get_configuration(self: LambdaFunction, on_create: bool = False) -> dict[str, Any]:
            return {**original(self, on_create), "LoggingConfig": logging_config(self)}

        return get_configuration

    def make_update(original: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
        @functools.wraps(original)
        def update_configuration(self: LambdaFunction, config_updates: dict[str, Any]) -> dict[str, Any]:
            if "LoggingConfig" in config_updates:
                self.logging_config = {
                    **(getattr(self, "logging_config", None) or {}),
                    **config_updates["LoggingConfig"],
                }
            return original(self, config_updates)

        return update_configuration

    _replace(LambdaFunction, "__init__", make_init)
    _replace(LambdaFunction, "get_configuration", make_get)
    _replace(LambdaFunction, "update_configuration", make_update)


def lambda_mappings_never_deliver() -> None:
    """Store event source mappings (create, read, update, delete answer as in AWS) without
    registering them on their queue, table or stream, where moto would act on them."""
    from moto.awslambda.models import EventSourceMapping, LambdaBackend
    from moto.dynamodb.models import dynamodb_backends
    from moto.kinesis.models import kinesis_backends
    from moto.sqs.models import sqs_backends

    def sources(backend: LambdaBackend) -> list[Any]:
        account, region = backend.account_id, backend.region_name
        return [
            *sqs_backends[account][region].queues.values(),
            *dynamodb_backends[account][region].tables.values(),
            *kinesis_backends[account][region].streams.values(),
        ]

    def make(original: Callable[..., EventSourceMapping]) -> Callable[..., EventSourceMapping]:
        @functools.wraps(original)
        def create_event_source_mapping(self: LambdaBackend, spec: dict[str, Any]) -> EventSourceMapping:
            mapping = original(self, spec)
            for source in sources(self):
                registered = source.lambda_event_source_mappings
                for key in [key for key, value in registered.items() if value is mapping]:
                    del registered[key]
            return mapping

        return create_event_source_mapping

    _replace(LambdaBackend, "create_event_source_mapping", make)


# --- CodeBuild --------------------------------------------------------------------------------


def codebuild_project_fields() -> None:
    """Keep a project's ``encryptionKey`` and ``concurrentBuildLimit`` (moto answers its own
    alias/aws/s3 and no limit), and accept a NO_SOURCE source without a location."""
    from moto.codebuild import responses
    from moto.codebuild.responses import CodeBuildResponse

    def make_validate(original: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
        @functools.wraps(original)
        def _validate_required_params_source(source: dict[str, Any]) -> None:
            if source.get("type") in ("NO_SOURCE", "CODEPIPELINE") and "location" not in source:
                return original({**source, "location": "-"})  # AWS needs no location for these
            return original(source)

        return _validate_required_params_source

    _replace(responses, "_validate_required_params_source", make_validate)

    def make_create(original: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(original)
        def create_project(self: CodeBuildResponse) -> Any:
            result = original(self)
            metadata = self.codebuild_backend.codebuild_projects[self._get_param("name")].project_metadata
            if self._get_param("encryptionKey"):
                metadata["encryptionKey"] = self._get_param("encryptionKey")
            if self._get_param("concurrentBuildLimit") is not None:
                metadata["concurrentBuildLimit"] = self._get_param("concurrentBuildLimit")
            return result

        return create_project

    _replace(CodeBuildResponse, "create_project", make_create)


def codebuild_delete_by_arn() -> None:
    """DeleteProject takes a name or an ARN (the provider sends the ARN); moto only looked up names."""
    from moto.codebuild.models import CodeBuildBackend

    def make(original: Callable[[CodeBuildBackend, str], None]) -> Callable[[CodeBuildBackend, str], None]:
        @functools.wraps(original)
        def delete_project(self: CodeBuildBackend, project_name: str) -> None:
            for name, project in self.codebuild_projects.items():
                if project.arn == project_name:
                    project_name = name
                    break
            original(self, project_name)

        return delete_project

    _replace(CodeBuildBackend, "delete_project", make)


# --- Kinesis ----------------------------------------------------------------------------------


def kinesis_tags_on_create() -> None:
    """CreateStream's ``Tags`` are the stream's tags; moto ignored them."""
    from moto.kinesis.responses import KinesisResponse

    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(original)
        def create_stream(self: KinesisResponse) -> Any:
            result = original(self)
            tags = self._get_param("Tags")
            if tags:
                self.kinesis_backend.add_tags_to_stream(None, self._get_param("StreamName"), tags)
            return result

        return create_stream

    _replace(KinesisResponse, "create_stream", make)


# --- S3 ---------------------------------------------------------------------------------------

# What the embedded AWS tells a bucket policy about every request's connection. It listens on
# plain HTTP on the loopback interface, standing in for the HTTPS endpoints the SDK uses in AWS.
S3_CONNECTION = {"aws:SecureTransport": "true", "s3:TlsVersion": "1.3"}


def s3_bucket_policy_conditions() -> None:
    """A bucket policy statement applies only when its conditions hold. moto ignored them, so
    the stack's ``DenyInsecureTransport`` (Deny s3:* if aws:SecureTransport is false) denied
    every object request; it is evaluated by ``local/policy.py`` instead."""
    from moto.iam.access_control import PermissionResult
    from moto.s3.models import FakeBucket

    from local import policy

    def get_permission(self: FakeBucket, action: str, resource: str) -> Any:
        if self.policy is None:
            return PermissionResult.NEUTRAL
        document = self.policy.decode() if isinstance(self.policy, bytes) else self.policy
        answer = policy.evaluate([document], action, resource, S3_CONNECTION, caller={"AWS": ["*"]})
        if answer == policy.DENY:
            return PermissionResult.DENIED
        return PermissionResult.PERMITTED if answer == policy.ALLOW else PermissionResult.NEUTRAL

    FakeBucket.get_permission = get_permission


# --- Athena -----------------------------------------------------------------------------------


def athena_delete_named_query() -> None:
    """DeleteNamedQuery: moto does not implement it, so each destroy of a saved query is a
    server error the provider retries for many minutes before it gives up."""
    from moto.athena.responses import AthenaResponse

    def delete_named_query(self: AthenaResponse) -> str:
        self.athena_backend.named_queries.pop(self._get_param("NamedQueryId"), None)
        return "{}"

    AthenaResponse.delete_named_query = delete_named_query


PATCHES: dict[str, Callable[[], None]] = {
    patch.__name__: patch
    for patch in (
        sqs_redrive_allow_policy,
        sqs_partial_set_keeps_policy,
        sqs_compact_redrive_policy,
        sqs_retention_reads_the_setting,
        server_lists_its_services_once,
        codecommit_repository_fields,
        codecommit_tags,
        lambda_logging_config,
        lambda_mappings_never_deliver,
        codebuild_project_fields,
        codebuild_delete_by_arn,
        kinesis_tags_on_create,
        s3_bucket_policy_conditions,
        athena_delete_named_query,
    )
}


def apply() -> None:
    """Install every patch, each at most once per process."""
    with _lock:
        for name, patch in PATCHES.items():
            if name not in _applied:
                patch()
                _applied.add(name)
