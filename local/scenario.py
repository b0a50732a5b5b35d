"""The scenario behind `make local`: produce through the real ingest paths, drain, audit.

Three paths feed the events stream: the producer CLI (plain records), the producer CLI
with KPL aggregation, and the HTTP ingest function. The audit reads the whole lake and
the quarantine back and compares them with what was sent: every valid record exactly
once in the lake, every malformed one exactly once in the quarantine.
"""

from __future__ import annotations

import gzip
import json
import random
import re
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from botocore.config import Config

from local.codecommit import git_environment, scratch_home
from local.runtime import LocalStack
from stack.events import http_api_event
from tributary import ddb, replica, s3sync
from tributary_cli import synthetic, tables

# The scenario acts as an operator using the AWS CLI would: its own calls (the workload, the drift
# it makes by hand, the audits) retry throttling the way the CLI's standard mode does, so an
# injected fault strikes the system under test, never the observer.
OPERATOR = Config(retries={"mode": "standard", "max_attempts": 10})

HTTP_BATCH = 100


@dataclass
class IngestPath:
    """One ingest path's bookkeeping."""

    name: str
    id_prefix: str
    count: int
    seed: int
    sent_ids: set[str] = field(default_factory=set)
    malformed: int = 0
    rejected_at_api: int = 0
    not_sent: int = 0
    producer_retries: int = 0
    finished: bool = False
    error: str = ""


@dataclass
class Options:
    records: int = 20_000
    malformed: float = 0.05
    http_share: float = 0.1
    seed: int = 0
    environment: str = "local"
    timeout_cap_s: float | None = None
    visibility_cap_s: int | None = None
    progress: bool = True
    drain_timeout_s: float = 900.0
    table_changes: int = 2000
    code_files: int = 60


def _split(options: Options) -> list[IngestPath]:
    http = int(options.records * options.http_share)
    aggregated = (options.records - http) // 2
    plain = options.records - http - aggregated
    return [
        IngestPath("producer CLI", "cli-", plain, options.seed + 1),
        IngestPath("producer CLI, KPL aggregated", "kpl-", aggregated, options.seed + 2),
        IngestPath("HTTP ingest", "http-", http, options.seed + 3),
    ]


def _expected(path: IngestPath, options: Options) -> tuple[set[str], int]:
    """The ids of the valid records a path generates, and how many are malformed."""
    valid, malformed = set(), 0
    for record in synthetic.generate(path.count, seed=path.seed, malformed=options.malformed, id_prefix=path.id_prefix):
        if record.malformed:
            malformed += 1
        else:
            valid.add(json.loads(record.data)["id"])
    return valid, malformed


def produce_cli(stack: LocalStack, path: IngestPath, options: Options, aggregate: bool) -> None:
    """Run the real producer CLI, from the built layer, against the embedded AWS."""
    layer = stack.workdir / "opt" / "python"
    command = [
        sys.executable,
        "-S",
        "-m",
        "tributary_cli.produce",
        "--stream",
        stack.topology.resource("events_stream").name,
        "--synthetic",
        "--count",
        str(path.count),
        "--malformed",
        str(options.malformed),
        "--seed",
        str(path.seed),
        "--id-prefix",
        path.id_prefix,
    ]
    if aggregate:
        command.append("--aggregate")
    env = {**stack.aws_env, "PYTHONPATH": str(layer), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    try:
        report = json.loads(result.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        path.error = f"producer CLI failed ({result.returncode}): {result.stderr.strip()[-500:]}"
        path.finished = True
        return
    valid, malformed = _expected(path, options)
    path.not_sent = report["failed"]
    path.producer_retries = report["retried"]
    path.malformed = malformed
    path.sent_ids = valid if not report["failed"] else set()
    if report["failed"]:
        path.error = f"{report['failed']} records not sent: {report['failure_reasons']}"
    path.finished = True


def produce_http(stack: LocalStack, path: IngestPath, options: Options) -> None:
    """POST the records in NDJSON requests through the ingest function, resending what failed."""
    records = list(
        synthetic.generate(path.count, seed=path.seed, malformed=options.malformed, id_prefix=path.id_prefix)
    )
    for start in range(0, len(records), HTTP_BATCH):
        pending = [r.data.decode() for r in records[start : start + HTTP_BATCH]]
        for _attempt in range(5):
            if not pending:
                break
            event = http_api_event(
                "POST /v1/records", "\n".join(pending) + "\n", {"content-type": "application/x-ndjson"}
            )
            invocation = stack.invoke("ingest_api", event)
            if not invocation.ok or (
                invocation.payload.get("statusCode", 500) >= 500
                and "results" not in json.loads(invocation.payload.get("body", "{}"))
            ):
                continue  # the request failed as a whole: send it again
            body = json.loads(invocation.payload["body"])
            retry = []
            for result, line in zip(body.get("results", []), pending, strict=False):
                if result["status"] == "accepted":
                    path.sent_ids.add(result["id"])
                elif result["status"] == "rejected":
                    path.rejected_at_api += 1
                else:
                    retry.append(line)
            pending = retry
        path.not_sent += len(pending)
    path.finished = True


def _random_item(rng: random.Random, pk: str, sk: str, size: int = 0) -> dict[str, Any]:
    """An item using every DynamoDB type (and, when asked, about ``size`` bytes of text)."""
    item: dict[str, Any] = {
        "pk": pk,
        "sk": sk,
        "text": "".join(rng.choice("abcdefghij ") for _ in range(rng.randint(0, 40))) + "é",
        "count": Decimal(rng.randint(-(10**6), 10**6)),
        "price": Decimal(f"{rng.randint(0, 10**6)}.{rng.randint(0, 99):02d}"),
        "precise": Decimal("3.14159265358979323846264338327950288"),
        "blob": rng.randbytes(rng.randint(1, 32)),
        "flag": rng.random() < 0.5,
        "nothing": None,
        "nested": {
            "list": [Decimal(rng.randint(0, 9)), "two", {"deep": rng.randbytes(3)}],
            "map": {"a": Decimal(1), "b": [True, None]},
        },
        "tags": {rng.choice(["red", "green", "blue", "amber"]) for _ in range(3)},
        "scores": {Decimal(rng.randint(0, 100)) for _ in range(3)},
        "keys": {rng.randbytes(4) for _ in range(2)},
    }
    if size:
        item["payload"] = "x" * size
    return item


def table_workload(stack: LocalStack, options: Options, counts: dict[str, int]) -> None:
    """Inserts, updates (hot keys many times), deletes and delete-then-reinsert on table1."""
    client = stack.session.client("dynamodb", config=OPERATOR)
    table = stack.topology.resource("table1").name
    rng = random.Random(options.seed + 17)
    hot = [f"hot-{i}" for i in range(5)]
    keys = [f"item-{i:05d}" for i in range(max(10, options.table_changes // 4))]
    live: set[tuple[str, str]] = set()
    for index in range(options.table_changes):
        draw = rng.random()
        pk, sk = (rng.choice(hot), "h") if draw < 0.3 else (rng.choice(keys), rng.choice(["a", "b"]))
        key = {"pk": {"S": pk}, "sk": {"S": sk}}
        if (pk, sk) in live and rng.random() < 0.25:
            client.delete_item(TableName=table, Key=key)
            live.discard((pk, sk))
            counts["deletes"] += 1
            if rng.random() < 0.5:  # delete, then the same key again
                client.put_item(TableName=table, Item=ddb.to_item(_random_item(rng, pk, sk)))
                live.add((pk, sk))
                counts["reinserts"] += 1
            continue
        size = 300_000 if index == 7 else 0  # one item near DynamoDB's 400 KB limit
        counts["updates" if (pk, sk) in live else "inserts"] += 1
        client.put_item(TableName=table, Item=ddb.to_item(_random_item(rng, pk, sk, size)))
        live.add((pk, sk))
    counts["live_items"] = len(live)


def _code_prefixes(stack: LocalStack) -> s3sync.Prefixes:
    env = stack.topology.function_environment("code_sync")
    return s3sync.Prefixes(env["SOURCE_BUCKET"], env["TARGET_BUCKET"], env["SOURCE_PREFIX"], env["TARGET_PREFIX"])


def code_workload(stack: LocalStack, options: Options, counts: dict[str, int]) -> None:
    """Uploads, overwrites and deletes under bucket1/code/ (keys with spaces and non-ASCII too)."""
    s3 = stack.session.client("s3", config=OPERATOR)
    prefixes = _code_prefixes(stack)
    rng = random.Random(options.seed + 23)
    keys = [
        f"{prefixes.source_prefix}{d}/file {i:03d}{'-ü' if i % 7 == 0 else ''}.py"
        for i in range(options.code_files)
        for d in [rng.choice(["src", "lib/util", "docs"])]
    ]
    for key in keys:
        s3.put_object(
            Bucket=prefixes.source_bucket,
            Key=key,
            Body=rng.randbytes(rng.randint(10, 4000)),
            ContentType="text/x-python",
            Metadata={"author": "local"},
            Tagging="origin=local",
        )
        counts["uploads"] += 1
    for key in rng.sample(keys, len(keys) // 4):
        s3.put_object(Bucket=prefixes.source_bucket, Key=key, Body=b"# rewritten\n" + rng.randbytes(50))
        counts["overwrites"] += 1
    for key in rng.sample(keys, len(keys) // 5):
        s3.delete_object(Bucket=prefixes.source_bucket, Key=key)
        counts["deletes"] += 1


def git_workload(stack: LocalStack, options: Options, counts: dict[str, int]) -> None:
    """A developer pushing to repo1 at its CodeCommit URL: commits, a new branch, a tag, a branch
    created and deleted, and a force-push. Each ref change is an event the push rule matches."""
    repo1 = stack.topology.resource(stack.topology.resource("git_mirror").settings["source_repository"])
    home = scratch_home(stack.workdir)
    stack.codecommit.configure_git(home)
    env = {
        **git_environment(home),
        "GIT_AUTHOR_NAME": "Developer",
        "GIT_AUTHOR_EMAIL": "dev@example.com",
        "GIT_COMMITTER_NAME": "Developer",
        "GIT_COMMITTER_EMAIL": "dev@example.com",
    }
    work = home / "repo1"

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=work if work.exists() else home, env=env, check=True, capture_output=True)

    def commit(message: str) -> None:
        (work / "CHANGES.txt").open("a").write(message + "\n")
        git("add", "CHANGES.txt")
        git("commit", "--quiet", "-m", message)
        counts["commits"] += 1

    def push(*args: str) -> None:
        git("push", "--quiet", "origin", *args)
        counts["pushes"] += 1

    git("clone", "--quiet", stack.topology.urls[repo1.logical], str(work))
    git("checkout", "--quiet", "-b", "main")
    commit("first")
    push("main")
    git("checkout", "--quiet", "-b", "feature/ingest")
    commit("feature: one")
    commit("feature: two")
    push("feature/ingest")
    git("checkout", "--quiet", "main")
    git("tag", "-a", "v1.0", "-m", "release 1.0")
    push("v1.0")
    counts["tags"] += 1
    git("checkout", "--quiet", "-b", "scratch")
    commit("scratch work")
    push("scratch")
    push("--delete", "scratch")
    counts["branch_deletions"] += 1
    git("checkout", "--quiet", "main")
    commit("second")
    push("main")
    git("checkout", "--quiet", "feature/ingest")
    git("reset", "--quiet", "--hard", "HEAD~1")
    commit("feature: two, rewritten")
    push("--force", "feature/ingest")
    counts["force_pushes"] += 1


def _wait_until(condition: Any, timeout_s: float = 120.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _changed_refs(log: str) -> int | None:
    match = re.search(r"mirror done: (\d+) ref\(s\) changed", log)
    return int(match.group(1)) if match else None


def git_audit(stack: LocalStack) -> dict[str, Any]:
    """repo1 against repo2 by refs after the push events' builds, then a run of the nightly
    schedule, which must find nothing to push."""
    settings = stack.topology.resource("git_mirror").settings
    repo1 = stack.topology.resource(settings["source_repository"]).name
    repo2 = stack.topology.resource(settings["target_repository"]).name
    _wait_until(lambda: stack.bus.idle() and stack.codebuild.idle() and not stack.codecommit.pending())
    refs1, refs2 = stack.codecommit.refs(repo1), stack.codecommit.refs(repo2)
    builds = list(stack.codebuild.builds)
    stack.fire_schedule("git_mirror_nightly")
    _wait_until(stack.codebuild.idle)
    nightly = stack.codebuild.builds[-1]
    return {
        "repo1_refs": sorted(refs1),
        "refs_equal": refs1 == refs2,
        "different_refs": sorted(k for k in refs1.keys() | refs2.keys() if refs1.get(k) != refs2.get(k)),
        "push_events": stack.bus.stats["matched"],
        "builds": dict(Counter(b.status for b in builds)),
        "refs_pushed": sum(_changed_refs(b.log) or 0 for b in builds),
        "nightly": {"status": nightly.status, "refs_pushed": _changed_refs(nightly.log)},
        "match": bool(
            refs1
            and refs1 == refs2
            and nightly.status == "SUCCEEDED"
            and _changed_refs(nightly.log) == 0
            and all(b.status == "SUCCEEDED" for b in builds)
        ),
    }


def code_audit(stack: LocalStack) -> dict[str, Any]:
    """bucket1/code against bucket2/code after the events, then after a reconciliation pass
    (with a drift made by hand in between, which only the reconciliation can see)."""
    s3 = stack.session.client("s3", config=OPERATOR)
    prefixes = _code_prefixes(stack)
    after_events = s3sync.compare(s3, prefixes)
    # Drift no event announces: an object written straight into bucket2 and one removed from it.
    s3.put_object(Bucket=prefixes.target_bucket, Key=f"{prefixes.target_prefix}stray.txt", Body=b"stray")
    listing = s3.list_objects_v2(Bucket=prefixes.target_bucket, Prefix=prefixes.target_prefix).get("Contents", [])
    if listing:
        s3.delete_object(Bucket=prefixes.target_bucket, Key=listing[0]["Key"])
    drifted = s3sync.compare(s3, prefixes)
    # The nightly rule's event, delivered as EventBridge does: asynchronously, with Lambda's retries.
    stack.fire_schedule("code_sync_reconcile")
    _wait_until(stack.bus.idle, timeout_s=900)
    invocation = stack.bus.deliveries[-1]["result"]
    after_reconcile = s3sync.compare(s3, prefixes)
    return {
        "after_events": {k: (v[:10] if isinstance(v, list) else v) for k, v in after_events.items()},
        "drift_made": {"missing": len(drifted["missing"]), "extra": len(drifted["extra"])},
        "reconciled": invocation.payload.get("reconciled") if invocation.ok else invocation.error,
        "after_reconcile": {
            k: v for k, v in after_reconcile.items() if k in ("equal", "source_objects", "target_objects")
        },
        "match": bool(after_events["equal"] and after_reconcile["equal"]),
    }


def table_audit(stack: LocalStack) -> dict[str, Any]:
    """table2 against table1, by key and canonical hash."""
    client = stack.session.client("dynamodb", config=OPERATOR)
    source = stack.topology.resource("table1").name
    target = stack.topology.resource("table2").name
    drift, _, target_items = tables.verify(client, source, target, segments=4)
    sqs = stack.session.client("sqs", config=OPERATOR)

    def depth(url: str) -> int:
        return int(
            sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"][
                "ApproximateNumberOfMessages"
            ]
        )

    report = drift.as_dict(limit=5)
    report["tombstones"] = sum(1 for item in target_items.values() if replica.DELETED in item)
    report["on_failure_messages"] = depth(stack.topology.urls["table_failures_queue"])
    report["changes_dlq_messages"] = (
        depth(stack.topology.urls["changes_queue:dlq"]) if "changes_queue:dlq" in stack.topology.urls else 0
    )
    return report


def _read_prefix(s3: Any, bucket: str, prefix: str) -> list[tuple[dict[str, Any], float]]:
    lines = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/"):
        for item in page.get("Contents", []):
            landed = item["LastModified"].timestamp()
            body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            lines.extend((json.loads(line), landed) for line in gzip.decompress(body).splitlines())
    return lines


def _epoch(rfc3339: str) -> float:
    return datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp()


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)

    return {"p50": round(statistics.median(ordered), 3), "p90": at(0.90), "p99": at(0.99), "max": ordered[-1]}


def audit(stack: LocalStack, paths: list[IngestPath]) -> dict[str, Any]:
    """Read the lake and the quarantine back; compare with what each path sent."""
    s3 = stack.session.client("s3", config=OPERATOR)
    bucket = stack.topology.resource("lake_bucket").name
    env = stack.topology.function_environment("stream_processor")
    lake = _read_prefix(s3, bucket, env["LAKE_PREFIX"])
    quarantine = _read_prefix(s3, bucket, env["QUARANTINE_PREFIX"])
    seen = Counter(record["id"] for record, _ in lake)
    q_seen = Counter((q["shard_id"], q["sequence_number"], q["subsequence"]) for q, _ in quarantine)
    q_reasons = Counter(q["reason"] for q, _ in quarantine)
    out = []
    for path in paths:
        ids = {i for i in seen if i.startswith(path.id_prefix)}
        lost = path.sent_ids - ids
        unexpected = ids - path.sent_ids
        duplicated = sum(seen[i] - 1 for i in ids if seen[i] > 1)
        if path.id_prefix == "kpl-":
            quarantined = sum(1 for q, _ in quarantine if q["subsequence"] is not None)
        elif path.id_prefix == "cli-":
            quarantined = sum(1 for q, _ in quarantine if q["subsequence"] is None)
        else:
            quarantined = 0
        latencies = [landed - _epoch(r["ingest_time"]) for r, landed in lake if r["id"].startswith(path.id_prefix)]
        out.append(
            {
                "path": path.name,
                "records_in": path.count,
                "records_out": len(ids),
                "malformed_sent": path.malformed,
                "quarantined": quarantined,
                "rejected_at_api": path.rejected_at_api,
                "not_sent_reported": path.not_sent,
                "producer_retries": path.producer_retries,
                "duplicates": duplicated,
                "lost": len(lost),
                "unexpected": len(unexpected),
                "quarantine_mismatch": quarantined - path.malformed if path.id_prefix != "http-" else 0,
                "latency_s": _percentiles(latencies),
                "error": path.error,
            }
        )
    return {
        "paths": out,
        "quarantine_reasons": dict(q_reasons),
        "quarantine_duplicates": sum(v - 1 for v in q_seen.values() if v > 1),
        "records_in_lake": len(lake),
        "records_in_quarantine": len(quarantine),
    }


# How the progress line names each event source mapping's job.
JOBS = {
    "stream_processor": "stream",
    "table_sync": "table direct",
    "change_publisher": "table → SNS",
    "change_applier": "SNS → table2",
    "code_sync": "code events",
}


def _mapping_progress(mapping: Any) -> tuple[int, int]:
    """(done, delivered) for a stream mapping's records or a queue mapping's messages."""
    if hasattr(mapping.stats, "total"):
        total = mapping.stats.total()
        return total.get("records_done", 0), total.get("records_delivered", 0)
    return mapping.stats.get("messages_deleted", 0), mapping.stats.get("messages_delivered", 0)


def progress_line(
    stack: LocalStack, paths: list[IngestPath], options: Options, counts: dict[str, Counter], elapsed: float
) -> str:
    """Each job against its own total: the records produced of those planned, the table changes
    written of those planned, the pushes made, and per mapping what its function finished of
    what it was delivered; with the time left, estimated from the producers' share done."""
    total = sum(p.count for p in paths)
    produced = sum(p.count for p in paths if p.finished)
    table = counts["table"]
    # A delete followed by a re-insert of the same key is one planned change and two writes.
    written = table["inserts"] + table["updates"] + table["deletes"] + table["reinserts"]
    planned = options.table_changes + table["reinserts"]
    parts = [
        f"records {produced:,}/{total:,}",
        f"table changes {written:,}/{planned:,}",
        f"code files {counts['code']['uploads'] + counts['code']['overwrites'] + counts['code']['deletes']}",
        f"pushes {counts['git']['pushes']}",
    ]
    for name, mapping in sorted(stack.mappings.items()):
        done, delivered = _mapping_progress(mapping)
        parts.append(f"{JOBS.get(name, name)} {done:,}/{delivered:,}")
    share = min(produced / total if total else 1.0, written / planned if planned else 1.0)
    left = f"~{elapsed * (1 - share) / share:.0f}s left" if 0 < share < 1 else "draining" if share >= 1 else "…"
    return " · ".join(parts) + f" · {elapsed:.0f}s, {left}"


def _progress(
    stack: LocalStack,
    paths: list[IngestPath],
    options: Options,
    counts: dict[str, Counter],
    started: float,
    done: threading.Event,
) -> None:
    tty = sys.stderr.isatty()
    # On a terminal the line redraws in place; in a log, one line every five seconds.
    while not done.wait(0.5 if tty else 5.0):
        start, end = ("\r\x1b[K", "") if tty else ("", "\n")
        sys.stderr.write(f"{start}  {progress_line(stack, paths, options, counts, time.monotonic() - started)}{end}")
        sys.stderr.flush()
    sys.stderr.write("\n")


def run(stack: LocalStack, options: Options) -> dict[str, Any]:
    """Produce, drain and audit; the report (see ``summary`` for the printed form)."""
    paths = _split(options)
    started = time.monotonic()
    done = threading.Event()
    table_counts: Counter = Counter()
    code_counts: Counter = Counter()
    git_counts: Counter = Counter()
    counts = {"table": table_counts, "code": code_counts, "git": git_counts}
    progress = threading.Thread(target=_progress, args=(stack, paths, options, counts, started, done), daemon=True)
    if options.progress:
        progress.start()
    producers = [
        threading.Thread(target=produce_cli, args=(stack, paths[0], options, False)),
        threading.Thread(target=produce_cli, args=(stack, paths[1], options, True)),
        threading.Thread(target=produce_http, args=(stack, paths[2], options)),
        threading.Thread(target=table_workload, args=(stack, options, table_counts)),
        threading.Thread(target=code_workload, args=(stack, options, code_counts)),
        threading.Thread(target=git_workload, args=(stack, options, git_counts)),
    ]
    for thread in producers:
        thread.start()
    for thread in producers:
        thread.join()
    produced_at = time.monotonic()
    quiet = 0
    while quiet < 3:
        if time.monotonic() - produced_at > options.drain_timeout_s:
            break
        quiet = quiet + 1 if stack.idle() else 0
        time.sleep(0.3)
    drained = time.monotonic()
    done.set()
    if options.progress:
        progress.join()
    auditing = time.monotonic()
    report = audit(stack, paths)
    paths_selected = stack.topology.variables.get("table_sync_paths", "both")
    report["tables"] = {"changes": dict(table_counts), "paths": paths_selected, **table_audit(stack)}
    report["code"] = {"changes": dict(code_counts), **code_audit(stack)}
    report["git"] = {"changes": dict(git_counts), **git_audit(stack)}
    mapping_stats = {
        name: (m.stats.total() if hasattr(m.stats, "total") else dict(m.stats)) for name, m in stack.mappings.items()
    }
    failures_url = stack.topology.urls["events_failures_queue"]
    attributes = stack.session.client("sqs", config=OPERATOR).get_queue_attributes(
        QueueUrl=failures_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    sent = sum(p["records_in"] for p in report["paths"])
    report.update(
        {
            "records": sent,
            "seconds": {"produce": round(produced_at - started, 2), "total": round(drained - started, 2)},
            "drained": drained - produced_at <= options.drain_timeout_s,
            "faults": {"configured": stack.faults.rates, "injected_at_aws": dict(stack.faults.counts)},
            "functions": {name: dict(f.stats) for name, f in stack.functions.items()},
            "mappings": mapping_stats,
            "on_failure_messages": int(attributes["ApproximateNumberOfMessages"]),
            "xray": [row for c in stack.collectors.values() for row in c.summary()],
            "embedded_aws_requests": stack.server.app.requests if stack.server.app else 0,
            "iam": stack.server.iam.report(),
        }
    )
    report["phases"] = {
        **{name: round(seconds, 2) for name, seconds in stack.timings.items()},
        "workload": round(produced_at - started, 2),
        "drain": round(drained - produced_at, 2),
        "audit": round(time.monotonic() - auditing, 2),
    }
    lost = sum(p["lost"] for p in report["paths"])
    duplicates = sum(p["duplicates"] for p in report["paths"]) + report["quarantine_duplicates"]
    mismatch = sum(abs(p["quarantine_mismatch"]) for p in report["paths"])
    report["ok"] = bool(
        report["drained"]
        and lost == 0
        and duplicates == 0
        and mismatch == 0
        and not any(p["error"] for p in report["paths"])
        and report["tables"]["match"]
        and report["code"]["match"]
        and report["git"]["match"]
        and report["iam"]["denied"] == 0
    )
    return report


def summary(report: dict[str, Any]) -> str:
    """The report as a person reads it."""
    lines = [
        "",
        "tributary local run",
        "=" * 19,
        "",
        f"Stream → lake   {report['records']:,} records; every workload sent in "
        f"{report['seconds']['produce']}s, all drained {report['seconds']['total']}s after the start",
        "",
    ]
    header = (
        f"  {'path':<30} {'in':>7} {'in lake':>8} {'quarant.':>8} {'rejected':>8} {'dupl.':>6} {'lost':>5}"
        f"  {'latency p50/p90/p99 s':>22}"
    )
    lines.append(header)
    for p in report["paths"]:
        lat = p["latency_s"]
        latency = f"{lat.get('p50', 0):.2f}/{lat.get('p90', 0):.2f}/{lat.get('p99', 0):.2f}" if lat else "-"
        lines.append(
            f"  {p['path']:<30} {p['records_in']:>7,} {p['records_out']:>8,} {p['quarantined']:>8,}"
            f" {p['rejected_at_api']:>8,} {p['duplicates']:>6} {p['lost']:>5}  {latency:>22}"
        )
        if p["error"]:
            lines.append(f"    ! {p['error']}")
    reasons = ", ".join(f"{k} {v}" for k, v in sorted(report["quarantine_reasons"].items()))
    lines += [
        "",
        f"  quarantine reasons: {reasons}",
        f"  quarantine duplicates: {report['quarantine_duplicates']}; "
        f"on-failure destination messages: {report['on_failure_messages']}",
        "",
    ]
    t = report["tables"]
    changes = t["changes"]
    lines += [
        f"Table → table   {sum(v for k, v in changes.items() if k != 'live_items'):,} changes to table1 "
        f"({changes.get('inserts', 0)} inserts, {changes.get('updates', 0)} updates, "
        f"{changes.get('deletes', 0)} deletes, {changes.get('reinserts', 0)} re-inserts), paths: {t['paths']}",
        f"  table1 {t['source_items']:,} items · table2 {t['replica_items']:,} items"
        f" (+{t['tombstones']} tombstones) · missing {t['missing']} · extra {t['extra']}"
        f" · different {t['different']} → {'table1 == table2' if t['match'] else 'TABLES DIFFER'}",
        f"  on-failure destination messages: {t['on_failure_messages']}; changes DLQ: {t['changes_dlq_messages']}",
        "",
    ]
    c = report["code"]
    lines += [
        f"Code → code     bucket1/code: {c['changes'].get('uploads', 0)} uploads, "
        f"{c['changes'].get('overwrites', 0)} overwrites, {c['changes'].get('deletes', 0)} deletes",
        f"  after the events: bucket1/code {'==' if c['after_events']['equal'] else '!='} bucket2/code "
        f"({c['after_events']['source_objects']} objects, by key, size and checksum)",
        f"  drift made by hand: {c['drift_made']['missing']} missing, {c['drift_made']['extra']} extra;"
        f" reconciliation: {c['reconciled']}",
        f"  after reconciliation: bucket1/code {'==' if c['after_reconcile']['equal'] else '!='} bucket2/code",
        "",
    ]
    g = report["git"]
    gc = g["changes"]
    lines += [
        f"Git mirror      repo1: {gc.get('commits', 0)} commits in {gc.get('pushes', 0)} pushes, "
        f"{gc.get('tags', 0)} tag, {gc.get('branch_deletions', 0)} branch deletion, "
        f"{gc.get('force_pushes', 0)} force-push",
        f"  {g['push_events']} push events → builds {g['builds']}, {g['refs_pushed']} ref updates mirrored",
        f"  repo1 {'==' if g['refs_equal'] else '!='} repo2 by refs ({', '.join(g['repo1_refs'])})"
        + (f"; differ: {', '.join(g['different_refs'])}" if g["different_refs"] else ""),
        f"  nightly run: {g['nightly']['status']}, {g['nightly']['refs_pushed']} refs pushed",
        "",
    ]
    for name, stats in report["mappings"].items():
        lines.append(f"  {name} mapping: " + ", ".join(f"{k} {v}" for k, v in stats.items() if v))
    for name, stats in report["functions"].items():
        lines.append(
            f"  {name}: "
            + ", ".join(f"{k} {round(v, 1) if isinstance(v, float) else v}" for k, v in stats.items() if v)
        )
    faults = report["faults"]
    if faults["configured"]:
        lines.append(
            "  faults: "
            + ", ".join(f"{k}:{v}" for k, v in faults["configured"].items())
            + " · injected at AWS: "
            + (", ".join(f"{k} {v}" for k, v in faults["injected_at_aws"].items()) or "none")
        )
    if report["xray"]:
        lines += ["", "  X-Ray subsegments (median / p95 ms):"]
        for row in report["xray"]:
            lines.append(
                f"    {row['function']:<18} {row['subsegment']:<12} {row['count']:>6}  "
                f"{row['p50_ms']:>8} / {row['p95_ms']}"
            )
    checked = report["iam"]
    lines += [
        "",
        f"  IAM: {checked['checked']:,} calls by functions checked against their own roles, {checked['denied']} denied",
    ]
    lines += [f"    ! {d['function']}: {d['action']} on {d['resource']} {d['reason']}" for d in checked["denials"]]
    names = {
        "init": "terraform init",
        "apply": "terraform apply",
        "restore": "snapshot restored",
        "runtime": "runtime started",
        "workload": "workload",
        "drain": "drain",
        "audit": "audit",
    }
    lines += ["", "  phases: " + " · ".join(f"{names.get(k, k)} {v:.1f} s" for k, v in report["phases"].items())]
    verdict = "OK: nothing lost, nothing duplicated" if report["ok"] else "FAILED: see lost / duplicates / denied above"
    lines += ["", f"  {verdict}", ""]
    return "\n".join(lines)


def write_report(report: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, sort_keys=True, default=str) + "\n")
