"""The real handler against a fresh lake under moto: faults on the way in, the spec's checks on the way out.

``run`` drains one generated shard through the event source mapping model (mapping.py) into
a new bucket, then reads back everything the function wrote (list, get, gunzip) and returns
what differs from the specification (spec.py), one sentence per problem.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import io
import itertools
import json
import os
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError

from stack.events import StreamRecord, kinesis_event, kinesis_stream_arn
from stream_processor import handler
from tests.fuzz import mapping, spec
from tests.fuzz.strategies import SHARD_ID, Delivery, Put, Shard
from tributary import aws

REGION = "eu-west-1"
STREAM_ARN = kinesis_stream_arn("events", REGION)
FUNCTION = json.loads((Path(__file__).parents[2] / "functions/stream_processor/function.json").read_text())
_buckets = itertools.count()


class FunctionTimeout(BaseException):
    """The function dies in the middle of an invocation (a timeout): nothing after that point runs."""


class S3Faults:
    """Fails the processor's S3 PutObject calls at chosen (1-based) call numbers."""

    def __init__(self, failing: frozenset[int] = frozenset(), crashing: frozenset[int] = frozenset()) -> None:
        self.failing, self.crashing = failing, crashing
        self.calls = 0
        self.injected = 0

    def before_put(self, **_: Any) -> None:
        self.calls += 1
        if self.calls in self.crashing:
            self.injected += 1
            raise FunctionTimeout(f"the function timed out during PutObject call {self.calls}")
        if self.calls in self.failing:
            self.injected += 1
            raise ClientError(
                {"Error": {"Code": "SlowDown", "Message": "Please reduce your request rate."}}, "PutObject"
            )

    @contextlib.contextmanager
    def installed(self) -> Iterator[S3Faults]:
        events = aws.client("s3").meta.events
        events.register("before-call.s3.PutObject", self.before_put)
        try:
            yield self
        finally:
            events.unregister("before-call.s3.PutObject", self.before_put)


@dataclass
class Found:
    """One NDJSON line read back from the bucket, and the object that holds it."""

    key: str
    line: dict[str, Any]

    @property
    def position(self) -> tuple[str, int | None]:
        return self.line.get("sequence_number"), self.line.get("subsequence")


@contextlib.contextmanager
def fresh_lake(**env: str) -> Iterator[str]:
    """A new bucket and the function's environment (function.json's, with ``env`` on top), as a cold start."""
    bucket = f"lake-{next(_buckets)}"
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    settings = {**FUNCTION["environment"], "LAKE_BUCKET": bucket, **env}
    saved = {name: os.environ.get(name) for name in settings}
    os.environ.update(settings)
    handler.reset()
    try:
        yield bucket
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        handler.reset()
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                s3.delete_objects(Bucket=bucket, Delete={"Objects": keys})
        s3.delete_bucket(Bucket=bucket)


def read_lake(bucket: str) -> list[Found]:
    """Every line of every object outside the dedupe state, read back as any lake reader would."""
    s3 = boto3.client("s3", region_name=REGION)
    found = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            if item["Key"].startswith(FUNCTION["environment"]["STATE_PREFIX"] + "/"):
                continue
            body = gzip.decompress(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())
            found.extend(Found(item["Key"], json.loads(line)) for line in body.splitlines())
    return found


def event(shard: Shard, start: int, end: int) -> dict[str, Any]:
    """The Kinesis event of records ``start`` to ``end - 1``, in the shape Lambda sends."""
    puts = shard.puts[start:end]
    built = kinesis_event(
        [StreamRecord(b"", p.partition_key, p.sequence_number, p.arrival) for p in puts], SHARD_ID, STREAM_ARN, REGION
    )
    for record, put in zip(built["Records"], puts, strict=True):
        record["kinesis"]["data"] = put.data  # as generated, base64 or not
    return built


@dataclass
class Run:
    """What happened while a shard drained, and what is wrong with it."""

    drained: mapping.Drained | None = None
    found: list[Found] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def report(self) -> str:
        steps = self.drained.steps if self.drained else []
        shown = "\n  ".join(self.problems[:12])
        more = f"\n  ... and {len(self.problems) - 12} more" if len(self.problems) > 12 else ""
        return f"{len(self.problems)} problem(s):\n  {shown}{more}\ninvocations: {steps}"


def invoke(shard: Shard, faults: S3Faults, run: Run, start: int, end: int) -> mapping.Invocation:
    """One invocation of the real handler, checked against the function's contract."""
    before = faults.injected
    stdout = io.StringIO()
    sequences = [p.sequence_number for p in shard.puts[start:end]]
    try:
        with contextlib.redirect_stdout(stdout):
            response = handler.handle(event(shard, start, end), None)
    except FunctionTimeout:
        handler.reset()  # Lambda starts a new execution environment after a timeout
        return mapping.Invocation(function_error=True)
    except Exception as exc:
        if faults.injected == before:
            raise AssertionError(
                f"the handler raised on records {start}..{end - 1} with no S3 fault injected: {exc!r}"
            ) from exc
        return mapping.Invocation(function_error=True)
    failed = faults.injected > before
    if not (
        isinstance(response, dict)
        and set(response) == {"batchItemFailures"}
        and isinstance(response["batchItemFailures"], list)
        and len(response["batchItemFailures"]) <= 1
    ):
        run.problems.append(f"records {start}..{end - 1}: response {response!r} is not the documented shape")
    kind, index = mapping.interpret(response, sequences)
    if kind == "failure":
        run.problems.append(f"records {start}..{end - 1}: Lambda cannot read the response {response!r}")
    if kind != "success" and not failed:
        run.problems.append(f"records {start}..{end - 1}: failure {response!r} reported with no S3 fault injected")
    logs = [json.loads(line) for line in stdout.getvalue().splitlines() if line.startswith("{")]
    batches = [entry for entry in logs if entry.get("message") == "batch"]
    run.problems.extend(check_accounting(shard, start, end, kind, index, batches))
    return mapping.Invocation(response)


def check_accounting(shard: Shard, start: int, end: int, kind: str, index: int, batches: list[dict]) -> list[str]:
    """The batch log line: one per invocation, every user record counted once."""
    where = f"records {start}..{end - 1}"
    if len(batches) != 1:
        return [f"{where}: {len(batches)} 'batch' log lines, expected one"]
    counts = {k: batches[0].get(k) for k in ("received", "written", "quarantined", "filtered", "duplicates", "retried")}
    problems = []
    if counts["received"] != shard.user_count(start, end):
        problems.append(f"{where}: received {counts['received']}, the batch holds {shard.user_count(start, end)}")
    if not all(isinstance(v, int) for v in counts.values()):
        return [*problems, f"{where}: counts {counts} are not all integers"]
    rest = sum(v for k, v in counts.items() if k != "received")
    if counts["received"] != rest:
        problems.append(f"{where}: received != written + quarantined + filtered + duplicates + retried: {counts}")
    if counts["filtered"]:
        problems.append(f"{where}: the default transform filters nothing, filtered={counts['filtered']}")
    if kind == "success":
        if counts["retried"]:
            problems.append(f"{where}: a successful batch counts retried={counts['retried']}")
        verdicts = [u.verdict.kind for users in shard.users[start:end] for u in users]
        if counts["quarantined"] < verdicts.count("bad"):
            problems.append(f"{where}: quarantined {counts['quarantined']} of {verdicts.count('bad')} bad records")
        if counts["written"] + counts["duplicates"] < verdicts.count("good"):
            problems.append(
                f"{where}: written + duplicates is {counts['written'] + counts['duplicates']}"
                f" for {verdicts.count('good')} good records"
            )
    elif kind == "partial":
        after = shard.user_count(start + index, end)
        if counts["retried"] != after:
            problems.append(
                f"{where}: retried={counts['retried']}, but {after} user records are at or after the checkpoint"
            )
    return problems


NO_FAULTS = Delivery()


def run(shard: Shard, delivery: Delivery = NO_FAULTS, **env: str) -> Run:
    """Drain ``shard`` through the event source mapping into a new lake; return what the spec finds wrong."""
    result = Run()
    env.setdefault("MAX_RECORD_BYTES", str(shard.max_record_bytes))
    with fresh_lake(**env) as bucket, S3Faults(delivery.failing_puts, delivery.crashing_puts).installed() as faults:
        result.drained = mapping.drain(
            [p.sequence_number for p in shard.puts],
            lambda start, end: invoke(shard, faults, result, start, end),
            delivery.batch_sizes,
            delivery.bisect,
            delivery.lost_responses,
        )
        result.found = read_lake(bucket)
    result.problems.extend(check_lake(shard, result.found))
    return result


def check_lake(shard: Shard, found: list[Found]) -> list[str]:
    """Every good record once in the lake (by id), every bad one once in the quarantine, exactly as specified."""
    problems: list[str] = []
    at: dict[tuple[str, int | None], list[Found]] = defaultdict(list)
    for item in found:
        at[item.position].append(item)
    expected: dict[tuple[str, int | None], tuple[spec.UserRecord, Put]] = {}
    first_of_id: dict[str, tuple[str, int | None]] = {}
    for put, users in zip(shard.puts, shard.users, strict=True):
        for user in users:
            position = (put.sequence_number, user.subsequence)
            expected[position] = (user, put)
            if user.verdict.kind == "good":
                first_of_id.setdefault(user.verdict.id, position)
    for position in at.keys() - expected.keys():
        problems.append(f"{position}: written, but the shard holds no such record: {at[position][0].line}")
    for position, (user, put) in expected.items():
        copies = at.get(position, [])
        name = f"record {position}"
        verdict = user.verdict
        if verdict.kind == "good" and first_of_id[verdict.id] != position:
            if copies:
                problems.append(
                    f"{name}: a producer resend of {first_of_id[verdict.id]} (id {verdict.id!r}),"
                    f" written again: {copies[0].key}"
                )
            continue
        if len(copies) != 1:
            where = [c.key for c in copies]
            problems.append(
                f"{name} ({verdict.kind}{sorted(verdict.reasons)}): found {len(copies)} times {where},"
                f" expected once; data {user.data[:120]!r}"
            )
            continue
        problems.extend(f"{name}: {p}" for p in check_line(copies[0], user, put))
    return problems


def check_line(item: Found, user: spec.UserRecord, put: Put) -> list[str]:
    """One line against what the specification says it must be."""
    line, verdict = item.line, user.verdict
    arrived = spec.ingest_time(put.arrival)
    in_lake = item.key.startswith("events/")
    if not in_lake and not item.key.startswith("quarantine/"):
        return [f"written under {item.key}, outside events/ and quarantine/"]
    if verdict.kind == "good" and not in_lake:
        return [f"a good record quarantined as {line.get('reason')!r} ({line.get('detail')!r}): {user.data[:160]!r}"]
    if verdict.kind == "bad" and in_lake:
        return [f"a bad record ({sorted(verdict.reasons)}) is in the lake as {line}: data {user.data[:160]!r}"]
    problems = []
    if line.get("ingest_time") != arrived:
        problems.append(f"ingest_time {line.get('ingest_time')!r}, but it arrived at {arrived}")
    if line.get("shard_id") != SHARD_ID:
        problems.append(f"shard_id {line.get('shard_id')!r}")
    if in_lake:
        if verdict.kind == "good":
            wanted = {
                **verdict.record,
                "ingest_time": arrived,
                "shard_id": SHARD_ID,
                "sequence_number": put.sequence_number,
            }
            if user.subsequence is not None:
                wanted["subsequence"] = user.subsequence
            if _canonical(line) != _canonical(wanted):
                problems.append(f"the lake line is {line}, expected {wanted}")
        time = line.get("time")
        if not isinstance(time, str) or not item.key.startswith(spec.partition("events", time)):
            problems.append(f"time {time!r} is in the lake under {item.key}")
        return problems
    reason = line.get("reason")
    if verdict.kind == "bad" and reason not in verdict.reasons:
        problems.append(
            f"quarantined as {reason!r} ({line.get('detail')!r}), expected one of"
            f" {sorted(verdict.reasons)}: data {user.data[:160]!r}"
        )
    if verdict.kind == "either" and (not isinstance(reason, str) or not reason or reason.startswith("transform_")):
        problems.append(f"quarantined as {reason!r} ({line.get('detail')!r})")
    if line.get("raw_base64") != base64.b64encode(user.data).decode("ascii"):
        problems.append(f"raw_base64 {str(line.get('raw_base64'))[:80]!r} is not the record's bytes {user.data[:80]!r}")
    if not item.key.startswith(spec.partition("quarantine", arrived)):
        problems.append(f"quarantined under {item.key}, but it arrived at {arrived}")
    return problems


def _canonical(value: Mapping[str, Any]) -> str:
    return json.dumps(value, sort_keys=True)
