"""Keeping one S3 prefix equal to another, per key (from events) or whole (reconciliation).

An event is only a hint: for the key it names, the current state in the source decides
(present: copy unless the target already holds the same object; absent: delete). So events
that arrive late, twice, out of order or without a ``sequencer`` all converge.

"The same object" is what a copy carries: the same content (the same size and ETag, or the
source's ETag recorded on the target copy, since a multipart copy has an ETag of its own),
the same content headers (``CARRIED_HEADERS``), the same user metadata and the same tags. A
change to any of them alone is copied. Large objects use the SDK's managed multipart copy.

What is absent is decided carefully: HEAD answers 404 with no body for a missing key and for
a missing bucket alike, so a 404 is confirmed by a listing (which names ``NoSuchBucket``), and
403 is always an error. A delete is conditional on the target ETag the decision saw, and the
source is looked at once more after it, so a delete racing a re-create cannot leave the target
behind the source.
"""

from __future__ import annotations

import json
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from tributary import events

SOURCE_ETAG = "tributary-source-etag"  # user metadata on target copies
COPY_CONFIG = TransferConfig(multipart_threshold=64 * 1024 * 1024, multipart_chunksize=64 * 1024 * 1024)
CARRIED_HEADERS = ("ContentType", "ContentEncoding", "ContentDisposition", "ContentLanguage", "CacheControl")
# Parallel look-ups and copies in a reconciliation: within botocore's default connection pool (10).
WORKERS = 8
# Error codes that mean "the object changed under us": look again.
_CHANGED = ("PreconditionFailed", "412", "NoSuchKey", "ConditionalRequestConflict", "409")
CONTINUE_FORMAT = "tributary.s3sync.continue/1"

Action = Literal["copied", "deleted", "skipped", "absent"]


@dataclass(frozen=True)
class Prefixes:
    """Where to sync from and to."""

    source_bucket: str
    target_bucket: str
    source_prefix: str = "code/"
    target_prefix: str = "code/"

    def target_key(self, source_key: str) -> str:
        return self.target_prefix + source_key[len(self.source_prefix) :]

    def source_key(self, target_key: str) -> str:
        return self.source_prefix + target_key[len(self.target_prefix) :]


class EventError(ValueError):
    """An event or message this sync cannot read: refused loudly, never taken as "nothing to do"."""


@dataclass(frozen=True)
class Continue:
    """A reconciliation to carry on after ``start_after`` (a key relative to the prefixes)."""

    start_after: str


# --- events ---------------------------------------------------------------------------------


def message_keys(message: Any, prefixes: Prefixes) -> list[str] | Continue:
    """Source keys (under the source prefix) named by one S3 event, in any shape the function can be
    wired to: an S3 event notification (direct, through SQS, or in an SNS envelope), S3's test
    event, an S3 event through EventBridge, or a reconciliation's continuation. Any other shape
    raises EventError. Every event about a key is a hint to look at it (created, removed,
    tagged, restored...): the key's current state decides what is done."""
    try:
        notification = events.sns_notification(message)  # through SNS, raw delivery off
        if notification is not None:
            message = parse(notification.message)
        if not isinstance(message, Mapping):
            raise EventError(f"not an S3 event: {str(message)[:200]}")
        if message.get("format") == CONTINUE_FORMAT:
            return Continue(str(message["start_after"]))
        if message.get("Event") == "s3:TestEvent":
            objects: list[events.S3ObjectEvent] = []
        elif isinstance(message.get("Records"), list) and message["Records"]:
            objects = events.s3_notification(message)
        elif message.get("source") == "aws.s3":
            objects = [events.s3_eventbridge(message)]
        else:
            raise EventError(
                f"not an S3 event notification, an EventBridge S3 event or a test event: "
                f"{json.dumps(message, default=str)[:200]}"
            )
    except events.EventShapeError as exc:
        raise EventError(str(exc)) from None
    return [o.key for o in objects if o.bucket == prefixes.source_bucket and o.key.startswith(prefixes.source_prefix)]


def parse(text: Any) -> Any:
    """A message body as JSON, or EventError."""
    try:
        return json.loads(text)
    except (TypeError, ValueError) as exc:
        raise EventError(f"not JSON: {exc}") from None


def continuation(start_after: str) -> str:
    """The message that carries a reconciliation on after ``start_after``."""
    return json.dumps({"format": CONTINUE_FORMAT, "start_after": start_after})


# --- one key --------------------------------------------------------------------------------


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _head(s3: Any, bucket: str, key: str) -> dict[str, Any] | None:
    """The object's HEAD, or None when the bucket exists and holds no such key.

    HEAD's 404 has no body, so it cannot say whether the key or the bucket is missing: the
    listing of that exact key tells (a missing bucket raises NoSuchBucket). 403 is an error,
    never absence (S3 answers 403 for a missing key when the caller may not list the bucket).
    """
    try:
        return s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if _code(exc) not in ("404", "NoSuchKey", "NotFound"):
            raise
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1).get("Contents", [])
    if listed and listed[0]["Key"] == key:
        raise ClientError(
            {"Error": {"Code": "NoSuchKey", "Message": "listed but not found: changed meanwhile"}}, "HeadObject"
        )
    return None


def _tags(s3: Any, bucket: str, key: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=bucket, Key=key).get("TagSet", [])}


def same_content(source: Mapping[str, Any], target: Mapping[str, Any]) -> bool:
    """Same size and the same ETag (directly, or as recorded when the copy was made)."""
    if source.get("ContentLength") != target.get("ContentLength"):
        return False
    recorded = target.get("Metadata", {}).get(SOURCE_ETAG)
    return source.get("ETag") in (target.get("ETag"), recorded)


def carried(head: Mapping[str, Any], tags: Mapping[str, str]) -> dict[str, Any]:
    """What a copy carries besides the content: content headers, user metadata, tags."""
    return {
        "headers": {name: head.get(name) for name in CARRIED_HEADERS if head.get(name)},
        "metadata": {k: v for k, v in head.get("Metadata", {}).items() if k != SOURCE_ETAG},
        "tags": dict(tags),
    }


def differences(
    source: Mapping[str, Any], source_tags: Mapping[str, str], target: Mapping[str, Any], target_tags: Mapping[str, str]
) -> list[str]:
    """What differs between a source object and its copy: ``content``, ``headers``, ``metadata``, ``tags``."""
    found = [] if same_content(source, target) else ["content"]
    ours, theirs = carried(source, source_tags), carried(target, target_tags)
    return found + [part for part in ("headers", "metadata", "tags") if ours[part] != theirs[part]]


def copy(s3: Any, prefixes: Prefixes, key: str, head: Mapping[str, Any], tags: Mapping[str, str] | None = None) -> None:
    """Managed (multipart when large) copy keeping content headers, metadata and tags."""
    tags = _tags(s3, prefixes.source_bucket, key) if tags is None else tags
    extra: dict[str, Any] = {
        # Copy the very version whose ETag is recorded; if the source changed meanwhile the copy
        # fails (412) and reconcile_key looks again.
        "CopySourceIfMatch": head["ETag"],
        "MetadataDirective": "REPLACE",
        "Metadata": {**head.get("Metadata", {}), SOURCE_ETAG: head["ETag"]},
        "TaggingDirective": "REPLACE",  # without Tagging: the copy has no tags, as the source
    }
    if tags:
        extra["Tagging"] = urllib.parse.urlencode(dict(tags))
    extra.update({name: head[name] for name in CARRIED_HEADERS if head.get(name)})
    source = {"Bucket": prefixes.source_bucket, "Key": key}
    if head.get("ContentLength", COPY_CONFIG.multipart_threshold) < COPY_CONFIG.multipart_threshold:
        # One CopyObject: the managed copy would HEAD the source again to learn its size.
        s3.copy_object(CopySource=source, Bucket=prefixes.target_bucket, Key=prefixes.target_key(key), **extra)
        return
    s3.copy(source, prefixes.target_bucket, prefixes.target_key(key), ExtraArgs=extra, Config=COPY_CONFIG)


def delete(s3: Any, prefixes: Prefixes, target_key: str, etag: str) -> None:
    """Delete the target copy only if it is still the one the decision saw (S3's conditional delete)."""
    s3.delete_object(Bucket=prefixes.target_bucket, Key=target_key, IfMatch=etag)


def reconcile_key(s3: Any, prefixes: Prefixes, key: str, attempts: int = 4) -> Action:
    """Make the target's copy of ``key`` match the source's current state."""
    for attempt in range(attempts):
        try:
            action = _reconcile_once(s3, prefixes, key)
            if action == "deleted" and _reconcile_once(s3, prefixes, key) == "copied":
                # Re-created while the delete was decided: the delete may have removed the new copy.
                return "copied"
            return action
        except ClientError as exc:
            if _code(exc) not in _CHANGED or attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


def _reconcile_once(s3: Any, prefixes: Prefixes, key: str) -> Action:
    source = _head(s3, prefixes.source_bucket, key)
    target_key = prefixes.target_key(key)
    target = _head(s3, prefixes.target_bucket, target_key)
    if source is None:
        if target is None:
            return "absent"
        delete(s3, prefixes, target_key, target["ETag"])
        return "deleted"
    source_tags = _tags(s3, prefixes.source_bucket, key)
    if (
        target is not None
        and same_content(source, target)
        and not differences(source, source_tags, target, _tags(s3, prefixes.target_bucket, target_key))
    ):
        return "skipped"
    copy(s3, prefixes, key, source, source_tags)
    return "copied"


# --- whole prefix ---------------------------------------------------------------------------


def _listing(s3: Any, bucket: str, prefix: str, start_after: str = "") -> Iterator[dict[str, Any]]:
    kwargs = {"Bucket": bucket, "Prefix": prefix}
    if start_after:
        kwargs["StartAfter"] = prefix + start_after
    for page in s3.get_paginator("list_objects_v2").paginate(**kwargs):
        yield from page.get("Contents", [])


@dataclass(frozen=True)
class Step:
    """One thing a reconciliation does to one key (relative to the prefixes), and why."""

    action: Literal["copy", "delete"]
    key: str
    why: str
    etag: str = ""  # copy: the source ETag decided on; delete: the target ETag decided on
    head: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)
    tags: Mapping[str, str] | None = field(default=None, compare=False, repr=False)


@dataclass
class SyncPlan:
    """What a full reconciliation does, with ``aws s3 sync --delete`` semantics, decided exactly."""

    steps: list[Step] = field(default_factory=list)
    unchanged: int = 0
    failed: list[dict[str, str]] = field(default_factory=list)
    last_key: str = ""  # the last relative key looked at
    complete: bool = True  # False: stopped early (deadline); carry on after last_key

    @property
    def copy(self) -> list[str]:
        return [s.key for s in self.steps if s.action == "copy"]

    @property
    def delete(self) -> list[str]:
        return [s.key for s in self.steps if s.action == "delete"]


def _pairs(s3: Any, prefixes: Prefixes, start_after: str) -> Iterator[tuple[str, dict | None, dict | None]]:
    """(relative key, source listing entry, target listing entry), in key order, merging both listings."""
    source = _listing(s3, prefixes.source_bucket, prefixes.source_prefix, start_after)
    target = _listing(s3, prefixes.target_bucket, prefixes.target_prefix, start_after)

    def relative(entry: dict | None, prefix: str) -> str | None:
        return None if entry is None else entry["Key"][len(prefix) :]

    s, t = next(source, None), next(target, None)
    while s is not None or t is not None:
        sk, tk = relative(s, prefixes.source_prefix), relative(t, prefixes.target_prefix)
        # Listings come in UTF-8 byte order; compare the same way.
        if sk is not None and (tk is None or sk.encode() < tk.encode()):
            yield sk, s, None
            s = next(source, None)
        elif tk is not None and (sk is None or tk.encode() < sk.encode()):
            yield tk, None, t
            t = next(target, None)
        elif sk is not None:  # the same key on both sides
            yield sk, s, t
            s, t = next(source, None), next(target, None)


def _decide(s3: Any, prefixes: Prefixes, rel: str, source: dict | None, target: dict | None) -> Step | None:
    """What to do for one key, from the listings where they suffice, else from HEAD and tags."""
    if source is None:
        if target is None:
            return None
        return Step("delete", prefixes.target_prefix + rel, "not in the source", etag=target["ETag"])
    key = prefixes.source_prefix + rel
    if target is None:
        return Step("copy", key, "missing")
    head = _head(s3, prefixes.source_bucket, key)
    if head is None:
        return None  # deleted since the listing; its event deletes the copy
    tags = _tags(s3, prefixes.source_bucket, key)
    if source["Size"] != target["Size"]:
        return Step("copy", key, "content", etag=head["ETag"], head=head, tags=tags)
    target_head = _head(s3, prefixes.target_bucket, prefixes.target_key(key))
    if target_head is None:
        return Step("copy", key, "missing", etag=head["ETag"], head=head, tags=tags)
    what = differences(head, tags, target_head, _tags(s3, prefixes.target_bucket, prefixes.target_key(key)))
    return Step("copy", key, ",".join(what), etag=head["ETag"], head=head, tags=tags) if what else None


def _failure(key: str, exc: Exception) -> dict[str, str]:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return {"key": key, "reason": str(error.get("Code", "error")), "detail": str(error.get("Message", ""))[:300]}
    return {"key": key, "reason": type(exc).__name__, "detail": str(exc)[:300]}


def plan(
    s3: Any,
    prefixes: Prefixes,
    start_after: str = "",
    chunk: int = 500,
    deadline: Callable[[], bool] | None = None,
    on_chunk: Callable[[SyncPlan, list[Step]], None] | None = None,
) -> SyncPlan:
    """Decide what makes the target prefix equal to the source prefix, key by key in order.

    Like ``aws s3 sync --delete``: copy what is missing or different, delete what the source
    lacks; unlike it, "different" is decided exactly (content, headers, metadata, tags), never
    by timestamps. Keys are looked at ``chunk`` at a time, in parallel; ``on_chunk`` sees each
    chunk's steps (to carry them out), and when ``deadline()`` turns true the plan stops after a
    chunk with ``complete`` False. A key whose look fails is listed in ``failed`` and skipped.
    """
    result = SyncPlan()
    pairs = _pairs(s3, prefixes, start_after)
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        while True:
            batch = [pair for _, pair in zip(range(chunk), pairs, strict=False)]
            if not batch:
                return result

            def look(pair: tuple[str, dict | None, dict | None]) -> Step | dict[str, str] | None:
                try:
                    return _decide(s3, prefixes, *pair)
                except Exception as exc:  # one key must not stop the others: it is reported
                    return _failure(prefixes.source_prefix + pair[0], exc)

            steps = []
            for outcome in pool.map(look, batch):
                if isinstance(outcome, Step):
                    steps.append(outcome)
                elif isinstance(outcome, dict):
                    result.failed.append(outcome)
                else:
                    result.unchanged += 1
            result.steps += steps
            result.last_key = batch[-1][0]
            if on_chunk is not None:
                on_chunk(result, steps)
            if deadline is not None and deadline():
                result.complete = next(pairs, None) is None
                return result


def _carry_out(s3: Any, prefixes: Prefixes, step: Step) -> Action:
    try:
        if step.action == "delete":
            delete(s3, prefixes, step.key, step.etag)
            source_key = prefixes.source_key(step.key)
            # Re-created while the delete was decided: make sure its copy is there.
            return "copied" if reconcile_key(s3, prefixes, source_key) == "copied" else "deleted"
        head = step.head or _head(s3, prefixes.source_bucket, step.key)
        if head is None:
            return reconcile_key(s3, prefixes, step.key)
        copy(s3, prefixes, step.key, head, step.tags)
        return "copied"
    except ClientError as exc:
        if _code(exc) not in _CHANGED:
            raise
    # The object changed since the decision: decide again from its current state.
    return reconcile_key(s3, prefixes, step.key if step.action == "copy" else prefixes.source_key(step.key))


@dataclass
class Outcome:
    """What a reconciliation did, and each key it could not handle with the reason."""

    counts: Counter[str] = field(default_factory=Counter)
    failed: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            **{k: self.counts[k] for k in ("copied", "deleted", "skipped", "absent", "unchanged")},
            "failed": len(self.failed),
            "failures": self.failed[:50],
        }


def apply_steps(s3: Any, prefixes: Prefixes, steps: Iterable[Step], outcome: Outcome) -> None:
    """Carry out steps in parallel, copies before deletes; a failed key is recorded and the rest go on."""
    ordered = sorted(steps, key=lambda s: s.action != "copy")

    def run(step: Step) -> tuple[Step, Action | Exception]:
        try:
            return step, _carry_out(s3, prefixes, step)
        except Exception as exc:  # one key must not stop the others: it is reported
            return step, exc

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        for step, result in pool.map(run, ordered):
            if isinstance(result, Exception):
                outcome.failed.append(_failure(step.key, result))
            else:
                outcome.counts[result] += 1


def reconcile(
    s3: Any, prefixes: Prefixes, start_after: str = "", deadline: Callable[[], bool] | None = None
) -> tuple[Outcome, SyncPlan]:
    """Plan and carry out, chunk by chunk (so a deadline stops between chunks with all done so far)."""
    outcome = Outcome()

    def carry(_: SyncPlan, steps: list[Step]) -> None:
        apply_steps(s3, prefixes, steps, outcome)

    todo = plan(s3, prefixes, start_after, deadline=deadline, on_chunk=carry)
    outcome.counts["unchanged"] += todo.unchanged
    outcome.failed = todo.failed + outcome.failed
    return outcome, todo


def compare(s3: Any, prefixes: Prefixes) -> dict[str, Any]:
    """Both prefixes by key and by what a copy carries (content, headers, metadata, tags)."""
    missing: list[str] = []
    extra: list[str] = []
    different: list[str] = []
    counts: Counter[str] = Counter()

    def check(pair: tuple[str, dict | None, dict | None]) -> tuple[str, str]:
        rel, source, target = pair
        if target is None:
            return rel, "missing"
        if source is None:
            return rel, "extra"
        key = prefixes.source_prefix + rel
        head, target_head = (
            s3.head_object(Bucket=prefixes.source_bucket, Key=key),
            s3.head_object(Bucket=prefixes.target_bucket, Key=prefixes.target_key(key)),
        )
        what = differences(
            head,
            _tags(s3, prefixes.source_bucket, key),
            target_head,
            _tags(s3, prefixes.target_bucket, prefixes.target_key(key)),
        )
        return rel, "different" if what else "same"

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        for rel, verdict in pool.map(check, _pairs(s3, prefixes, "")):
            counts[verdict] += 1
            {"missing": missing, "extra": extra, "different": different}.get(verdict, []).append(rel)
    return {
        "equal": not (missing or extra or different),
        "source_objects": counts["missing"] + counts["different"] + counts["same"],
        "target_objects": counts["extra"] + counts["different"] + counts["same"],
        "missing": sorted(missing),
        "extra": sorted(extra),
        "different": sorted(different),
    }


def unique(keys: Iterable[str]) -> list[str]:
    """Keys in first-seen order, once each (a batch often names a key twice)."""
    return list(dict.fromkeys(keys))


def time_left(remaining_ms: Callable[[], int], reserve_s: float = 60.0) -> Callable[[], bool]:
    """A deadline for ``plan``: true once fewer than ``reserve_s`` seconds remain."""
    return lambda: remaining_ms() < reserve_s * 1000
