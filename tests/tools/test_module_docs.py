"""Each module's README tables are its variables and outputs, and say so again when they change."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from tools import module_docs

ROOT = Path(__file__).resolve().parents[2]


def test_every_module_readme_is_current():
    assert module_docs.main(["--check"]) == 0


def test_a_changed_description_or_a_new_variable_makes_the_readme_stale(tmp_path, monkeypatch):
    module = tmp_path / "modules" / "queue"
    shutil.copytree(module_docs.MODULES / "queue", module)
    monkeypatch.setattr(module_docs, "MODULES", tmp_path / "modules")
    monkeypatch.setattr(module_docs, "ROOT", tmp_path)
    assert module_docs.main(["--check"]) == 0
    variables = module / "variables.tf"
    variables.write_text(
        variables.read_text().replace('"Tags for the queues."', '"Tags for both queues | all of them."')
        + '\nvariable "extra" {\n  description = "A new input, required."\n  type        = list(number)\n}\n'
    )
    assert module_docs.main(["--check"]) == 1
    assert module_docs.main([]) == 0
    readme = (module / "README.md").read_text()
    assert "| `tags` | Tags for both queues \\| all of them. | `map(string)` | `{}` | no |" in readme
    assert "| `extra` | A new input, required. | `list(number)` | n/a | yes |" in readme
    assert readme.startswith("# queue\n\nAn SQS queue")  # the prose outside the markers stays
    assert module_docs.main(["--check"]) == 0


def test_pre_commit_hooks_run_the_locked_tools():
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    hooks = {hook["id"]: hook for repo in config["repos"] for hook in repo["hooks"]}
    assert set(hooks) == {"ruff", "ruff-format", "terraform-fmt", "module-docs"}
    for hook in hooks.values():
        program = hook["entry"].split()[0]
        assert program == "terraform" or (ROOT / program).exists(), hook
    result = subprocess.run(
        [sys.executable, "-m", "pre_commit", "validate-config", ".pre-commit-config.yaml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
