"""The scenario behind `make local`: run every workload at once, drain, audit, report.

Three paths feed the events stream: the producer CLI (plain records), the producer CLI with
KPL aggregation, and the HTTP ingest function; table1, bucket1/code and repo1 take their own
workloads meanwhile (workloads.py). Once the stack is idle, audits.py reads everything back;
report.py prints it.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

from local.audits import audit, code_audit, git_audit, lake_audit, table_audit
from local.report import show_progress
from local.runtime import LocalStack
from local.workloads import (
    OPERATOR,
    Options,
    code_workload,
    git_workload,
    produce_cli,
    produce_http,
    split_paths,
    table_workload,
)


def run(stack: LocalStack, options: Options) -> dict[str, Any]:
    """Produce, drain and audit; the report (see ``summary`` for the printed form)."""
    paths = split_paths(options)
    started = time.monotonic()
    done = threading.Event()
    table_counts: Counter = Counter()
    code_counts: Counter = Counter()
    git_counts: Counter = Counter()
    counts = {"table": table_counts, "code": code_counts, "git": git_counts}
    progress = threading.Thread(target=show_progress, args=(stack, paths, options, counts, started, done), daemon=True)
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
    expected = {key: report.pop(key) for key in ("events_by_hour", "quarantine_by_hour")}
    report["lake_query"] = lake_audit(stack, expected)
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
            "embedded_aws_requests": stack.server.app.requests,
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
        and report["lake_query"]["match"]
        and report["iam"]["denied"] == 0
    )
    return report
