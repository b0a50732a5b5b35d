"""IAM in the embedded AWS: each function's calls checked against its own role.

Lambda runs a function with its execution role's credentials. The local runtime does the same:
it assumes the role Terraform made (after checking that the role trusts ``lambda.amazonaws.com``,
which moto's own AssumeRole does not check for a service principal) and registers those
credentials here. Every request signed with them is then checked before moto sees it:

- ``describe``: the request's service and operation come from botocore's service models: the
  SigV4 credential scope names the service, then ``X-Amz-Target``, the query ``Action``, the
  RPC v2 path or the REST URI template (with its required headers and query keys) names the
  operation, and the model says where each parameter travels;
- ``needs``: the IAM actions, resource ARNs and condition keys that operation asks for, as the
  Service Authorization Reference lists them (``s3:ListObjectsV2`` is ``s3:ListBucket`` on the
  bucket with ``s3:prefix``; a copy needs ``s3:GetObject`` on its source), plus the KMS use AWS
  makes on the caller's behalf (writing to an SSE-KMS bucket, or an encrypted queue, stream or
  topic, asks ``kms:GenerateDataKey`` of the caller; reading asks ``kms:Decrypt``);
- ``Enforcer.decide``: ``local/policy.py`` evaluates each need against the role's inline and
  attached policies, its permissions boundary, the resource's own policy (bucket, queue, topic)
  and, for KMS, the key policy. An explicit deny anywhere wins; otherwise the role, or the
  resource policy naming the role, must allow; KMS needs the key policy to allow the role or
  to delegate to the account's IAM policies.

S3's rule for a missing key is kept too: ``GetObject`` and ``HeadObject`` answer 404 only to a
caller allowed ``s3:ListBucket`` on the bucket, and 403 to every other caller.

Requests signed with other credentials (the runtime delivering events, Terraform, the tests)
are not checked: in AWS those are the Lambda service and an administrator.
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
import threading
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote

import botocore.exceptions
import botocore.session

from local import policy

# A SigV4 signing name that more than one botocore service shares, or that differs from it.
SIGNING_NAMES = {"dynamodb": ("dynamodb", "dynamodbstreams"), "monitoring": ("cloudwatch",)}
# The IAM prefix of a botocore service whose name is not that prefix.
IAM_PREFIX = {"dynamodbstreams": "dynamodb"}
# Operations whose IAM action has another name (the Service Authorization Reference).
ACTIONS = {
    "s3": {
        "ListObjectsV2": "ListBucket",
        "ListObjects": "ListBucket",
        "HeadBucket": "ListBucket",
        "HeadObject": "GetObject",
        "ListObjectVersions": "ListBucketVersions",
        "CreateMultipartUpload": "PutObject",
        "UploadPart": "PutObject",
        "CompleteMultipartUpload": "PutObject",
        "ListParts": "ListMultipartUploadParts",
        "ListMultipartUploads": "ListBucketMultipartUploads",
        "GetBucketNotificationConfiguration": "GetBucketNotification",
        "PutBucketNotificationConfiguration": "PutBucketNotification",
        "GetBucketEncryption": "GetEncryptionConfiguration",
        "PutBucketEncryption": "PutEncryptionConfiguration",
        "DeleteBucketEncryption": "PutEncryptionConfiguration",
        "GetBucketLifecycleConfiguration": "GetLifecycleConfiguration",
        "PutBucketLifecycleConfiguration": "PutLifecycleConfiguration",
        "DeleteBucketLifecycle": "PutLifecycleConfiguration",
        "ListBuckets": "ListAllMyBuckets",
        "GetPublicAccessBlock": "GetBucketPublicAccessBlock",
        "PutPublicAccessBlock": "PutBucketPublicAccessBlock",
        "DeletePublicAccessBlock": "PutBucketPublicAccessBlock",
        "DeleteBucketTagging": "PutBucketTagging",
        "GetBucketCors": "GetBucketCORS",
        "PutBucketCors": "PutBucketCORS",
        "DeleteBucketCors": "PutBucketCORS",
        "SelectObjectContent": "GetObject",
        "GetBucketReplication": "GetReplicationConfiguration",
        "PutBucketReplication": "PutReplicationConfiguration",
        "DeleteBucketReplication": "PutReplicationConfiguration",
        "GetObjectLockConfiguration": "GetBucketObjectLockConfiguration",
        "PutObjectLockConfiguration": "PutBucketObjectLockConfiguration",
    },
    "sqs": {
        "SendMessageBatch": "SendMessage",
        "DeleteMessageBatch": "DeleteMessage",
        "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
    },
    "sns": {"PublishBatch": "Publish"},
    "lambda": {"Invoke": "InvokeFunction", "InvokeAsync": "InvokeFunction"},
}
# With a version id, these S3 operations ask for the version's own action.
S3_VERSIONED = {
    "GetObject": "GetObjectVersion",
    "HeadObject": "GetObjectVersion",
    "DeleteObject": "DeleteObjectVersion",
    "GetObjectTagging": "GetObjectVersionTagging",
    "PutObjectTagging": "PutObjectVersionTagging",
    "DeleteObjectTagging": "DeleteObjectVersionTagging",
    "GetObjectAcl": "GetObjectVersionAcl",
    "PutObjectAcl": "PutObjectVersionAcl",
}
# Operations AWS answers for any caller.
UNCHECKED = {("sts", "GetCallerIdentity")}


@dataclass(frozen=True)
class Call:
    """One request as the SDK made it: botocore's service name, the operation, its parameters."""

    service: str
    operation: str
    params: Mapping[str, Any]


@dataclass(frozen=True)
class Need:
    """One permission a call asks for."""

    action: str
    resource: str
    context: Mapping[str, Any] = field(default_factory=dict)


@functools.cache
def _model(service: str) -> Any:
    return botocore.session.get_session().get_service_model(service)


def protocol(service: str) -> str:
    """The wire protocol of a service, by botocore's or its SigV4 signing name."""
    try:
        return _model(SIGNING_NAMES.get(service, (service,))[0]).protocol
    except botocore.exceptions.UnknownServiceError:
        return "json"


def signing_name(authorization: str) -> str:
    """The service of a SigV4 ``Authorization`` header's credential scope (``AKID/date/region/service/...``)."""
    scope = (
        authorization.split("Credential=", 1)[1].split(",", 1)[0].split("/") if "Credential=" in authorization else []
    )
    return scope[3] if len(scope) >= 4 else ""


def access_key(authorization: str) -> str:
    return authorization.split("Credential=", 1)[1].split("/", 1)[0] if "Credential=" in authorization else ""


def presigned_authorization(query: str) -> str:
    """A presigned URL's credential in the form of a SigV4 Authorization header: its
    ``X-Amz-Credential``, or the ``AWSAccessKeyId`` of S3's SigV2 URLs (which botocore makes by
    default for S3, and which no other service takes)."""
    fields = parse_qs(query)
    if "X-Amz-Credential" in fields:
        return f"AWS4-HMAC-SHA256 Credential={fields['X-Amz-Credential'][0]}"
    if "AWSAccessKeyId" in fields:
        return f"AWS4-HMAC-SHA256 Credential={fields['AWSAccessKeyId'][0]}/00000000/us-east-1/s3/aws4_request"
    return ""


def describe(method: str, path: str, query: str, headers: Mapping[str, str], body: bytes) -> Call | None:
    """The operation a request invokes, with its parameters, or None if no model matches.

    ``path`` is percent-decoded; ``headers`` have lower-case names."""
    signed_for = signing_name(headers.get("authorization", ""))
    if not signed_for:
        return None
    try:
        candidates = [_model(name) for name in SIGNING_NAMES.get(signed_for, (signed_for,))]
    except botocore.exceptions.UnknownServiceError:
        return None
    target = headers.get("x-amz-target", "")
    if target:
        prefix, _, operation = target.rpartition(".")
        model = next((m for m in candidates if m.metadata.get("targetPrefix") == prefix), candidates[0])
        params = json.loads(body or b"{}")
        if not isinstance(params, dict):
            raise ValueError("the request body is not a JSON object")
        return Call(model.service_name, operation, params)
    if path.startswith("/service/") and "/operation/" in path:  # Smithy RPC v2 (CBOR)
        # The CBOR body is not decoded: the operations sent this way here are checked against "*".
        return Call(candidates[0].service_name, path.rsplit("/", 1)[1], {})
    model = candidates[0]
    if model.protocol == "query":
        form = {**parse_qs(query), **parse_qs(body.decode("utf-8", "replace"))}
        params = {key: values[0] for key, values in form.items()}
        operation = params.pop("Action", "")
        return Call(model.service_name, operation, params) if operation else None
    return _describe_rest(model, method, path, query, headers, body)


@functools.cache
def _uri_pattern(template: str) -> tuple[re.Pattern[str], list[str], list[tuple[str, str | None]], int]:
    path, _, query = template.partition("?")
    labels: list[str] = []
    regex = ""
    for part in re.split(r"(\{[^}]+\})", path):
        if part.startswith("{"):
            name = part[1:-1]
            greedy = name.endswith("+")
            labels.append(name.rstrip("+"))
            regex += f"(?P<l{len(labels) - 1}>.+)" if greedy else f"(?P<l{len(labels) - 1}>[^/]+)"
        else:
            regex += re.escape(part)
    literals = len(re.sub(r"\{[^}]+\}", "", path))
    keys = [(k, v or None) for k, _, v in (item.partition("=") for item in query.split("&") if item)]
    return re.compile(regex.rstrip("/") + "/?"), labels, keys, literals


def _describe_rest(
    model: Any, method: str, path: str, query: str, headers: Mapping[str, str], body: bytes
) -> Call | None:
    queries = parse_qs(query, keep_blank_values=True)
    best: tuple[int, str, dict[str, Any]] | None = None
    for name in model.operation_names:
        operation = model.operation_model(name)
        if operation.http.get("method") != method:
            continue
        pattern, labels, keys, score = _uri_pattern(operation.http["requestUri"])
        matched = pattern.fullmatch(path)
        if matched is None or any(k not in queries or (v is not None and queries[k][0] != v) for k, v in keys):
            continue
        score += 10 * len(keys)
        shape = operation.input_shape
        members = shape.members if shape is not None else {}
        required = set(shape.required_members) if shape is not None else set()
        by_label = {
            m.serialization.get("name", n): n for n, m in members.items() if m.serialization.get("location") == "uri"
        }
        params: dict[str, Any] = {by_label.get(label, label): matched.group(f"l{i}") for i, label in enumerate(labels)}
        complete = True
        for member, member_shape in members.items():
            location = member_shape.serialization.get("location")
            wire = member_shape.serialization.get("name", member)
            value = (
                headers.get(wire.lower())
                if location == "header"
                else queries.get(wire, [None])[0]
                if location == "querystring"
                else None
            )
            if value is not None:
                params[member] = value
                score += 10 if member in required else 0
            elif location in ("header", "querystring") and member in required:
                complete = False
        score = score * 2 + (0 if operation.deprecated else 1)  # a deprecated operation loses a tie
        if complete and (best is None or score > best[0]):
            best = (score, name, params)
    if best is None:
        return None
    _, name, params = best
    shape = model.operation_model(name).input_shape
    if (
        model.protocol == "rest-json"
        and body[:1] == b"{"
        and shape is not None
        and not shape.serialization.get("payload")
    ):  # a payload member (Invoke's) is the caller's data
        document = json.loads(body)
        params = {**document, **params} if isinstance(document, dict) else params
    if (model.service_name, name) == ("s3", "DeleteObjects"):
        params["Delete"] = _delete_objects(body)
    return Call(model.service_name, name, params)


def _delete_objects(body: bytes) -> dict[str, Any]:
    objects = []
    for element in ElementTree.fromstring(body).iter():
        if element.tag.rsplit("}", 1)[-1] == "Object":
            fields = {child.tag.rsplit("}", 1)[-1]: child.text or "" for child in element}
            objects.append(fields)
    return {"Objects": objects}


# --- what a call asks for ---------------------------------------------------------------------


def needs(call: Call, region: str, account: str) -> list[Need]:
    """The permissions one call asks for (KMS on the caller's behalf excepted, see ``Enforcer``)."""
    if (call.service, call.operation) in UNCHECKED:
        return []
    prefix = IAM_PREFIX.get(call.service, call.service)
    action = f"{prefix}:{ACTIONS.get(call.service, {}).get(call.operation, call.operation)}"
    p = call.params
    if call.service == "s3":
        return _s3_needs(call)
    if call.service == "dynamodb":
        return _dynamodb_needs(call, region, account)
    if call.service in (
        "kinesis",
        "dynamodbstreams",
        "sqs",
        "sns",
        "lambda",
        "events",
        "logs",
        "kms",
        "codecommit",
        "codebuild",
    ):
        resources = _resources(call, region, account)
        return [Need(action, resource) for resource in resources]
    if call.service == "cloudwatch" and "Namespace" in p:
        return [Need(action, "*", {"cloudwatch:namespace": p["Namespace"]})]
    return [Need(action, "*")]


def _s3_needs(call: Call) -> list[Need]:
    p, op = call.params, call.operation
    bucket = p.get("Bucket", "")
    context: dict[str, Any] = {
        "s3:TlsVersion": "1.3",
        "s3:signatureversion": "AWS4-HMAC-SHA256",
        "s3:authType": "REST-HEADER",
    }
    for member, key in (
        ("ServerSideEncryption", "s3:x-amz-server-side-encryption"),
        ("SSEKMSKeyId", "s3:x-amz-server-side-encryption-aws-kms-key-id"),
        ("ACL", "s3:x-amz-acl"),
        ("Prefix", "s3:prefix"),
        ("Delimiter", "s3:delimiter"),
        ("MaxKeys", "s3:max-keys"),
        ("VersionId", "s3:VersionId"),
    ):
        if member in p:
            context[key] = p[member]

    def object_action(operation: str, version: Any) -> str:
        return "s3:" + (S3_VERSIONED.get(operation, operation) if version else ACTIONS["s3"].get(operation, operation))

    if op == "DeleteObjects":
        return [
            Need(
                object_action("DeleteObject", o.get("VersionId")), f"arn:aws:s3:::{bucket}/{o.get('Key', '')}", context
            )
            for o in p.get("Delete", {}).get("Objects", [])
        ]
    if "Key" not in p:
        return [Need(object_action(op, None), f"arn:aws:s3:::{bucket}" if bucket else "*", context)]
    target = f"arn:aws:s3:::{bucket}/{p['Key']}"
    found = [Need(object_action(op, p.get("VersionId")), target, context)]
    if op in ("CopyObject", "UploadPartCopy"):
        encoded, _, version = p.get("CopySource", "").partition("?versionId=")
        source = unquote(encoded).lstrip("/")
        found = [
            Need("s3:PutObject", target, context),
            Need("s3:GetObjectVersion" if version else "s3:GetObject", f"arn:aws:s3:::{source}", context),
        ]
        if op == "CopyObject" and str(p.get("TaggingDirective", "COPY")).upper() == "REPLACE" and p.get("Tagging"):
            found.append(Need("s3:PutObjectTagging", target, context))
    elif op == "PutObject" and p.get("Tagging"):
        found.append(Need("s3:PutObjectTagging", target, context))
    return found


def _dynamodb_needs(call: Call, region: str, account: str) -> list[Need]:
    p, op = call.params, call.operation

    def table(name: str, index: str | None = None) -> str:
        arn = name if name.startswith("arn:") else f"arn:aws:dynamodb:{region}:{account}:table/{name}"
        return f"{arn}/index/{index}" if index else arn

    if op in ("BatchWriteItem", "BatchGetItem"):
        return [Need(f"dynamodb:{op}", table(name)) for name in p.get("RequestItems", {})]
    if op in ("TransactWriteItems", "TransactGetItems"):
        kinds = {
            "Put": "PutItem",
            "Update": "UpdateItem",
            "Delete": "DeleteItem",
            "ConditionCheck": "ConditionCheckItem",
            "Get": "GetItem",
        }
        return [
            Need(f"dynamodb:{kinds[kind]}", table(body["TableName"]))
            for item in p.get("TransactItems", [])
            for kind, body in item.items()
        ]
    if "TableName" in p:
        return [Need(f"dynamodb:{op}", table(p["TableName"], p.get("IndexName")))]
    resource = p.get("TableArn") or p.get("ResourceArn") or "*"
    return [Need(f"dynamodb:{op}", resource)]


def _resources(call: Call, region: str, account: str) -> list[str]:
    """The resource ARNs a call on a stream, queue, topic, function, bus, log group, key,
    repository or project names; ``*`` for a call that names none."""
    named = _RESOURCES.get(call.service)
    resources = named(call, region, account) if named is not None else None
    return ["*"] if resources is None else resources


def _kinesis_resources(call: Call, region: str, account: str) -> list[str] | None:
    p = call.params
    if "StreamARN" in p or "ConsumerARN" in p:
        return [p.get("ConsumerARN") or p["StreamARN"]]
    if "StreamName" in p:
        return [f"arn:aws:kinesis:{region}:{account}:stream/{p['StreamName']}"]
    if "ShardIterator" in p:
        return [f"arn:aws:kinesis:{region}:{account}:stream/{_kinesis_iterator_stream(p['ShardIterator'])}"]
    return None


def _dynamodbstreams_resources(call: Call, region: str, account: str) -> list[str] | None:
    p = call.params
    if "StreamArn" in p:
        return [p["StreamArn"]]
    if "ShardIterator" in p:  # moto's iterators begin with the stream's ARN
        return [p["ShardIterator"].split("|", 1)[0]]
    return None  # ListStreams (with or without a TableName) takes no resource type: "*".


def _sqs_resources(call: Call, region: str, account: str) -> list[str] | None:
    p = call.params
    if "QueueUrl" in p:
        owner, name = p["QueueUrl"].rstrip("/").split("/")[-2:]
        return [f"arn:aws:sqs:{region}:{owner}:{name}"]
    if "QueueName" in p:
        return [f"arn:aws:sqs:{region}:{p.get('QueueOwnerAWSAccountId', account)}:{p['QueueName']}"]
    return None


def _sns_resources(call: Call, region: str, account: str) -> list[str] | None:
    p = call.params
    return [p.get("TopicArn") or p["TargetArn"]] if "TopicArn" in p or "TargetArn" in p else None


def _lambda_resources(call: Call, region: str, account: str) -> list[str] | None:
    p = call.params
    if "FunctionName" not in p:
        return None
    name = p["FunctionName"]
    if name.startswith("arn:"):
        function = name
    elif ":function:" in name:  # account:function:name
        function = f"arn:aws:lambda:{region}:{name}"
    else:
        function = f"arn:aws:lambda:{region}:{account}:function:{name}"
    return [f"{function}:{p['Qualifier']}" if p.get("Qualifier") else function]


def _events_resources(call: Call, region: str, account: str) -> list[str] | None:
    p = call.params
    if call.operation == "PutEvents":
        buses = {entry.get("EventBusName") or "default" for entry in p.get("Entries", [])}
        prefix = f"arn:aws:events:{region}:{account}:event-bus/"
        return [b if b.startswith("arn:") else prefix + b for b in sorted(buses)]
    if "Rule" in p or call.operation.endswith("Rule"):
        rule = p.get("Rule") or p.get("Name", "")
        bus = p.get("EventBusName")
        return [f"arn:aws:events:{region}:{account}:rule/{bus + '/' if bus and bus != 'default' else ''}{rule}"]
    return None


def _logs_resources(call: Call, region: str, account: str) -> list[str] | None:
    p = call.params
    if "logGroupName" not in p:
        return None
    group = f"arn:aws:logs:{region}:{account}:log-group:{p['logGroupName']}"
    return [f"{group}:log-stream:{p['logStreamName']}" if "logStreamName" in p else f"{group}:*"]


def _kms_resources(call: Call, region: str, account: str) -> list[str] | None:
    key = call.params.get("KeyId")
    if key is None:
        return None
    if key.startswith("arn:"):
        return [key]
    return [f"arn:aws:kms:{region}:{account}:{key if key.startswith('alias/') else 'key/' + key}"]


def _codecommit_resources(call: Call, region: str, account: str) -> list[str] | None:
    name = call.params.get("repositoryName")
    return [f"arn:aws:codecommit:{region}:{account}:{name}"] if name is not None else None


def _codebuild_resources(call: Call, region: str, account: str) -> list[str] | None:
    p = call.params
    if "projectName" in p:
        return [f"arn:aws:codebuild:{region}:{account}:project/{p['projectName']}"]
    if "ids" in p:
        return sorted({f"arn:aws:codebuild:{region}:{account}:project/{i.split(':')[0]}" for i in p["ids"]})
    return None


_RESOURCES: dict[str, Callable[[Call, str, str], list[str] | None]] = {
    "kinesis": _kinesis_resources,
    "dynamodbstreams": _dynamodbstreams_resources,
    "sqs": _sqs_resources,
    "sns": _sns_resources,
    "lambda": _lambda_resources,
    "events": _events_resources,
    "logs": _logs_resources,
    "kms": _kms_resources,
    "codecommit": _codecommit_resources,
    "codebuild": _codebuild_resources,
}


def _kinesis_iterator_stream(iterator: str) -> str:
    """The stream a moto shard iterator belongs to (moto encodes ``stream:shard:sequence``)."""
    from moto.kinesis.utils import decompose_shard_iterator

    try:
        return decompose_shard_iterator(iterator)[0]
    except (ValueError, UnicodeDecodeError, IndexError):
        return "*"


# --- who is calling, and the verdict ----------------------------------------------------------


def _bucket_arn(resource: str) -> str:
    """The bucket's ARN for an S3 bucket or object ARN (``arn:aws:s3:::bucket/key`` -> ``arn:aws:s3:::bucket``)."""
    prefix = "arn:aws:s3:::"
    return prefix + resource[len(prefix) :].split("/", 1)[0] if resource.startswith(prefix) else resource


@dataclass(frozen=True)
class Identity:
    """A function's execution role, as Terraform made it."""

    function: str
    role_arn: str
    session_arn: str
    policies: tuple[Mapping[str, Any], ...]
    boundary: Mapping[str, Any] | None = None


@dataclass
class Facts:
    """The resource side of a decision, read from the embedded AWS once the stack is deployed:
    resource policies by resource ARN, the KMS key each bucket, queue, stream and topic encrypts
    with, key policies by key ARN, and key ARNs by alias ARN and key id."""

    resource_policies: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    encryption_keys: dict[str, str] = field(default_factory=dict)
    key_policies: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    key_aliases: dict[str, str] = field(default_factory=dict)

    def resource_policy(self, resource: str) -> Mapping[str, Any] | None:
        return self.resource_policies.get(_bucket_arn(resource))

    def key(self, reference: str) -> str:
        return self.key_aliases.get(reference, reference)


@dataclass(frozen=True)
class Denial:
    function: str
    action: str
    resource: str
    reason: str

    def message(self, identity: Identity) -> str:
        return (
            f"User: {identity.session_arn} is not authorized to perform: {self.action} on resource: "
            f"{self.resource} {self.reason}"
        )


# Where AWS uses KMS with the caller's permissions: (service, operation) -> KMS actions. SQS and
# SNS senders need both actions; a multipart upload's parts and completion decrypt the data key.
_GENERATE, _DECRYPT = "kms:GenerateDataKey", "kms:Decrypt"
_IMPLIED_KMS = {
    ("s3", "PutObject"): (_GENERATE,),
    ("s3", "CreateMultipartUpload"): (_GENERATE,),
    ("s3", "UploadPart"): (_DECRYPT,),
    ("s3", "CompleteMultipartUpload"): (_DECRYPT,),
    ("s3", "GetObject"): (_DECRYPT,),
    ("sqs", "SendMessage"): (_GENERATE, _DECRYPT),
    ("sqs", "SendMessageBatch"): (_GENERATE, _DECRYPT),
    ("sqs", "ReceiveMessage"): (_DECRYPT,),
    ("sns", "Publish"): (_GENERATE, _DECRYPT),
    ("sns", "PublishBatch"): (_GENERATE, _DECRYPT),
    ("kinesis", "PutRecord"): (_GENERATE,),
    ("kinesis", "PutRecords"): (_GENERATE,),
    ("kinesis", "GetRecords"): (_DECRYPT,),
}


class Enforcer:
    """The identities of the running functions, the resource facts, and every decision made."""

    def __init__(self, region: str = "us-east-1", account: str = "123456789012") -> None:
        self.region = region
        self.account = account
        self.identities: dict[str, Identity] = {}
        self.facts = Facts()
        self.denials: list[Denial] = []
        self.checked = 0
        self.lock = threading.Lock()

    def register(self, key_id: str, identity: Identity) -> None:
        self.identities[key_id] = identity

    def identify(self, authorization: str) -> Identity | None:
        return self.identities.get(access_key(authorization))

    def implied(self, call: Call, explicit: list[Need]) -> list[Need]:
        """The KMS permissions a call asks of its caller through the service it calls, on the
        key the request names (S3's ``SSEKMSKeyId``) or else the one the resource encrypts with."""
        found = []
        for need in explicit:
            actions = _IMPLIED_KMS.get((call.service, call.operation), ())
            resource, named = need.resource, None
            if call.service == "s3":
                resource = _bucket_arn(resource)
                writes = need.action == "s3:PutObject"
                if call.operation in ("CopyObject", "UploadPartCopy"):
                    actions = (
                        (_GENERATE if call.operation == "CopyObject" else _DECRYPT,)
                        if writes
                        else (_DECRYPT,)
                        if need.action in ("s3:GetObject", "s3:GetObjectVersion")
                        else ()
                    )
                elif not writes and need.action not in ("s3:GetObject", "s3:GetObjectVersion"):
                    actions = ()
                if writes:
                    if call.params.get("ServerSideEncryption") not in (None, "aws:kms", "aws:kms:dsse"):
                        actions = ()  # SSE-S3 asked for: no KMS key
                    named = call.params.get("SSEKMSKeyId")
            key = self.facts.key(named or self.facts.encryption_keys.get(resource, "")) if actions else ""
            if key in self.facts.key_policies:  # a key of the stack's (AWS managed keys serve any caller)
                via = f"{IAM_PREFIX.get(call.service, call.service)}.{self.region}.amazonaws.com"
                context = {"kms:ViaService": via, "kms:CallerAccount": self.account}
                found += [Need(action, key, context) for action in actions]
        return found

    def _remember(self, denial: Denial) -> Denial:
        with self.lock:
            self.denials.append(denial)
        return denial

    def refuse_unknown(self, identity: Identity, method: str, path: str, reason: str = "") -> Denial:
        """A request no service model describes, or one it cannot read: refused, since no policy
        can be said to allow it."""
        with self.lock:
            self.checked += 1
        return self._remember(
            Denial(
                identity.function,
                f"{method} {path}",
                "*",
                reason or "because the embedded AWS cannot name its operation in any botocore service model",
            )
        )

    @staticmethod
    def reads_object(call: Call) -> bool:
        """A read whose answer for a missing key depends on the caller (``missing_key``)."""
        return call.service == "s3" and call.operation in ("GetObject", "HeadObject")

    def missing_key(self, identity: Identity, call: Call) -> Denial | None:
        """S3's answer to a read of a missing key: 404 (None) to a caller allowed s3:ListBucket on
        the bucket, else 403, a refusal like any other, since the function cannot tell absent
        from forbidden."""
        bucket = f"arn:aws:s3:::{call.params.get('Bucket', '')}"
        if self.allowed(identity, Need("s3:ListBucket", bucket)):
            return None
        return self._remember(
            Denial(
                identity.function,
                "s3:ListBucket",
                bucket,
                f"(S3 answers {call.operation} of the missing key {call.params.get('Key', '')!r} with 403, "
                "not 404, to a caller not allowed s3:ListBucket)",
            )
        )

    def decide(self, identity: Identity, call: Call) -> Denial | None:
        """The first need the identity may not have, as a denial; None when every need is allowed."""
        explicit = needs(call, self.region, self.account)
        with self.lock:
            self.checked += 1
        for need in [*explicit, *self.implied(call, explicit)]:
            reason = self._refusal(identity, need)
            if reason is not None:
                return self._remember(Denial(identity.function, need.action, need.resource, reason))
        return None

    def require(self, identity: Identity, need: Need, why: str) -> Denial | None:
        """A permission the Lambda service itself uses with the function's role (its logs, its
        traces, its environment's key): a refusal is recorded like any call's."""
        reason = self._refusal(identity, need)
        if reason is None:
            return None
        return self._remember(Denial(identity.function, need.action, need.resource, f"{reason} ({why})"))

    def allowed(self, identity: Identity, need: Need) -> bool:
        return self._refusal(identity, need) is None

    def _refusal(self, identity: Identity, need: Need) -> str | None:
        context = {
            "aws:SecureTransport": "true",
            "aws:PrincipalArn": identity.role_arn,
            "aws:PrincipalAccount": self.account,
            "aws:RequestedRegion": self.region,
            **need.context,
        }
        account = [f"arn:aws:iam::{self.account}:root", self.account]
        caller = {"AWS": [identity.role_arn, identity.session_arn], "Account": account}
        resource = self.facts.key(need.resource) if need.action.startswith("kms:") else need.resource
        own = policy.evaluate(identity.policies, need.action, resource, context)
        bound = (
            policy.evaluate([identity.boundary], need.action, resource, context) if identity.boundary else policy.ALLOW
        )
        if need.action.startswith("kms:"):
            document = self.facts.key_policies.get(resource)
            # A key policy naming the account (its root, or its id) lets IAM policies grant the key.
            delegated = (
                document is None
                or policy.evaluate([document], need.action, resource, context, {"AWS": account}) == policy.ALLOW
            )
        else:
            document = self.facts.resource_policy(resource)
            delegated = True
        theirs = policy.evaluate([document], need.action, resource, context, caller) if document else None
        to_session = (
            policy.evaluate(
                [document], need.action, resource, context, {"AWS": [identity.session_arn], "Account": account}
            )
            if document
            else None
        )
        if policy.DENY in (own, bound, theirs):
            return "with an explicit deny"
        if to_session == policy.ALLOW:
            return None  # a grant to the session itself is not limited by the permissions boundary
        if bound != policy.ALLOW:
            return "because no permissions boundary allows the action"
        if theirs == policy.ALLOW or (own == policy.ALLOW and delegated):
            return None
        if not delegated:
            return "because the key policy does not allow the action"
        return f"because no identity-based policy allows the {need.action} action"

    def report(self) -> dict[str, Any]:
        with self.lock:
            return {
                "checked": self.checked,
                "denied": len(self.denials),
                "denials": [vars(d) for d in self.denials[:20]],
            }


# --- reading both sides from the embedded AWS ---------------------------------------------------


def _document(value: Any) -> Mapping[str, Any]:
    return json.loads(unquote(value)) if isinstance(value, str) else value


def lambda_may_assume(trust_policy: Any, role_arn: str) -> bool:
    """Whether a role's trust policy lets Lambda assume it (``Service: lambda.amazonaws.com``)."""
    caller = {"Service": ["lambda.amazonaws.com"]}
    return policy.evaluate([_document(trust_policy)], "sts:AssumeRole", role_arn, {}, caller) == policy.ALLOW


def lambda_service_needs(configuration: Mapping[str, Any], region: str, account: str) -> list[tuple[Need, str]]:
    """What Lambda does with a function's role beside the function's own calls, from the
    function's configuration: decrypt its environment with its key, write its logs, send its traces."""
    found = []
    key = configuration.get("KMSKeyArn")
    if key:
        context = {
            "kms:ViaService": f"lambda.{region}.amazonaws.com",
            "kms:CallerAccount": account,
            "kms:EncryptionContext:LambdaFunctionName": configuration["FunctionName"],
        }
        found.append((Need("kms:Decrypt", key, context), "Lambda decrypts the function's environment with it"))
    group = configuration.get("LoggingConfig", {}).get("LogGroup") or f"/aws/lambda/{configuration['FunctionName']}"
    stream = f"arn:aws:logs:{region}:{account}:log-group:{group}:log-stream:2026/01/01/[$LATEST]0"
    for action in ("logs:CreateLogStream", "logs:PutLogEvents"):
        found.append((Need(action, stream), "Lambda writes the function's logs with it"))
    if configuration.get("TracingConfig", {}).get("Mode") == "Active":
        for action in ("xray:PutTraceSegments", "xray:PutTelemetryRecords"):
            found.append((Need(action, "*"), "Lambda sends the function's traces with it"))
    return found


def read_identity(client: Any, function: str, role_arn: str, session_arn: str) -> Identity:
    """A role's inline and attached policies and its permissions boundary, through IAM's API."""
    name = role_arn.rsplit("/", 1)[1]

    def managed(arn: str) -> Mapping[str, Any]:
        version = client.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
        return _document(client.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"])

    documents = [
        _document(client.get_role_policy(RoleName=name, PolicyName=policy_name)["PolicyDocument"])
        for page in client.get_paginator("list_role_policies").paginate(RoleName=name)
        for policy_name in page["PolicyNames"]
    ]
    documents += [
        managed(attached["PolicyArn"])
        for page in client.get_paginator("list_attached_role_policies").paginate(RoleName=name)
        for attached in page["AttachedPolicies"]
    ]
    boundary = client.get_role(RoleName=name)["Role"].get("PermissionsBoundary", {}).get("PermissionsBoundaryArn")
    return Identity(function, role_arn, session_arn, tuple(documents), managed(boundary) if boundary else None)


def read_facts(session: Any) -> Facts:
    """Resource policies and encryption keys of every bucket, queue, topic, stream and key."""
    from botocore.exceptions import ClientError

    facts = Facts()
    kms = session.client("kms")
    for page in kms.get_paginator("list_keys").paginate():
        for key in page["Keys"]:
            arn = key["KeyArn"]
            facts.key_aliases[key["KeyId"]] = arn
            facts.key_policies[arn] = _document(kms.get_key_policy(KeyId=arn, PolicyName="default")["Policy"])
    for page in kms.get_paginator("list_aliases").paginate():
        for alias in page["Aliases"]:
            if alias.get("TargetKeyId") in facts.key_aliases:
                target = facts.key_aliases[alias["TargetKeyId"]]
                facts.key_aliases[alias["AliasName"]] = facts.key_aliases[alias["AliasArn"]] = target
    s3 = session.client("s3")
    for bucket in s3.list_buckets().get("Buckets", []):
        arn = f"arn:aws:s3:::{bucket['Name']}"
        with contextlib.suppress(ClientError):  # NoSuchBucketPolicy: the bucket has none
            facts.resource_policies[arn] = _document(s3.get_bucket_policy(Bucket=bucket["Name"])["Policy"])
        try:
            rules = s3.get_bucket_encryption(Bucket=bucket["Name"])["ServerSideEncryptionConfiguration"]["Rules"]
        except ClientError:
            rules = []
        for rule in rules:
            default = rule.get("ApplyServerSideEncryptionByDefault", {})
            if default.get("SSEAlgorithm") == "aws:kms" and default.get("KMSMasterKeyID"):
                facts.encryption_keys[arn] = default["KMSMasterKeyID"]
    sqs = session.client("sqs")
    for url in sqs.list_queues().get("QueueUrls", []):
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        _record(facts, attributes["QueueArn"], attributes.get("Policy"), attributes.get("KmsMasterKeyId"))
    sns = session.client("sns")
    for page in sns.get_paginator("list_topics").paginate():
        for topic in page["Topics"]:
            attributes = sns.get_topic_attributes(TopicArn=topic["TopicArn"])["Attributes"]
            _record(facts, topic["TopicArn"], attributes.get("Policy"), attributes.get("KmsMasterKeyId"))
    kinesis = session.client("kinesis")
    for name in kinesis.list_streams().get("StreamNames", []):
        summary = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
        key = summary.get("KeyId") if summary.get("EncryptionType") == "KMS" else None
        _record(facts, summary["StreamARN"], None, key)
    return facts


def _record(facts: Facts, arn: str, document: Any, key: str | None) -> None:
    if document:
        facts.resource_policies[arn] = _document(document)
    if key:
        facts.encryption_keys[arn] = key


__all__ = [
    "Call",
    "Denial",
    "Enforcer",
    "Facts",
    "Identity",
    "Need",
    "access_key",
    "describe",
    "lambda_may_assume",
    "lambda_service_needs",
    "needs",
    "presigned_authorization",
    "protocol",
    "read_facts",
    "read_identity",
    "signing_name",
]
