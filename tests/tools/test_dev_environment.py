"""The dev environment is what the README says: one venv in which the layer's package imports."""

from __future__ import annotations

import os
import subprocess
import sys


def test_the_producer_cli_runs_from_any_directory_with_the_project_venv(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run(
        [sys.executable, "-m", "tributary_cli.produce", "--help"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert "--stream" in out.stdout


def test_every_package_of_the_repository_imports_from_any_directory(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    packages = [
        "tributary",
        "stream_processor.handler",
        "code_sync.handler",
        "stack.terraform",
        "local.runtime",
        "tools.build",
        "bench.processor",
    ]
    out = subprocess.run(
        [sys.executable, "-c", "import importlib, sys; [importlib.import_module(m) for m in sys.argv[1:]]", *packages],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr


def test_the_import_contracts_hold_and_would_catch_a_wrong_import(tmp_path):
    """``make lint`` runs these contracts; a copy of the tree with local importing tools breaks one."""
    import shutil
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    linter = Path(sys.executable).with_name("lint-imports")
    kept = subprocess.run([str(linter), "--no-cache", "--no-logo"], cwd=root, capture_output=True, text=True)
    assert kept.returncode == 0, kept.stdout + kept.stderr
    assert "0 broken" in kept.stdout
    copy = tmp_path / "tree"
    shutil.copytree(root, copy, ignore=shutil.ignore_patterns(".venv*", "dist", ".git", ".terraform", "node_modules"))
    (copy / "local" / "wrong.py").write_text("from tools import build  # noqa: F401\n")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(copy / "layers" / "common"), str(copy / "functions"), str(copy)]),
    }
    broken = subprocess.run([str(linter), "--no-cache", "--no-logo"], cwd=copy, capture_output=True, text=True, env=env)
    assert broken.returncode != 0
    assert "The local runtime and the tools never import each other BROKEN" in broken.stdout


def test_every_function_is_a_package_and_in_every_import_contract():
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    functions = sorted(p.parent.name for p in (root / "functions").glob("*/function.json"))
    project = tomllib.loads((root / "pyproject.toml").read_text())
    setuptools, linter = project["tool"]["setuptools"], project["tool"]["importlinter"]
    assert set(functions) <= set(setuptools["packages"])
    assert all(setuptools["package-dir"][name] == f"functions/{name}" for name in functions)
    assert set(functions) <= set(linter["root_packages"])
    contracts = {c["name"]: c for c in linter["contracts"]}
    assert set(functions) <= set(contracts["The layer imports nothing else of the repository"]["forbidden_modules"])
    listed = [
        c.get("source_modules") or c.get("modules")
        for c in contracts.values()
        if c["name"].startswith(("Functions import", "No function"))
    ]
    assert len(listed) == 2
    assert all(sorted(modules) == functions for modules in listed)
