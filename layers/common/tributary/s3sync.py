"""Keeping one S3 prefix equal to another, per key (from events) or whole (reconciliation).

An event is only a hint: for the key it names, the current state in the source decides
(present: copy unless the target already holds the same content; absent: delete). So
events that arrive late, twice, out of order or without a ``sequencer`` all converge.

"Same content" is the same size and the same ETag, or the source's ETag recorded on the
target copy (a multipart copy has an ETag of its own). Copies keep the content type and
encoding, the user metadata and the tags; large objects use the SDK's managed multipart copy.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

SOURCE_ETAG = "tributary-source-etag"  # user metadata on target copies
COPY_CONFIG = TransferConfig(multipart_threshold=64 * 1024 * 1024, multipart_chunksize=64 * 1024 * 1024)
PRESERVED = ("ContentType", "ContentEncoding", "ContentDisposition", "ContentLanguage", "CacheControl")

Action = Literal["copied", "deleted", "skipped", "absent"]


@dataclass(frozen=True)
class Prefixes:
    """Where to sync from and to."""

    source_bucket: str
    target_bucket: str
    source_prefix: str = "code/"
    target_prefix: str = "code/"

    def target_key(self, source_key: str) -> str:
        return self.target_prefix + source_key[len(self.source_prefix):]


def event_keys(body: str, prefixes: Prefixes) -> list[str]:
    """Source keys named by an S3 event notification (as SQS delivers it); the test event names none."""
    message = json.loads(body)
    if isinstance(message, dict) and message.get("Type") == "Notification":  # through SNS, raw delivery off
        message = json.loads(message["Message"])
    if message.get("Event") == "s3:TestEvent":
        return []
    keys = []
    for record in message.get("Records", []):
        if not str(record.get("eventName", "")).startswith(("ObjectCreated", "ObjectRemoved")):
            continue
        if record["s3"]["bucket"]["name"] != prefixes.source_bucket:
            continue
        key = urllib.parse.unquote_plus(record["s3"]["object"]["key"])  # keys arrive URL-encoded
        if key.startswith(prefixes.source_prefix):
            keys.append(key)
    return keys


def _head(s3: Any, bucket: str, key: str) -> dict[str, Any] | None:
    try:
        return s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return None
        raise


def same_content(source: Mapping[str, Any], target: Mapping[str, Any]) -> bool:
    """Same size and the same ETag (directly, or as recorded when the copy was made)."""
    if source.get("ContentLength") != target.get("ContentLength"):
        return False
    recorded = target.get("Metadata", {}).get(SOURCE_ETAG)
    return source.get("ETag") in (target.get("ETag"), recorded)


def copy(s3: Any, prefixes: Prefixes, key: str, head: Mapping[str, Any]) -> None:
    """Managed (multipart when large) copy keeping content headers, metadata and tags."""
    tags = s3.get_object_tagging(Bucket=prefixes.source_bucket, Key=key).get("TagSet", [])
    extra: dict[str, Any] = {
        # Copy the very version whose ETag is recorded; if the source changed meanwhile the copy
        # fails (412) and reconcile_key looks again.
        "CopySourceIfMatch": head["ETag"],
        "MetadataDirective": "REPLACE",
        "Metadata": {**head.get("Metadata", {}), SOURCE_ETAG: head["ETag"]},
    }
    extra.update({name: head[name] for name in PRESERVED if head.get(name)})
    if tags:
        extra["Tagging"] = urllib.parse.urlencode({t["Key"]: t["Value"] for t in tags})
        extra["TaggingDirective"] = "REPLACE"
    s3.copy({"Bucket": prefixes.source_bucket, "Key": key}, prefixes.target_bucket, prefixes.target_key(key),
            ExtraArgs=extra, Config=COPY_CONFIG)


def reconcile_key(s3: Any, prefixes: Prefixes, key: str, attempts: int = 3) -> Action:
    """Make the target's copy of ``key`` match the source's current state."""
    for attempt in range(attempts):
        try:
            return _reconcile_once(s3, prefixes, key)
        except ClientError as exc:
            changed = exc.response.get("Error", {}).get("Code") in ("PreconditionFailed", "412", "NoSuchKey")
            if not changed or attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


def _reconcile_once(s3: Any, prefixes: Prefixes, key: str) -> Action:
    source = _head(s3, prefixes.source_bucket, key)
    target_key = prefixes.target_key(key)
    target = _head(s3, prefixes.target_bucket, target_key)
    if source is None:
        if target is None:
            return "absent"
        s3.delete_object(Bucket=prefixes.target_bucket, Key=target_key)
        return "deleted"
    if target is not None and same_content(source, target):
        return "skipped"
    copy(s3, prefixes, key, source)
    return "copied"


def _listing(s3: Any, bucket: str, prefix: str) -> Iterator[dict[str, Any]]:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        yield from page.get("Contents", [])


@dataclass
class Plan:
    """What a full reconciliation does, with ``aws s3 sync --delete`` semantics."""

    copy: list[str] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)
    unchanged: int = 0


def plan(s3: Any, prefixes: Prefixes) -> Plan:
    """Copy what is missing, of another size or newer in the source; delete what the source lacks.

    Like ``aws s3 sync``, sizes and timestamps decide; an object of the same size and time but
    another ETag (and no recorded source ETag that matches) is copied too.
    """
    source = {o["Key"]: o for o in _listing(s3, prefixes.source_bucket, prefixes.source_prefix)}
    target = {o["Key"]: o for o in _listing(s3, prefixes.target_bucket, prefixes.target_prefix)}
    result = Plan()
    wanted = set()
    for key, obj in sorted(source.items()):
        target_key = prefixes.target_key(key)
        wanted.add(target_key)
        other = target.get(target_key)
        if other is None or other["Size"] != obj["Size"] or obj["LastModified"] > other["LastModified"]:
            result.copy.append(key)
        elif other.get("ETag") != obj.get("ETag"):
            head = _head(s3, prefixes.target_bucket, target_key) or {}
            if head.get("Metadata", {}).get(SOURCE_ETAG) != obj.get("ETag"):
                result.copy.append(key)
            else:
                result.unchanged += 1
        else:
            result.unchanged += 1
    result.delete = sorted(key for key in target if key not in wanted)
    return result


def apply_plan(s3: Any, prefixes: Prefixes, todo: Plan) -> dict[str, int]:
    """Carry out a plan through the per-key reconciliation (so it rechecks each key's current state)."""
    counts = {"copied": 0, "deleted": 0, "skipped": 0, "absent": 0}
    for key in todo.copy:
        counts[reconcile_key(s3, prefixes, key)] += 1
    for target_key in todo.delete:
        source_key = prefixes.source_prefix + target_key[len(prefixes.target_prefix):]
        counts[reconcile_key(s3, prefixes, source_key)] += 1
    return counts


def compare(s3: Any, prefixes: Prefixes) -> dict[str, Any]:
    """Both prefixes by key, size and checksum (ETag, or the recorded source ETag)."""
    def inventory(bucket: str, prefix: str) -> dict[str, tuple[int, set[str]]]:
        out = {}
        for obj in _listing(s3, bucket, prefix):
            etags = {obj["ETag"]}
            if bucket == prefixes.target_bucket:
                recorded = (_head(s3, bucket, obj["Key"]) or {}).get("Metadata", {}).get(SOURCE_ETAG)
                etags |= {recorded} if recorded else set()
            out[obj["Key"][len(prefix):]] = (obj["Size"], etags)
        return out

    source = inventory(prefixes.source_bucket, prefixes.source_prefix)
    target = inventory(prefixes.target_bucket, prefixes.target_prefix)

    def same(key: str) -> bool:
        (size, etags), (other_size, other_etags) = source[key], target[key]
        return size == other_size and bool(etags & other_etags)

    missing = sorted(set(source) - set(target))
    extra = sorted(set(target) - set(source))
    different = sorted(k for k in set(source) & set(target) if not same(k))
    return {"equal": not (missing or extra or different), "source_objects": len(source),
            "target_objects": len(target), "missing": missing, "extra": extra, "different": different}


def unique(keys: Iterable[str]) -> list[str]:
    """Keys in first-seen order, once each (a batch often names a key twice)."""
    return list(dict.fromkeys(keys))
