"""The run's progress line while it runs, and its report as a person reads it."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from local.runtime import LocalStack
from local.workloads import IngestPath, Options

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


def show_progress(
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
    q = report["lake_query"]
    compaction = q["compaction"]
    lines += [
        f"Lake as tables  compaction: {compaction.get('hours_compacted', 0)} closed hour(s), "
        f"{compaction.get('objects_compacted', 0)} objects → {q['parquet_files']} Parquet files "
        f"({compaction.get('records_compacted', 0):,} records)",
        "  events per path and hour (the events view, the SQL Athena runs, on DuckDB):",
        *[f"    {path:<5} {dt} {hour}h  {records:>7,}" for path, dt, hour, records in q["events_by_path_and_hour"]],
        f"  counted twice: {q['counted_twice']}; saved queries: "
        + ", ".join(f"{name} {rows} rows" for name, rows in q["saved_query_rows"].items()),
        "  → " + ("the queries agree with the audit exactly" if q["match"] else f"QUERIES DIFFER: {q['differences']}"),
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
