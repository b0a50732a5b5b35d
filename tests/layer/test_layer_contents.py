"""The layer holds what the functions import at run time, and its ``__all__`` says what that is."""

from __future__ import annotations

import ast
import pkgutil
from pathlib import Path

import grimp
import pytest

import tributary
import tributary_cli

ROOT = Path(__file__).resolve().parents[2]
LAYER = ROOT / "layers" / "common" / "tributary"
FUNCTIONS = sorted(p.parent.name for p in (ROOT / "functions").glob("*/function.json"))


def _modules(package) -> set[str]:
    return {info.name for info in pkgutil.iter_modules(package.__path__) if not info.name.startswith("_")}


def test_all_names_every_module_of_the_layer():
    assert sorted(tributary.__all__) == sorted(_modules(tributary))


def test_every_layer_module_is_imported_by_some_function():
    """Nothing ships in every function's layer that no function uses (the clients live in cli/)."""
    graph = grimp.build_graph("tributary", *FUNCTIONS)
    reached: set[str] = set()
    for function in FUNCTIONS:
        for module in graph.find_descendants(function) | {function}:
            reached |= graph.find_upstream_modules(module)
    used = {name.split(".")[1] for name in reached if name.startswith("tributary.")}
    assert FUNCTIONS
    assert _modules(tributary) - used == set()


@pytest.mark.parametrize("path", sorted(LAYER.glob("*.py")), ids=lambda p: p.name)
def test_no_layer_module_is_a_command(path):
    tree = ast.parse(path.read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert "argparse" not in imported
    main_guards = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Compare) and isinstance(node.left, ast.Name) and node.left.id == "__name__"
    ]
    assert main_guards == []


def test_the_clients_are_a_package_of_their_own_with_entry_points():
    from tributary_cli import produce, tables

    assert sorted(tributary_cli.__all__) == sorted(_modules(tributary_cli))
    assert callable(produce.main)
    assert callable(tables.main)
    assert not (LAYER / "produce.py").exists()
