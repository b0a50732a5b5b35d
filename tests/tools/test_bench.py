"""``make bench`` runs end to end: every benchmark, on tiny inputs, writes well-formed figures.

This checks the benchmark code, not the figures: nothing here is timed against a threshold.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_runs_every_benchmark_and_writes_json(tmp_path):
    out = tmp_path / "bench.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "layers" / "common")}
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--source", "--out", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "floor / processor" in result.stdout
    document = json.loads(out.read_text())
    assert document["settings"]["quick"] is True
    names = {r["name"] for r in document["results"]}
    assert {
        "floor / processor",
        "naive CPU / processor CPU",
        "peak above baseline",
        "TypeDeserializer / tributary.ddb",
        "records per PutRecords call, aggregated",
        "Firehose (partitioned by event time) / tributary, zstd 3",
        "processor CPU, zstd / gzip",
        "processor work besides compression",
        "Bytes a one-hour query scans, Parquet / raw NDJSON",
        "Compaction of the hour: peak /tmp (a batch's inputs and its Parquet file) / ephemeral storage",
    } <= names
    for result_ in document["results"]:
        assert isinstance(result_["figure"], (int, float)), result_
        assert result_["unit"] is not None
        assert all({"name", "figure", "unit"} <= set(c) for c in result_["compared_with"])
        assert result_["met"] in (True, False, None)
    prices = document["detail"]["6. cost per million 1 KB records (stream → lake)"]["prices"]
    assert all(
        p["source"] and p["confidence"] in {"aws", "derived", "third-party", "unverified"} for p in prices.values()
    )


def _measured(**changes):
    from dataclasses import replace

    from bench.cost import Measured

    base = Measured(
        fixed_cpu_s=0.01,
        cpu_s_per_record=60e-6,
        record_bytes=1000.0,
        entry_overhead_bytes=551,
        puts_per_invocation=2,
        gets_per_invocation=1,
        stored_bytes_per_record=300.0,
        state_bytes_per_invocation=1_500_000,
        memory_mb=1024,
        declared_batch_size=10_000,
        declared_window_s=10.0,
        dedupe_window_s=300.0,
        dedupe_max_ids=100_000,
        aggregated_records_per_invocation=4600,
        aggregated_cpu_s_per_record=61e-6,
        zstd_cpu_s_per_record=20e-6,
        zstd_stored_bytes_per_record=290.0,
        firehose_stored_bytes_per_record=280.0,
    )
    return replace(base, **changes)


def test_cost_model_uses_the_declared_batch_and_the_6_mb_limit():
    from bench.cost import records_per_invocation, scale, tributary_per_million

    full = _measured()
    # 6 MB of event holds fewer 1 KB records than the declared 10,000.
    assert tributary_per_million(full)["records_per_invocation"] == records_per_invocation(full, 1024) < 10_000
    small = _measured(declared_batch_size=1000, declared_window_s=5.0)
    assert tributary_per_million(small)["records_per_invocation"] == 1000
    # Requests are per invocation: smaller batches cost more per record.
    assert tributary_per_million(small)["s3_put"] > tributary_per_million(full)["s3_put"]
    # A quiet shard closes its batch at the window: 1,000 events/s over 2 shards for 5 s.
    row = scale(small, 1_000)
    assert row["provisioned_shards"] == 2
    assert row["records_per_invocation"] == 1000
    assert scale(full, 1_000)["records_per_invocation"] == records_per_invocation(full, 1024)
