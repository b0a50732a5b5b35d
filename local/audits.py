"""The audits of `make local`: what each job sent, read back from where the stack put it.

The lake and the quarantine against the records sent (every valid record exactly once in the
lake, every malformed one exactly once in the quarantine), table2 against table1, bucket2/code
against bucket1/code, and repo2 against repo1.
"""

from __future__ import annotations

import json
import re
import statistics
import time
from collections import Counter
from datetime import datetime
from typing import Any

from local.query import Lake, saved_queries
from local.runtime import LocalStack
from local.workloads import OPERATOR, IngestPath, code_prefixes
from tributary import lake, replica, s3sync
from tributary_cli import tables


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
    prefixes = code_prefixes(stack)
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
    lines: list[tuple[dict[str, Any], float]] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/"):
        for item in page.get("Contents", []):
            landed = item["LastModified"].timestamp()
            body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            lines.extend((json.loads(line), landed) for line in lake.decompress_object(item["Key"], body).splitlines())
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
        # What the lake's tables must answer (lake_audit): records per path and event hour, and
        # quarantined records per arrival hour.
        "events_by_hour": Counter((r["id"].split("-", 1)[0], r["time"][:10], r["time"][11:13]) for r, _ in lake),
        "quarantine_by_hour": Counter((q["ingest_time"][:10], q["ingest_time"][11:13]) for q, _ in quarantine),
        "quarantine_reasons": dict(q_reasons),
        "quarantine_duplicates": sum(v - 1 for v in q_seen.values() if v > 1),
        "records_in_lake": len(lake),
        "records_in_quarantine": len(quarantine),
    }


EVENTS_BY_PATH_AND_HOUR = """
SELECT split_part(id, '-', 1) AS path, dt, hour, count(*) AS records
FROM events
GROUP BY split_part(id, '-', 1), dt, hour
ORDER BY path, dt, hour
"""
QUARANTINE_BY_HOUR = "SELECT dt, hour, count(*) AS records FROM quarantine GROUP BY dt, hour ORDER BY dt, hour"
EVENTS_COUNTED_TWICE = "SELECT count(*) - count(DISTINCT id) FROM events"


def lake_audit(stack: LocalStack, expected: dict[str, Any]) -> dict[str, Any]:
    """Compact the closed hours (the schedule's event, as EventBridge delivers it), then ask the
    catalog's tables, through DuckDB and the same SQL Athena runs, what the lake holds: per path
    and event hour it must be exactly what the audit read from the raw objects."""
    s3 = stack.session.client("s3", config=OPERATOR)
    bucket = stack.topology.resource("lake_bucket").name
    # An hour a run could not finish (an S3 error its retries did not mend, a run that died) is
    # the next hourly run's to finish: up to three runs, as three hours of schedule would.
    counts: Counter[str] = Counter()
    for _ in range(3):
        stack.fire_schedule("lake_compaction")
        _wait_until(stack.bus.idle, timeout_s=900)
        invocation = stack.bus.deliveries[-1]["result"]
        run = invocation.payload.get("counts", {}) if invocation.ok else {"hours_failed": 1}
        counts.update(run)
        counts["runs"] += 1
        if not run.get("hours_failed") and not run.get("hours_left"):
            break
    # The run's log lines apply to queries that start this long after it committed.
    time.sleep(float(stack.topology.function_environment("lake_compactor").get("EFFECTIVE_AFTER_SECONDS", 0)) + 0.5)
    with Lake(s3, bucket) as lake:
        lake.sync()
        by_hour = lake.query(EVENTS_BY_PATH_AND_HOUR).rows
        quarantine = lake.query(QUARANTINE_BY_HOUR).rows
        twice = lake.query(EVENTS_COUNTED_TWICE).rows[0][0]
        saved = {name: len(lake.query(sql).rows) for name, sql in saved_queries().items()}
        parquet = lake.query('SELECT count(DISTINCT "$path") FROM events_compacted').rows[0][0]
    got_events = Counter({(path, dt, hour): n for path, dt, hour, n in by_hour})
    got_quarantine = Counter({(dt, hour): n for dt, hour, n in quarantine})
    return {
        "compaction": dict(counts),
        "parquet_files": parquet,
        "events_by_path_and_hour": [list(row) for row in by_hour],
        "saved_query_rows": saved,
        "counted_twice": twice,
        "match": bool(
            got_events == expected["events_by_hour"]
            and got_quarantine == expected["quarantine_by_hour"]
            and twice == 0
            and counts["hours_compacted"] >= 1
        ),
        "differences": {
            "events": {
                "|".join(k): (got_events[k], expected["events_by_hour"][k])
                for k in got_events.keys() | expected["events_by_hour"].keys()
                if got_events[k] != expected["events_by_hour"][k]
            },
            "quarantine": {
                "|".join(k): (got_quarantine[k], expected["quarantine_by_hour"][k])
                for k in got_quarantine.keys() | expected["quarantine_by_hour"].keys()
                if got_quarantine[k] != expected["quarantine_by_hour"][k]
            },
        },
    }
