"""The local topology and the Terraform stack name the same resources with the same settings."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from stack import declarations, topology
from stack import terraform as tf

ROOT = Path(__file__).resolve().parents[2]
TERRAFORM = ROOT / "terraform"
# The root stack's files (main.tf, lake_query.tf, ...), as one text.
MAIN = "\n".join(path.read_text() for path in sorted(TERRAFORM.glob("*.tf")))
VARIABLES = (TERRAFORM / "variables.tf").read_text()


def _locals_line(name: str) -> str:
    match = re.search(rf"^  {name}\s+=\s+(.+)$", MAIN, re.MULTILINE)
    assert match, f"main.tf defines local.{name}"
    return match.group(1)


def _block(header: str) -> str:
    """The text of one top-level block of the root stack, from its header to its closing brace."""
    start = MAIN.index(header + " {")
    return MAIN[start : MAIN.index("\n}\n", start) + 2]


def _function_name_expression() -> str:
    block = MAIN[MAIN.index('module "function" {') :]
    return re.search(r"^\s+name\s+=\s+(.+)$", block, re.MULTILINE).group(1)


def evaluate_terraform_names(tmp_path: Path, prefix: str, account: str, region: str, functions: list[str]) -> dict:
    """Apply a provider-less configuration built from main.tf's own naming expressions."""
    shutil.copy(TERRAFORM / "topology.json", tmp_path / "topology.json")
    function_expr = _function_name_expression().replace("each.key", "fn")
    (tmp_path / "main.tf").write_text(f"""
locals {{
  prefix    = "{prefix}"
  account_id = "{account}"
  topology  = {_locals_line("topology")}
  naming    = {_locals_line("naming")}
  name_vars = {{ prefix = local.prefix, account_id = local.account_id, region = "{region}" }}
  names     = {_locals_line("names")}
}}
output "names" {{ value = local.names }}
output "functions" {{ value = {{ for fn in {json.dumps(functions)} : fn => {function_expr} }} }}
output "layer" {{ value = {_layer_name_expression()} }}
""")
    env = {"TF_DATA_DIR": str(tmp_path / ".terraform")}
    for command in (
        ["init", "-no-color", "-input=false"],
        ["apply", "-no-color", "-auto-approve", "-input=false", f"-state={tmp_path / 'state'}"],
    ):
        code, output = tf.run(command, tmp_path, env)
        assert code == 0, output
    code, output = tf.run(["output", "-json", f"-state={tmp_path / 'state'}"], tmp_path, env)
    assert code == 0, output
    return {k: v["value"] for k, v in json.loads(output[output.index("{") :]).items()}


def _layer_name_expression() -> str:
    block = MAIN[MAIN.index('module "layer" {') :]
    return re.search(r"^\s+name\s+=\s+(.+)$", block, re.MULTILINE).group(1)


@pytest.mark.parametrize("environment", ["local", "dev", "prod"])
def test_local_and_terraform_name_every_resource_the_same(tmp_path, environment):
    local = topology.load(environment)
    evaluated = evaluate_terraform_names(
        tmp_path, local.prefix, topology.ACCOUNT_ID, local.region, sorted(local.functions)
    )
    assert evaluated["names"] == {k: r.name for k, r in local.resources.items()}
    assert evaluated["functions"] == local.function_names
    assert evaluated["layer"] == local.layer_name


def test_every_topology_resource_is_deployed_by_name_in_the_stack():
    resources = topology.load("local").resources
    # A name may also come through another resource's setting, e.g. the mirror's source_repository.
    indirect = {
        resources[owner].settings[setting]
        for owner, setting in re.findall(
            r"^\s+[a-z_]*name\s+=\s+local\.names\[local\.topology\.(\w+)\.(\w+)\]\s*$", MAIN, re.MULTILINE
        )
    }
    assert indirect == {"repo1", "repo2"}
    # A function's schedules are deployed for_each over what the functions declare (schedules.tf).
    scheduled = {rule for spec in declarations.load_all().values() for rule in spec.schedules}
    schedule_rule = _block('resource "aws_cloudwatch_event_rule" "schedule"')
    assert re.search(r"^\s+name\s+=\s+local\.names\[each\.key\]\s*$", schedule_rule, re.MULTILINE)
    for logical in resources:
        assert (
            logical in indirect
            or logical in scheduled
            or re.search(rf"^\s+[a-z_]*name\s+=\s+local\.names\.{logical}\s*$", MAIN, re.MULTILINE)
        ), logical


def test_event_rules_target_what_the_stack_targets():
    """The push rule's pattern and the schedules come from topology.json in both."""
    resources = topology.load("local").resources
    rules = {k: r for k, r in resources.items() if r.kind == "event_rule"}
    assert set(rules) == {"git_mirror_push", "git_mirror_nightly", "code_sync_reconcile", "lake_compaction"}
    assert "push_event_pattern     = local.topology.git_mirror_push.event_pattern" in MAIN
    assert "schedule_expression    = var.git_mirror_schedule" in MAIN
    rule = _block('resource "aws_cloudwatch_event_rule" "schedule"')
    assert "for_each = local.schedules" in rule
    assert "schedule_expression = each.value.expression" in rule
    assert "try(local.declarations[function].schedules, {})" in MAIN
    assert rules["git_mirror_nightly"].settings["schedule_variable"] == "git_mirror_schedule"
    # A function's own schedules are declared with its trigger, in function.json.
    assert rules["code_sync_reconcile"].settings["schedule_function"] == "code_sync"
    assert declarations.load_all()["code_sync"].schedules == {"code_sync_reconcile": "cron(30 2 * * ? *)"}
    scheduled = {rule for spec in declarations.load_all().values() for rule in spec.schedules}
    assert scheduled == {k for k, r in rules.items() if "schedule_function" in r.settings}
    for rule in scheduled:
        assert rules[rule].settings["schedule_function"] in declarations.load_all()
    assert rules["git_mirror_push"].settings["event_pattern"]["detail"]["event"] == [
        "referenceCreated",
        "referenceUpdated",
        "referenceDeleted",
    ]
    module = (ROOT / "terraform" / "modules" / "git_mirror" / "main.tf").read_text()
    assert "merge(var.push_event_pattern, { resources = [aws_codecommit_repository.source.arn] })" in module


def test_function_environment_gets_the_same_attribute_locally_and_in_terraform():
    resources = re.search(r"^  resources = \{(.*?)\n  \}", MAIN, re.DOTALL | re.MULTILINE).group(1)
    bound = dict(re.findall(r"^\s*([a-z_]+)\s*=\s*module\.[a-z_]+\.([a-z_]+)\s*$", resources, re.MULTILINE))
    local = topology.load("local")
    for logical, attribute in bound.items():
        kind = local.resource(logical).kind
        assert topology.ENVIRONMENT_ATTRIBUTE[kind] == attribute, logical


@pytest.mark.parametrize("environment", ["local", "dev", "prod"])
def test_environment_files_set_only_declared_variables(environment):
    declared = set(re.findall(r'^variable "([a-z_0-9]+)"', VARIABLES, re.MULTILINE))
    values = json.loads((TERRAFORM / "environments" / f"{environment}.tfvars.json").read_text())
    assert set(values) <= declared
    assert "environment" in values


def test_local_runtime_reads_the_stream_settings_terraform_uses():
    source = Path(topology.__file__).read_text()
    for variable in re.findall(r'variables(?:\.get\(|\[)"([a-z_]+)"', source):
        assert f'variable "{variable}"' in VARIABLES, variable
    assert "var.stream_shard_count" in MAIN
    assert "var.stream_on_demand" in MAIN
    assert "var.stream_retention_hours" in MAIN


def test_queue_settings_come_from_the_topology_in_both():
    local = topology.load("local")
    for logical, resource in local.resources.items():
        if resource.kind == "queue" and "max_receive_count" in resource.settings:
            assert f"local.topology.{logical}.max_receive_count" in MAIN, logical


@pytest.mark.parametrize(("extra", "accepted"), [(0, True), (1, True), (-1, False), (0.5, False)])
def test_other_readers_of_table1s_stream_are_a_whole_count(tmp_path, extra, accepted):
    """The variable's own validation, evaluated by Terraform (no provider needed); the limit of two
    readers, counted with the ones the stack declares, is terraform/tests/stack.tftest.hcl's."""
    shutil.copy(TERRAFORM / "variables.tf", tmp_path / "variables.tf")
    env = {"TF_DATA_DIR": str(tmp_path / ".terraform")}
    code, output = tf.run(["init", "-no-color", "-input=false"], tmp_path, env)
    assert code == 0, output
    code, output = tf.run(
        [
            "plan",
            "-no-color",
            "-input=false",
            "-var",
            "environment=dev",
            "-var",
            f"table1_extra_stream_readers={extra}",
        ],
        tmp_path,
        env,
    )
    assert (code == 0) == accepted, output
