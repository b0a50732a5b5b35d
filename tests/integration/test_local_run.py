"""Small `make local` runs: the whole system on the embedded AWS, with and without faults."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from local import faults as fault_spec
from local.report import summary
from local.runtime import LocalStack
from local.scenario import run
from local.workloads import Options

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.build

# The run without faults is test_make_local_command_prints_the_summary_and_leaves_nothing_running.
FAULT_RUNS = {
    "s3_put_error": "s3_put_error:0.3",
    "throttle": "throttle:0.1",
    "crash": "crash:0.25",
    "timeout": "timeout:0.25",
    "duplicate_delivery": "duplicate_delivery:0.5",
    "all": "s3_put_error:0.1,throttle:0.05,crash:0.03,timeout:0.03,duplicate_delivery:0.3",
}


@pytest.mark.parametrize("name", FAULT_RUNS)
def test_nothing_lost_nothing_duplicated(name, applied_stacks):
    rates = fault_spec.parse(FAULT_RUNS[name])
    faults = fault_spec.Faults(rates, seed=3)
    # Timeouts are capped where hangs are injected, so that one costs seconds, not the declared
    # minutes. Elsewhere a slow invocation (S3 errors retried with backoff on a loaded machine) runs
    # to the function's own timeout, as in AWS.
    cap = 4 if "timeout" in rates else None
    with LocalStack(
        faults=faults, timeout_cap_s=cap, visibility_cap_s=2, applied=applied_stacks.get("default")
    ) as stack:
        report = run(
            stack, Options(records=400, table_changes=200, code_files=20, seed=5, progress=False, drain_timeout_s=240)
        )
    text = summary(report)
    assert report["ok"], text
    assert report["drained"], text
    # Every function ran with its own role, and the role Terraform made allowed each of its calls.
    assert report["iam"]["denied"] == 0, text
    assert report["iam"]["checked"] > 100, text
    for path in report["paths"]:
        assert path["lost"] == 0, text
        assert path["duplicates"] == 0, text
        assert path["records_out"] + path["quarantined"] + path["rejected_at_api"] == path["records_in"], text
    assert report["quarantine_duplicates"] == 0
    assert report["tables"]["match"], text
    assert report["tables"]["source_items"] > 0
    assert report["tables"]["on_failure_messages"] == 0, text
    assert report["code"]["after_events"]["equal"], text
    assert report["code"]["after_reconcile"]["equal"], text
    git = report["git"]
    assert git["refs_equal"], text
    assert git["match"], text
    assert git["repo1_refs"] == ["refs/heads/feature/ingest", "refs/heads/main", "refs/tags/v1.0"], text
    assert git["push_events"] == 7, text
    # One build runs at a time: a push made while one runs has its start refused, and the running
    # build reads repo1 again before it ends, so it mirrors that push (refs_equal above).
    assert set(git["builds"]) == {"SUCCEEDED"}, text
    assert 1 <= git["builds"]["SUCCEEDED"] <= 7, text
    assert git["nightly"] == {"status": "SUCCEEDED", "refs_pushed": 0}, text
    if name in ("crash", "timeout"):
        stats = report["functions"]
        assert sum(s.get("crashes" if name == "crash" else "timeouts", 0) for s in stats.values()) > 0, text
    if name == "s3_put_error":
        assert report["faults"]["injected_at_aws"].get("s3_put_error", 0) > 0, text
    if name == "throttle":
        assert report["faults"]["injected_at_aws"].get("throttle", 0) > 0, text
    if name == "duplicate_delivery":
        assert report["mappings"]["stream_processor"]["duplicate_deliveries"] > 0, text


@pytest.mark.applied("direct", "fanout")
@pytest.mark.parametrize("paths", ["direct", "fanout"])
def test_each_table_sync_path_alone_converges_under_faults(paths, applied_stacks):
    faults = fault_spec.Faults(fault_spec.parse(FAULT_RUNS["all"]), seed=11)
    with LocalStack(
        faults=faults,
        timeout_cap_s=4,
        visibility_cap_s=2,
        variables={"table_sync_paths": paths},
        applied=applied_stacks.get(paths),
    ) as stack:
        assert set(stack.functions) >= ({"table_sync"} if paths == "direct" else {"change_publisher", "change_applier"})
        assert not set(stack.functions) & (
            {"change_publisher", "change_applier"} if paths == "direct" else {"table_sync"}
        )
        report = run(
            stack, Options(records=100, table_changes=300, code_files=10, seed=2, progress=False, drain_timeout_s=240)
        )
    assert report["tables"]["match"], summary(report)
    assert report["tables"]["paths"] == paths
    assert report["iam"]["denied"] == 0, summary(report)


def test_make_local_command_prints_the_summary_and_leaves_nothing_running(tmp_path):
    env = dict(os.environ)
    # Its own session, so that what it leaves running can be told from another run's workers.
    process = subprocess.Popen(
        # A small workload of each job: the command, its flags and the clean exit are what is tested
        # here; the scenario's guarantees under load and faults are the tests above.
        [
            sys.executable,
            "-m",
            "local",
            "--records",
            "200",
            "--table-changes",
            "120",
            "--code-files",
            "12",
            "--no-progress",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=600)
    finally:
        if process.poll() is None:
            process.kill()
    result = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK: nothing lost, nothing duplicated" in result.stdout
    endpoint = next(line.split()[-1] for line in result.stdout.splitlines() if "listening on" in line)
    report = json.loads((ROOT / "dist" / "local-report.json").read_text())
    assert report["ok"]
    assert report["records"] == 200
    changes = report["tables"]["changes"]
    assert changes["inserts"] + changes["updates"] + changes["deletes"] == 120
    assert report["tables"]["match"]
    assert report["code"]["changes"]["uploads"] == 12
    assert report["functions"]["stream_processor"]["errors"] == 0
    # Nothing left behind: the port is free and no worker survives.
    import socket

    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", int(endpoint.rsplit(":", 1)[1]))) != 0  # nothing listens there any more
    leftovers = subprocess.run(["pgrep", "-s", str(process.pid)], capture_output=True, text=True)
    assert leftovers.stdout.strip() == ""


def test_a_bad_fault_spec_is_a_usage_error():
    env = dict(os.environ)
    result = subprocess.run(
        [sys.executable, "-m", "local", "--faults", "meteor:0.5"], cwd=ROOT, capture_output=True, text=True, env=env
    )
    assert result.returncode == 2
    assert "unknown fault 'meteor'" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--table-changes", "0"], "TABLE_CHANGES must be at least 1"),
        (["--code-files", "0"], "CODE_FILES must be at least 1"),
        (["--records", "5"], "N must be at least 10"),
    ],
)
def test_a_workload_too_small_to_audit_is_a_usage_error(args, message):
    result = subprocess.run([sys.executable, "-m", "local", *args], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 2
    assert message in result.stderr
