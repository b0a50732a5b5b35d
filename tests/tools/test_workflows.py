"""The GitHub workflows: pinned actions, least permissions, one queue per environment, a fresh
plan before every apply and an approval for one nobody reviewed, one Terraform version, and
only make targets that exist. (zizmor and the schema check run in `make lint`.)"""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

import pytest
import yaml

from tools import deploy

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
FILES = sorted(WORKFLOWS.glob("*.yml"))
MAKEFILE = (ROOT / "Makefile").read_text()
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
TERRAFORM_VERSION_STEP = "${{ steps.terraform-version.outputs.version }}"


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


def test_each_environment_is_one_queue_and_prod_deploys_what_dev_deployed():
    workflow = load(WORKFLOWS / "deploy.yml")
    assert workflow["on"]["push"]["branches"] == ["main"]
    jobs = workflow["jobs"]
    for name, job in jobs.items():
        # Every deployment goes through apply.yml, holding its environment from plan to smoke test;
        # waiting runs queue instead of replacing each other.
        assert job["uses"] == "./.github/workflows/apply.yml", name
        environment = job["with"]["environment"]
        assert job["concurrency"] == {"group": f"deploy-{environment}", "cancel-in-progress": False, "queue": "max"}, (
            name
        )
    assert jobs["dev"]["with"]["commit"] == ""  # the newest main when its turn comes
    assert jobs["prod"]["needs"] == "dev"
    assert jobs["prod"]["with"]["commit"] == "${{ needs.dev.outputs.commit }}"
    assert jobs["by-hand"]["with"]["commit"] == ""
    assert "github.ref == 'refs/heads/main'" in jobs["by-hand"]["if"]
    assert "concurrency" not in workflow  # a run waiting for prod's reviewers does not hold up dev
    apply = load(WORKFLOWS / "apply.yml")
    assert apply["on"]["workflow_call"]["outputs"]["commit"]["value"] == "${{ jobs.plan.outputs.commit }}"
    assert not any("concurrency" in job for job in apply["jobs"].values())  # the callers hold the queue


def test_every_apply_applies_a_fresh_plan_approved_unless_it_is_the_reviewed_one():
    jobs = load(WORKFLOWS / "apply.yml")["jobs"]
    plan, approve, apply = jobs["plan"], jobs["approve"], jobs["apply"]
    # The plan: the read-only role, the commit given or the newest main, compared with the reviewed plan.
    assert plan["environment"] == "${{ inputs.environment }}-plan"
    steps = plan["steps"]
    assert steps[0]["with"]["ref"] == "${{ inputs.commit || 'main' }}"
    runs = [step.get("run", "") for step in steps]
    assert any('make plan ENV="$ENVIRONMENT"' in run for run in runs)
    compare = next(step for step in steps if step.get("id") == "compare")
    assert "tools.deploy compare" in compare["run"]
    assert "--reviewed reviewed/plan" in compare["run"]
    download = next(step for step in steps if step.get("uses", "").startswith("actions/download-artifact@"))
    assert download["with"]["path"] == "reviewed"  # the reviewed plan is only compared with, never applied
    assert "${{ vars.TERRAFORM_PLAN_ROLE_ARN }}" in json.dumps(plan)
    assert "TERRAFORM_DEPLOY_ROLE_ARN" not in json.dumps(plan)
    # The approval: only for a plan nobody reviewed, in an environment that holds nothing, and that
    # has reviewers (GitHub would create a missing one without any).
    check = next(step for step in steps if step.get("name") == "the approval environment has required reviewers")
    assert check["if"] == "steps.compare.outputs.decision == 'unreviewed'"
    assert check["env"]["APPROVAL_ENVIRONMENT"] == approve["environment"]
    assert "required_reviewers" in check["with"]["script"]
    assert steps.index(check) < steps.index(next(s for s in steps if s.get("uses", "").startswith("actions/upload")))
    assert approve["if"] == "needs.plan.outputs.decision == 'unreviewed'"
    assert approve["environment"] == "${{ inputs.environment }}-replan"
    assert approve["permissions"] == {}
    assert all("uses" not in step for step in approve["steps"])
    # The apply: exactly the run's own plan, of the commit planned, reviewed or approved.
    assert apply["needs"] == ["plan", "approve"]
    condition = " ".join(apply["if"].split())
    assert condition == (
        "!cancelled() && needs.plan.result == 'success' && (needs.plan.outputs.decision == 'reviewed'"
        " || needs.approve.result == 'success')"
    )
    assert apply["environment"] == "${{ inputs.environment }}"
    assert apply["permissions"] == {"contents": "read", "id-token": "write"}  # no other run's artifacts
    assert apply["steps"][0]["with"]["ref"] == "${{ needs.plan.outputs.commit }}"
    download = next(step for step in apply["steps"] if step.get("uses", "").startswith("actions/download-artifact@"))
    assert download["with"] == {"name": "${{ needs.plan.outputs.artifact }}", "path": "dist"}
    runs = [step.get("run", "") for step in apply["steps"]]
    assert 'make deploy ENV="$ENVIRONMENT" PYTHON=python' in runs  # the saved plan, never PLAN_AND_APPLY
    assert runs.index('make deploy ENV="$ENVIRONMENT" PYTHON=python') < runs.index(
        'make smoke ENV="$ENVIRONMENT" PYTHON=python'
    )


def test_the_compare_decisions_are_the_ones_the_workflow_branches_on():
    text = (WORKFLOWS / "apply.yml").read_text()
    decisions = set(re.findall(r"decision == '(\w+)'", text))
    assert decisions == {"reviewed", "unreviewed"}
    assert {
        deploy.review({"changes": 0}, None)[0],
        deploy.review({"changes": 1}, None)[0],
        deploy.review({"changes": 1, "changes_sha256": "x"}, {"changes_sha256": "x"})[0],
    } == {"nothing", "unreviewed", "reviewed"}


def test_ci_builds_in_two_checkouts_in_different_directories_and_compares_them():
    job = load(WORKFLOWS / "ci.yml")["jobs"]["reproducible-build"]
    paths = [step["with"]["path"] for step in job["steps"] if step.get("uses", "").startswith("actions/checkout@")]
    assert len(paths) == 2
    assert len(set(paths)) == 2
    assert not paths[0].startswith(paths[1])
    assert not paths[1].startswith(paths[0])
    script = job["steps"][-1]["run"]
    for path in paths:
        assert f'make -C {path} build ARCH="$arch" PYTHON=python' in script  # each with its own .venv
    assert "sha256sum --check --strict" in script


# --- one Terraform version ----------------------------------------------------------------------


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(n) for n in text.split("."))


def _satisfies(version: str, constraint: str) -> bool:
    """A Terraform version constraint of comparisons (">= 1.10.0, < 2.0.0"), as in the versions.tf files."""
    checks = {
        ">=": lambda a, b: a >= b,
        ">": lambda a, b: a > b,
        "<=": lambda a, b: a <= b,
        "<": lambda a, b: a < b,
        "=": lambda a, b: a == b,
        "!=": lambda a, b: a != b,
    }
    for part in constraint.split(","):
        operator, bound = re.fullmatch(r"\s*(>=|<=|!=|>|<|=)?\s*([\d.]+)\s*", part).groups()
        if not checks[operator or "="](_version(version), _version(bound)):
            return False
    return True


def test_the_terraform_version_is_set_once_and_meets_required_version():
    version = (ROOT / ".terraform-version").read_text().strip()
    assert re.fullmatch(r"\d+\.\d+\.\d+", version)
    assert deploy.pinned_terraform() == version  # make plan and make deploy refuse another
    for versions_tf in (ROOT / "terraform" / "versions.tf", ROOT / "terraform" / "bootstrap" / "versions.tf"):
        constraint = re.search(r'required_version\s*=\s*"([^"]+)"', versions_tf.read_text()).group(1)
        assert _satisfies(version, constraint), (versions_tf, constraint)
    assert _satisfies("1.11.4", ">= 1.10.0, < 2.0.0")
    assert not _satisfies("2.0.0", ">= 1.10.0, < 2.0.0")


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_terraform_setup_reads_the_version_file(path):
    assert "TERRAFORM_VERSION" not in path.read_text()
    for name, job in load(path)["jobs"].items():
        steps = job.get("steps", [])
        for i, step in enumerate(steps):
            if step.get("uses", "").startswith("hashicorp/setup-terraform@"):
                assert step["with"]["terraform_version"] == TERRAFORM_VERSION_STEP, f"{path.name}: {name}"
                reader = next(s for s in steps[:i] if s.get("id") == "terraform-version")
                assert reader["run"] == 'echo "version=$(cat .terraform-version)" >> "$GITHUB_OUTPUT"'


def test_plan_and_apply_both_install_terraform_from_the_file():
    for path, job in (("plan.yml", "plan"), ("apply.yml", "plan"), ("apply.yml", "apply")):
        steps = load(WORKFLOWS / path)["jobs"][job]["steps"]
        assert any(step.get("with", {}).get("terraform_version") == TERRAFORM_VERSION_STEP for step in steps), path


# --- branch protection ----------------------------------------------------------------------------


def _check_names() -> set[str]:
    """What GitHub names each job's check: its name, with the matrix filled in."""
    names = set()
    for path in (WORKFLOWS / "ci.yml", WORKFLOWS / "plan.yml"):
        for key, job in load(path)["jobs"].items():
            name = job.get("name", key)
            matrix = job.get("strategy", {}).get("matrix", {})
            for values in itertools.product(*matrix.values()):
                rendered = name
                for axis, value in zip(matrix, values, strict=True):
                    rendered = rendered.replace(f"${{{{ matrix.{axis} }}}}", str(value))
                names.add(rendered)
    return names


def test_branch_protection_requires_every_ci_and_plan_check_on_an_up_to_date_branch():
    readme = (ROOT / "terraform" / "bootstrap" / "README.md").read_text()
    call = re.search(
        r"gh api --method PUT 'repos/\{owner\}/\{repo\}/branches/main/protection' --input - <<'EOF'\n"
        r"(.*?)\nEOF\n",
        readme,
        re.DOTALL,
    )
    assert call, "the bootstrap README gives the gh api call that protects main"
    protection = json.loads(call.group(1))
    assert protection["required_status_checks"]["strict"] is True
    assert {c["context"] for c in protection["required_status_checks"]["checks"]} == _check_names()
    assert protection["required_pull_request_reviews"]["required_approving_review_count"] >= 1


def test_ci_runs_the_suite_on_both_pythons():
    test = load(WORKFLOWS / "ci.yml")["jobs"]["test"]
    assert test["strategy"]["matrix"]["python"] == ["3.11", "3.13"]


def test_no_long_lived_aws_keys_anywhere():
    for path in FILES:
        text = path.read_text()
        assert "aws-access-key-id" not in text
        assert "AWS_SECRET_ACCESS_KEY" not in text
        assert "secrets: inherit" not in text
        assert "secrets." not in text
    for path in FILES:
        for job in load(path)["jobs"].values():
            for step in job.get("steps", []):
                if step.get("uses", "").startswith("aws-actions/configure-aws-credentials@"):
                    assert set(step["with"]) == {"role-to-assume", "role-session-name", "aws-region"}  # OIDC only
                    assert job["permissions"]["id-token"] == "write"


def test_workflows_call_only_make_targets_that_exist():
    targets = set(re.findall(r"^([a-z][a-z0-9-]*):", MAKEFILE, re.MULTILINE))
    called = {m for path in FILES for m in re.findall(r"\bmake (?:-C \S+ )?([a-z][a-z0-9-]*)", path.read_text())}
    assert called >= {"test", "build", "plan", "deploy", "smoke"}
    assert called <= targets, called - targets
