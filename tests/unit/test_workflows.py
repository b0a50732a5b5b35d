"""The GitHub workflows: pinned actions, least permissions, no overlapping applies, and only
make targets that exist. (zizmor and the schema check run in `make lint`.)"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
FILES = sorted(WORKFLOWS.glob("*.yml"))
MAKEFILE = (ROOT / "Makefile").read_text()
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


def load(path: Path) -> dict:
    document = yaml.safe_load(path.read_text())
    document["on"] = document.pop(True, document.get("on"))  # YAML 1.1 reads the key `on` as true
    return document


def test_the_pipeline_is_there():
    assert {p.name for p in FILES} == {"ci.yml", "plan.yml", "deploy.yml", "apply.yml"}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_action_is_pinned_to_a_commit_with_its_version_beside_it(path):
    for line in path.read_text().splitlines():
        match = re.match(r"\s*(?:- )?uses: (\S+)(.*)$", line)
        if not match:
            continue
        target, rest = match.groups()
        if target.startswith("./.github/workflows/"):
            assert (ROOT / target).exists(), target
            continue
        assert PINNED.match(target), line
        assert re.match(r"\s+# v\d+\.\d+\.\d+$", rest), f"version comment missing: {line}"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_no_default_permissions_and_each_job_says_what_it_needs(path):
    document = load(path)
    assert document["permissions"] == {}
    for name, job in document["jobs"].items():
        assert "permissions" in job, f"{path.name}: job {name}"
        assert "write-all" not in str(job["permissions"])
        assert set(job["permissions"].values()) <= {"read", "write"}


def test_plan_jobs_get_exactly_oidc_read_and_pr_comments():
    plan = load(WORKFLOWS / "plan.yml")["jobs"]["plan"]
    assert plan["permissions"] == {"contents": "read", "id-token": "write", "pull-requests": "write"}
    assert plan["strategy"]["matrix"]["environment"] == ["dev", "prod"]


def test_applies_never_overlap_and_prod_waits_for_dev():
    apply = load(WORKFLOWS / "apply.yml")["jobs"]["apply"]
    assert apply["concurrency"] == {"group": "apply-${{ inputs.environment }}", "cancel-in-progress": False}
    assert apply["environment"] == "${{ inputs.environment }}"
    deploy = load(WORKFLOWS / "deploy.yml")
    assert deploy["on"]["push"]["branches"] == ["main"]
    assert set(deploy["jobs"]["prod"]["needs"]) == {"reviewed-plan", "dev"}


def test_ci_runs_the_suite_on_both_pythons():
    test = load(WORKFLOWS / "ci.yml")["jobs"]["test"]
    assert test["strategy"]["matrix"]["python"] == ["3.11", "3.13"]


def test_no_long_lived_aws_keys_anywhere():
    for path in FILES:
        text = path.read_text()
        assert "aws-access-key-id" not in text
        assert "AWS_SECRET_ACCESS_KEY" not in text
        assert "secrets: inherit" not in text


def test_workflows_call_only_make_targets_that_exist():
    targets = set(re.findall(r"^([a-z][a-z0-9-]*):", MAKEFILE, re.MULTILINE))
    called = {m for path in FILES for m in re.findall(r"\bmake ([a-z][a-z0-9-]*)", path.read_text())}
    assert called >= {"test", "build", "plan", "deploy", "smoke"}
    assert called <= targets, called - targets
