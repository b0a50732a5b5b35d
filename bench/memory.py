"""Peak memory of the stream processor on a maximal batch (benchmark 3).

Each measurement is a fresh process laid out as Lambda lays out the function: ``python -S``
with the function's zip and the layer's zip from ``make build-host`` on the path (or the
source tree with ``--source``). The child imports the handler and takes that high-water
mark (VmHWM) as its baseline, the interpreter with the function loaded. It runs one small
invocation (clients, caches), then reads the maximal event's JSON as the runtime does,
runs the handler with S3 in memory and a full dedupe state, and reports how far the
high-water mark rose above the baseline, and above the mark the small invocation left.

Run as ``python -m bench.memory child EVENT_FILE WARM_EVENT_FILE``; only the standard library is imported
at module level, so the child's baseline holds nothing the function would not load.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HOST_DIST = ROOT / "dist" / "host"
MB = 1024 * 1024


def _high_water_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(event_path: str, warm_path: str) -> dict[str, Any]:
    """Runs inside the fresh process: the high-water marks around one maximal invocation."""
    interpreter = _high_water_mb()
    import random

    from stream_processor import handler
    from stream_processor.dedupe import DIGEST_BYTES, ShardState, Window
    from stream_processor.settings import Settings

    imported = _high_water_mb()
    from bench.sink import InMemoryS3
    from tributary import aws

    settings = Settings.from_env(os.environ)
    sink = InMemoryS3()
    sink.attach(aws.client("s3"))
    rng = random.Random(3)
    ids = settings.dedupe_max_ids
    windows = [
        Window(-1, -1, k, rng.randbytes(DIGEST_BYTES * min(10_000, ids - k)), ((0, min(10_000, ids - k)),), 0, 0)
        for k in range(0, ids, 10_000)
    ]
    with open(warm_path, "rb") as source:
        small = json.loads(source.read())
    shard = small["Records"][0]["eventID"].split(":", 1)[0]
    state_key = f"{settings.state_prefix}/{shard}.json.gz"

    def warm() -> None:
        # As the previous invocation left it: the shard's full state cached, unchanged in S3.
        sink.reset()
        sink.objects[state_key] = b""
        sink.etags[state_key] = '"warm"'
        handler.store.warm(shard, '"warm"', ShardState(list(windows), ids, 0))

    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - the function's log lines, for the whole run
    warm()
    handler.handle(small, None)
    del small
    warm()
    warmed = _high_water_mb()

    with open(event_path, "rb") as source:
        event = json.loads(source.read())  # what the runtime does with the payload
    response = handler.handle(event, None)
    peak = _high_water_mb()
    sys.stdout = sys.__stdout__
    return {
        "interpreter_mb": interpreter,
        "after_imports_mb": imported,
        "after_small_invocation_mb": warmed,
        "peak_mb": peak,
        "above_baseline_mb": peak - imported,
        "above_small_invocation_mb": peak - warmed,
        "response": response,
        "json_library": getattr(__import__("tributary.json_codec").json_codec, "BACKEND", "json"),
    }


def _layout(tmp: Path, use_zips: bool) -> tuple[list[str], list[str]]:
    """The child's command and import path: Lambda's layout from the zips, or the source tree."""
    function_zip = HOST_DIST / "functions" / "stream_processor.zip"
    layer_zip = HOST_DIST / "layers" / "common.zip"
    if use_zips and function_zip.is_file() and layer_zip.is_file():
        task, opt = tmp / "task", tmp / "opt"
        for archive, dest in ((function_zip, task), (layer_zip, opt)):
            with zipfile.ZipFile(archive) as z:
                z.extractall(dest)
        return [sys.executable, "-S"], [str(task), str(opt / "python"), str(ROOT)]
    return [sys.executable], [str(ROOT / "functions"), str(ROOT / "layers" / "common"), str(ROOT)]


def measure(events: dict[str, dict[str, Any]], use_zips: bool = True) -> dict[str, Any]:
    """One fresh process per event; the figures each reported, and which layout was used."""
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="tributary-bench-memory-") as name:
        tmp = Path(name)
        command, path = _layout(tmp, use_zips)
        layout = "zips" if command[-1] == "-S" else "source"
        env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
        env["PYTHONPATH"] = os.pathsep.join(path)
        for label, event in events.items():
            event_file, warm_file = tmp / f"{label}.json", tmp / f"{label}-warm.json"
            event_file.write_text(json.dumps(event, separators=(",", ":")))
            warm_file.write_text(json.dumps({"Records": event["Records"][:5]}))
            completed = subprocess.run(
                [*command, "-m", "bench.memory", "child", str(event_file), str(warm_file)],
                env=env,
                capture_output=True,
                text=True,
                cwd=tmp,
                timeout=300,
            )
            if completed.returncode != 0:
                raise RuntimeError(f"memory child failed ({label}):\n{completed.stderr[-3000:]}")
            results[label] = json.loads(completed.stdout.strip().splitlines()[-1])
            results[label]["event_bytes"] = event_file.stat().st_size
    return {"layout": layout, "runs": results}


def run(quick: bool = False, use_zips: bool = True) -> Any:
    """Benchmark 3."""
    from bench import workload
    from bench.report import Compared, Result, Section

    limit = 200 if quick else workload.MAX_BATCH_RECORDS
    plain = workload.maximal_batch(limit=limit)
    aggregated = workload.maximal_batch(aggregate=True, limit=max(2, limit // 50))
    measured = measure({"plain": plain.event, "aggregated": aggregated.event}, use_zips)
    users = {"plain": plain.user_records, "aggregated": aggregated.user_records}
    worst = max(measured["runs"], key=lambda label: measured["runs"][label]["above_baseline_mb"])
    figures = measured["runs"][worst]
    section = Section("3. peak memory on a maximal batch (10,000 records or 6 MB)")
    section.results = [
        Result(
            "peak above baseline",
            figures["above_baseline_mb"],
            "MB",
            (
                Compared("baseline (imports done)", figures["after_imports_mb"], "MB"),
                Compared("peak", figures["peak_mb"], "MB"),
            ),
            "< 128",
            f"{worst} batch: {users[worst]:,} records in {figures['event_bytes'] / MB:.2f} MB of event "
            f"({measured['layout']})",
        ),
    ]
    section.detail = {
        "layout": measured["layout"],
        **{label: {**figures, "user_records": users[label]} for label, figures in measured["runs"].items()},
    }
    return section


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "child":
        outcome = child(sys.argv[2], sys.argv[3])
        print(json.dumps(outcome))
    else:
        sys.exit("usage: python -m bench.memory child EVENT_FILE WARM_EVENT_FILE")
