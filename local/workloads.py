"""The workloads of `make local`: records through the three ingest paths, changes to table1,
files under bucket1/code and pushes to repo1, each as a user of the deployed stack would make them.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from botocore.config import Config

from local.codecommit import git_environment, scratch_home
from local.runtime import ROOT, LocalStack
from stack.events import http_api_event
from tributary import ddb, s3sync
from tributary_cli import synthetic

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


def split_paths(options: Options) -> list[IngestPath]:
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
    """Run the real producer CLI (cli/), over the built layer, against the embedded AWS."""
    layer = stack.workdir / "opt" / "python"
    clients = ROOT / "cli"
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
    # Nothing of the dev environment: the clients' source and the layer as Lambda gets it.
    env = {**stack.aws_env, "PYTHONPATH": f"{clients}:{layer}", "PATH": "/usr/bin:/bin"}
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


def code_prefixes(stack: LocalStack) -> s3sync.Prefixes:
    env = stack.topology.function_environment("code_sync")
    return s3sync.Prefixes(env["SOURCE_BUCKET"], env["TARGET_BUCKET"], env["SOURCE_PREFIX"], env["TARGET_PREFIX"])


def code_workload(stack: LocalStack, options: Options, counts: dict[str, int]) -> None:
    """Uploads, overwrites and deletes under bucket1/code/ (keys with spaces and non-ASCII too)."""
    s3 = stack.session.client("s3", config=OPERATOR)
    prefixes = code_prefixes(stack)
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
