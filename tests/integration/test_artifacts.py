"""The deployed artifact is what gets tested: each handler imported from its zip plus the layer."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from stack import declarations

ROOT = Path(__file__).resolve().parents[2]
DIST = ROOT / "dist" / "host"
pytestmark = pytest.mark.build


def _lambda_layout(tmp_path: Path, name: str) -> tuple[Path, Path]:
    task, opt = tmp_path / "var" / "task", tmp_path / "opt"
    for archive, dest in ((DIST / "functions" / f"{name}.zip", task), (DIST / "layers" / "common.zip", opt)):
        assert archive.is_file(), f"{archive} is missing: run `make build-host`"
        with zipfile.ZipFile(archive) as z:
            z.extractall(dest)
    return task, opt


RUNNER = textwrap.dedent(
    """
    import importlib, json, os, sys
    task, opt, handler, event_path = sys.argv[1:5]
    # Lambda's import order: the function, then the layers, then the runtime's packages.
    sys.path[:0] = [task, os.path.join(opt, "python")]
    module_name, function_name = handler.rsplit(".", 1)
    from moto import mock_aws
    with mock_aws():
        import boto3
        boto3.client("s3").create_bucket(
            Bucket=os.environ["LAKE_BUCKET"],
            CreateBucketConfiguration={"LocationConstraint": os.environ["AWS_REGION"]})
        module = importlib.import_module(module_name)
        import tributary
        result = getattr(module, function_name)(json.load(open(event_path)), None)
        listing = boto3.client("s3").list_objects_v2(Bucket=os.environ["LAKE_BUCKET"])
    print(json.dumps({
        "result": result,
        "module_file": module.__file__,
        "layer_file": tributary.__file__,
        "boto3_file": boto3.__file__,
        "keys": [o["Key"] for o in listing.get("Contents", [])],
    }))
    """
)


def test_stream_processor_runs_from_its_zip_and_the_layer(tmp_path):
    spec = declarations.load_all()["stream_processor"]
    task, opt = _lambda_layout(tmp_path, spec.name)
    from stack.events import StreamRecord, kinesis_event

    body = json.dumps({"id": "1", "type": "t", "source": "s", "time": "2026-11-22T10:00:00Z", "payload": {}})
    event = kinesis_event(
        [StreamRecord(body.encode(), "d", "100", 1_790_000_000.0), StreamRecord(b"junk", "d", "101", 1.0)],
        "shardId-000000000000",
        "arn:aws:kinesis:eu-west-1:123456789012:stream/events",
        "eu-west-1",
    )
    event_path = tmp_path / "event.json"
    event_path.write_text(json.dumps(event))
    env = {
        "PATH": "/usr/bin:/bin",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "eu-west-1",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_XRAY_SDK_ENABLED": "false",
        **spec.environment,
        "LAKE_BUCKET": "lake",
    }
    result = subprocess.run(
        [sys.executable, "-c", RUNNER, str(task), str(opt), spec.handler, str(event_path)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["result"] == {"batchItemFailures": []}
    assert out["module_file"].startswith(str(task))
    assert out["layer_file"].startswith(str(opt))
    assert out["boto3_file"].startswith(str(opt)), "boto3 must come from the layer, as in Lambda"
    assert len(out["keys"]) == 3
    assert any(k.startswith("_state/dedupe/shardId-000000000000") for k in out["keys"])
    assert any(k.startswith("events/dt=2026-11-22/hour=10/") for k in out["keys"])
    assert any(k.startswith("quarantine/") for k in out["keys"])


def test_the_producer_cli_runs_from_its_source_over_the_built_layer_alone(tmp_path):
    """What `make local` runs: the clients' package (cli/) and the layer, no dev environment."""
    _, opt = _lambda_layout(tmp_path, "stream_processor")
    result = subprocess.run(
        [sys.executable, "-S", "-m", "tributary_cli.produce", "--help"],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": f"{ROOT / 'cli'}:{opt / 'python'}", "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "--aggregate" in result.stdout
