"""`make plan` / `make deploy` (tools.deploy): each step that runs without AWS, and the one
sentence it stops with where Terraform, its provider or AWS credentials are missing. A
stand-in terraform (tests/fixtures/terraform) plays the CLI; STS is the embedded AWS."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from local.faults import Faults
from local.server import EmbeddedAws
from stack import terraform as tf
from tools import deploy

ROOT = Path(__file__).resolve().parents[2]
FAKE = ROOT / "tests" / "fixtures" / "terraform"
NO_CREDENTIALS = {
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}


@pytest.fixture
def dist(tmp_path):
    for name in ("functions/stream_processor.zip", "layers/common.zip"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"zip " + name.encode())
    return tmp_path


@pytest.fixture(scope="module")
def sts():
    server = EmbeddedAws(Faults())
    server.start()
    yield server.endpoint
    server.stop()


def run(
    command: str, dist: Path, *extra: str, credentials: bool = True, endpoint: str = "", **env: str
) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    environment.update({"DIST_DIR": str(dist), "FAKE_TF_LOG": str(dist / "terraform.log"), **env})
    if credentials:
        environment.update(
            {
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": "eu-west-1",
                "AWS_ENDPOINT_URL": endpoint,
            }
        )
    else:
        environment.update(NO_CREDENTIALS)
    return subprocess.run(
        [sys.executable, "-m", "tools.deploy", command, "--env", "dev", *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
    )


def one_sentence(result: subprocess.CompletedProcess, starts: str) -> str:
    assert result.returncode == deploy.MISSING, result.stderr
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(starts), line
    return line


def test_without_terraform_it_says_so_in_one_sentence(dist):
    result = run("plan", dist, TERRAFORM="/nonexistent/terraform")
    assert "Terraform is not installed" in one_sentence(result, "make plan:")


def test_an_old_terraform_is_refused(dist):
    result = run("plan", dist, TERRAFORM=str(FAKE), FAKE_TF_VERSION="1.9.8")
    assert "1.10 or newer" in one_sentence(result, "make plan:")


def test_without_the_provider_it_says_so_in_one_sentence(dist):
    result = run("plan", dist, TERRAFORM=str(FAKE), FAKE_TF_FAIL="providers")
    assert "could not install the AWS provider" in one_sentence(result, "make plan:")


def test_the_real_terraform_here_stops_at_the_provider_download(dist):
    """On a machine without registry access (like the one CI runs on), with whatever terraform
    is installed: the sentence names the missing piece."""
    if not deploy.shutil.which("terraform"):
        result = run("plan", dist)
        assert "Terraform is not installed" in one_sentence(result, "make plan:")
        return
    result = run("plan", dist, credentials=False)
    line = one_sentence(result, "make plan:")
    assert "AWS provider" in line or "No AWS credentials" in line or "(.terraform-version)" in line


def test_a_terraform_other_than_the_pinned_one_is_refused(dist):
    """Plans and applies use one version: a saved plan applies only with the version that made it."""
    result = run("plan", dist, TERRAFORM=str(FAKE), FAKE_TF_VERSION="1.12.0")
    line = one_sentence(result, "make plan:")
    assert f"not the stack's {deploy.pinned_terraform()} (.terraform-version)" in line


def test_without_credentials_it_says_so_after_the_provider_check(dist):
    result = run("plan", dist, credentials=False, TERRAFORM=str(FAKE))
    assert "No AWS credentials were found" in one_sentence(result, "make plan:")
    assert "init -backend=false" in (dist / "terraform.log").read_text()


def test_plan_saves_the_plan_a_summary_and_a_manifest_then_deploy_applies_it_once(dist, sts):
    result = run("plan", dist, endpoint=sts, TERRAFORM=str(FAKE))
    assert result.returncode == 0, result.stderr
    plan_dir = dist / "plan"
    summary = (plan_dir / "dev.summary.md").read_text()
    assert "1 to add, 1 to change, 0 to replace, 1 to destroy" in summary
    assert "| destroy | `aws_cloudwatch_event_rule.old` |" in summary
    assert "aws_s3_bucket.this" not in summary  # no-op
    manifest = json.loads((plan_dir / "dev.manifest.json").read_text())
    assert set(manifest["artifacts"]) == {"functions/stream_processor.zip", "layers/common.zip"}
    assert manifest["changes"] == 4  # three resources and one output; the no-op is not a change
    assert re.fullmatch(r"[0-9a-f]{64}", manifest["changes_sha256"])
    log = (dist / "terraform.log").read_text()
    assert f"-backend-config={ROOT}/terraform/environments/dev.s3.tfbackend" in log
    assert f"-var-file={ROOT}/terraform/environments/dev.tfvars.json" in log
    assert f"-var=dist_dir={dist}" in log  # Terraform uploads the zips the manifest describes

    applied = run("apply", dist, endpoint=sts, TERRAFORM=str(FAKE))
    assert applied.returncode == 0, applied.stderr
    assert "Apply complete" in applied.stdout
    assert 'lake_bucket = "tributary-dev-lake-123456789012"' in applied.stdout
    assert (
        f"apply -input=false -no-color -lock-timeout=5m {plan_dir}/dev.tfplan" in (dist / "terraform.log").read_text()
    )
    again = run("apply", dist, endpoint=sts, TERRAFORM=str(FAKE))
    assert again.returncode == 2
    assert "There is no saved plan" in again.stderr


def test_deploy_refuses_a_plan_whose_zips_changed(dist, sts):
    assert run("plan", dist, endpoint=sts, TERRAFORM=str(FAKE)).returncode == 0
    (dist / "layers" / "common.zip").write_bytes(b"rebuilt differently")
    result = run("apply", dist, endpoint=sts, TERRAFORM=str(FAKE))
    assert result.returncode == 1
    assert "stale" in result.stderr
    assert "dist/layers/common.zip changed" in result.stderr
    assert not any(line.startswith("apply") for line in (dist / "terraform.log").read_text().splitlines())


def test_plan_and_apply_in_one_step_only_when_asked(dist, sts):
    result = run("apply", dist, "--plan-and-apply", endpoint=sts, TERRAFORM=str(FAKE))
    assert result.returncode == 0, result.stderr
    log = (dist / "terraform.log").read_text()
    assert log.index("plan -input") < log.index("apply -input")


def test_a_failed_plan_is_reported_without_a_traceback(dist, sts):
    result = run("plan", dist, endpoint=sts, TERRAFORM=str(FAKE), FAKE_TF_FAIL="plan")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().endswith("make plan: terraform plan failed (see above).")


def test_an_unknown_environment_is_a_usage_error(dist):
    result = subprocess.run(
        [sys.executable, "-m", "tools.deploy", "plan", "--env", "nope"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "DIST_DIR": str(dist)},
    )
    assert result.returncode == 2
    assert "terraform/environments/nope.tfvars.json" in result.stderr


def test_stale_reasons_name_each_difference():
    manifest = {"plan_sha256": "p", "configuration_sha256": "c", "artifacts": {"a.zip": "1", "b.zip": "2"}}
    assert deploy.stale_reasons(manifest, "p", {"a.zip": "1", "b.zip": "2"}, "c") == []
    assert deploy.stale_reasons(manifest, "q", {"a.zip": "1", "c.zip": "3"}, "d") == [
        "the plan file is not the one this manifest describes",
        "the Terraform configuration, tfvars or function declarations changed",
        "dist/b.zip changed",
        "dist/c.zip changed",
    ]


def test_a_plan_made_from_another_tree_is_stale():
    manifest = {"plan_sha256": "p", "configuration_sha256": "c", "artifacts": {}, "tree": "t1"}
    assert deploy.stale_reasons(manifest, "p", {}, "c", "t1") == []
    assert deploy.stale_reasons(manifest, "p", {}, "c", "t2") == ["the checkout is not the tree the plan was made from"]
    assert deploy.stale_reasons(manifest, "p", {}, "c", "unknown") == []  # no git: the digests still apply


def test_summary_counts_replacements_and_says_when_nothing_changes():
    plan = {"resource_changes": [{"address": "a.b", "change": {"actions": ["delete", "create"]}}]}
    summary = deploy.summarize(plan, "prod")
    assert "0 to add, 0 to change, 1 to replace, 0 to destroy" in summary
    assert "**1 resource(s) will be destroyed or replaced.**" in summary
    assert "No changes" in deploy.summarize({"resource_changes": []}, "prod")


# --- the state bucket: the bootstrap's default, found in the signed-in account ---------------------


def _bootstrap_bucket(tmp_path: Path, account_id: str) -> str:
    """The bootstrap's own expression for its bucket, evaluated by Terraform with its variables' defaults."""
    bootstrap = ROOT / "terraform" / "bootstrap"
    expression = re.search(r"^  bucket\s+=\s+(.+)$", (bootstrap / "main.tf").read_text(), re.MULTILINE).group(1)
    shutil.copy(bootstrap / "variables.tf", tmp_path / "variables.tf")
    (tmp_path / "main.tf").write_text(f"""
locals {{
  account_id = "{account_id}"
  bucket     = {expression}
}}
output "bucket" {{ value = local.bucket }}
""")
    env = {"TF_DATA_DIR": str(tmp_path / ".terraform")}
    state = f"-state={tmp_path / 'state'}"
    for command in (
        ["init", "-no-color", "-input=false"],
        ["apply", "-no-color", "-auto-approve", "-input=false", "-var", "github_repository=o/r", state],
        ["output", "-no-color", "-raw", state, "bucket"],
    ):
        code, output = tf.run(command, tmp_path, env)
        assert code == 0, output
    return output.strip().splitlines()[-1]


def test_plan_uses_the_state_bucket_the_bootstrap_creates(dist, sts, tmp_path_factory):
    expected = _bootstrap_bucket(tmp_path_factory.mktemp("bootstrap"), "123456789012")  # moto's account
    assert expected == "tributary-terraform-state-123456789012"
    assert run("plan", dist, endpoint=sts, TERRAFORM=str(FAKE)).returncode == 0
    assert f"-backend-config=bucket={expected}" in (dist / "terraform.log").read_text()


def test_tf_state_bucket_names_another_bucket(dist, sts):
    assert run("plan", dist, endpoint=sts, TERRAFORM=str(FAKE), TF_STATE_BUCKET="chosen-name").returncode == 0
    log = (dist / "terraform.log").read_text()
    assert "-backend-config=bucket=chosen-name" in log
    assert "tributary-terraform-state-" not in log


@pytest.mark.parametrize("environment", ["dev", "prod"])
def test_the_backend_files_leave_the_bucket_to_make_plan(environment):
    backend = (ROOT / "terraform" / "environments" / f"{environment}.s3.tfbackend").read_text()
    assert not re.search(r"^\s*bucket\s*=", backend, re.MULTILINE)


# --- after a merge: a fresh plan, compared with the reviewed one -------------------------------------


def _plan(*changes: dict, outputs: dict | None = None) -> dict:
    return {"resource_changes": list(changes), "output_changes": outputs or {}}


def _change(address: str, actions: list[str], before=None, after=None) -> dict:
    return {
        "address": address,
        "change": {
            "actions": actions,
            "before": before,
            "after": after,
            "after_unknown": {},
            "before_sensitive": {},
            "after_sensitive": {},
        },
    }


def _manifest(plan: dict, dist: Path = Path("/work/dist")) -> dict:
    changes = deploy.planned_changes(plan)
    return {
        "changes": len(changes["resources"]) + len(changes["outputs"]),
        "changes_sha256": deploy.changes_digest(changes, dist),
    }


FUNCTION = 'module.function["ingest_api"].aws_lambda_function.this'


def test_the_second_of_two_merged_pull_requests_deploys_without_a_new_approval():
    """Both were planned against the same state; the first is applied; the second's fresh plan, made
    after that, still makes exactly the changes its pull request showed."""
    stream = "module.events_stream.aws_kinesis_stream.this"
    second = _change(FUNCTION, ["update"], {"memory_size": 512}, {"memory_size": 1024})
    # Planned on its pull request, before the first merge: the stream is as the state had it.
    reviewed_second = _manifest(
        _plan(second, _change(stream, ["no-op"], {"retention_period": 24}, {"retention_period": 24}))
    )
    # Planned again after the first merge was applied: the stream has the first's change, in the state too.
    after_the_first_is_applied = _manifest(
        _plan(second, _change(stream, ["no-op"], {"retention_period": 48}, {"retention_period": 48}))
    )
    assert deploy.review(after_the_first_is_applied, reviewed_second) == (
        "reviewed",
        "the plan makes exactly the changes reviewed on the pull request",
    )


def test_a_fresh_plan_that_differs_from_the_reviewed_one_needs_approval():
    reviewed = _manifest(_plan(_change(FUNCTION, ["update"], {"memory_size": 512}, {"memory_size": 1024})))
    # The first merge changed the same function: its value before the change is not the one reviewed.
    moved = _manifest(_plan(_change(FUNCTION, ["update"], {"memory_size": 768}, {"memory_size": 1024})))
    assert deploy.review(moved, reviewed)[0] == "unreviewed"
    replaced = _manifest(_plan(_change(FUNCTION, ["delete", "create"], {"memory_size": 512}, {"memory_size": 1024})))
    assert deploy.review(replaced, reviewed)[0] == "unreviewed"
    more = _manifest(
        _plan(
            _change(FUNCTION, ["update"], {"memory_size": 512}, {"memory_size": 1024}),
            _change("aws_sqs_queue.extra", ["create"], None, {"name": "x"}),
        )
    )
    assert deploy.review(more, reviewed)[0] == "unreviewed"
    assert deploy.review(reviewed, None) == ("unreviewed", "no plan was reviewed for this commit")
    assert deploy.review(reviewed, {"plan_sha256": "p"})[0] == "unreviewed"  # a plan made before changes_sha256


def test_a_plan_that_changes_nothing_needs_nothing():
    plan = _plan(
        _change(FUNCTION, ["no-op"]),
        _change("data.aws_iam_policy_document.x", ["read"]),
        outputs={"lake_bucket": {"actions": ["no-op"]}},
    )
    assert deploy.review(_manifest(plan), None)[0] == "nothing"
    assert deploy.review(_manifest(_plan(outputs={"lake_bucket": {"actions": ["update"]}})), None)[0] == "unreviewed"


def test_where_dist_was_does_not_change_the_changes():
    def zip_update(dist: str) -> dict:
        return _plan(
            _change(
                FUNCTION,
                ["update"],
                {"filename": f"{dist}/functions/ingest_api.zip", "hash": "a"},
                {"filename": f"{dist}/functions/ingest_api.zip", "hash": "b"},
            )
        )

    on_the_pull_request = _manifest(zip_update("/runner/a/dist"), Path("/runner/a/dist"))
    after_the_merge = _manifest(zip_update("/runner/b/dist"), Path("/runner/b/dist"))
    assert deploy.review(after_the_merge, on_the_pull_request)[0] == "reviewed"


def test_compare_prints_the_decision_for_the_workflow(dist, sts, tmp_path):
    assert run("plan", dist, endpoint=sts, TERRAFORM=str(FAKE)).returncode == 0
    reviewed = tmp_path / "reviewed"
    environment = {**os.environ, "DIST_DIR": str(dist)}

    def compare() -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "tools.deploy", "compare", "--env", "dev", "--reviewed", str(reviewed)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            env=environment,
        )

    result = compare()
    assert (result.returncode, result.stdout, result.stderr) == (
        0,
        "unreviewed\n",
        "dev: no plan was reviewed for this commit.\n",
    )
    reviewed.mkdir()
    shutil.copy(dist / "plan" / "dev.manifest.json", reviewed / "dev.manifest.json")
    assert compare().stdout == "reviewed\n"
    manifest = json.loads((reviewed / "dev.manifest.json").read_text())
    (reviewed / "dev.manifest.json").write_text(json.dumps({**manifest, "changes_sha256": "0" * 64}))
    assert compare().stdout == "unreviewed\n"
