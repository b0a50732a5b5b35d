"""The events stream keeps a record longer than any reader retries it: the stack's own validation
of stream_retention_hours against each declaration's maximum_record_age_s, evaluated by Terraform
(no provider needed)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from stack import terraform as tf

ROOT = Path(__file__).resolve().parents[2]
TERRAFORM = ROOT / "terraform"
FUNCTIONS = ROOT / "functions"
MESSAGE = "must exceed the maximum_record_age_s"


def stack(tmp_path: Path, max_record_age_s: int | None = None) -> Path:
    """The stack's variables.tf beside a copy of the declarations, as terraform/ and functions/ sit."""
    (tmp_path / "terraform").mkdir()
    shutil.copy(TERRAFORM / "variables.tf", tmp_path / "terraform" / "variables.tf")
    shutil.copytree(FUNCTIONS, tmp_path / "functions", ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    if max_record_age_s is not None:
        declaration = tmp_path / "functions" / "stream_processor" / "function.json"
        spec = json.loads(declaration.read_text())
        spec["trigger"]["maximum_record_age_s"] = max_record_age_s
        declaration.write_text(json.dumps(spec))
    directory = tmp_path / "terraform"
    code, output = tf.run(["init", "-no-color", "-input=false"], directory, {"TF_DATA_DIR": str(tmp_path / ".tf")})
    assert code == 0, output
    return directory


def plan(directory: Path, *args: str) -> tuple[bool, str]:
    code, output = tf.run(
        ["plan", "-no-color", "-input=false", *args], directory, {"TF_DATA_DIR": str(directory.parent / ".tf")}
    )
    return code == 0, " ".join(output.split())


def test_the_declared_maximum_record_age_is_what_the_validation_reads():
    spec = json.loads((FUNCTIONS / "stream_processor" / "function.json").read_text())
    assert spec["trigger"]["type"] == "kinesis"
    assert spec["trigger"]["source"] == "events_stream"
    assert spec["trigger"]["maximum_record_age_s"] == 86400


@pytest.mark.parametrize(("hours", "accepted"), [(24, False), (25, True), (48, True), (168, True)])
def test_retention_must_exceed_the_processors_maximum_record_age(tmp_path, hours, accepted):
    ok, output = plan(stack(tmp_path), "-var", "environment=dev", "-var", f"stream_retention_hours={hours}")
    assert ok == accepted, output
    if not accepted:
        assert f"stream_retention_hours ({hours} h) {MESSAGE}" in output


@pytest.mark.parametrize(
    ("age_s", "hours", "accepted"), [(172800, 48, False), (172800, 49, True), (3600, 24, True), (-1, 8760, False)]
)
def test_the_validation_follows_the_declaration(tmp_path, age_s, hours, accepted):
    """A longer maximum record age needs a longer retention; -1 (retry until the record expires) never passes."""
    ok, output = plan(stack(tmp_path, age_s), "-var", "environment=dev", "-var", f"stream_retention_hours={hours}")
    assert ok == accepted, output
    if not accepted:
        assert MESSAGE in output


@pytest.mark.parametrize("environment", ["local", "dev", "prod"])
def test_every_environment_keeps_records_long_enough(tmp_path, environment):
    ok, output = plan(stack(tmp_path), f"-var-file={TERRAFORM / 'environments' / f'{environment}.tfvars.json'}")
    assert ok, output
