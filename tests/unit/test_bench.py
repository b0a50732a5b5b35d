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
    result = subprocess.run([sys.executable, "-m", "bench", "--quick", "--source", "--out", str(out)],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "floor / processor" in result.stdout
    document = json.loads(out.read_text())
    assert document["settings"]["quick"] is True
    names = {r["name"] for r in document["results"]}
    assert {"floor / processor", "naive CPU / processor CPU", "peak above baseline",
            "TypeDeserializer / tributary.ddb", "records per PutRecords call, aggregated",
            "Firehose (partitioned by event time) / tributary"} <= names
    for result_ in document["results"]:
        assert isinstance(result_["figure"], (int, float)), result_
        assert result_["unit"] is not None
        assert all({"name", "figure", "unit"} <= set(c) for c in result_["compared_with"])
        assert result_["met"] in (True, False, None)
    prices = document["detail"]["6. cost per million 1 KB records (stream → lake)"]["prices"]
    assert all(p["source"] and p["confidence"] in {"aws", "derived", "third-party", "unverified"}
               for p in prices.values())
