"""Every metric the stack's alarms and dashboard read is named in full where a function emits it.

CloudWatch accepts an alarm on a metric nobody publishes: it just never fires. So the names
Terraform watches in the ``tributary`` namespace must each appear, spelled out, in a function's
``metrics.publish`` call, and no function builds a metric name from pieces.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TERRAFORM = sorted((ROOT / "terraform").rglob("*.tf"))
FUNCTION_SOURCES = sorted((ROOT / "functions").glob("*/*.py"))


def watched_names() -> set[str]:
    """Metric names of the ``tributary`` namespace that an alarm or a dashboard widget reads."""
    names: set[str] = set()
    for path in TERRAFORM:
        text = path.read_text()
        names |= set(re.findall(r'namespace\s*=\s*"tributary",\s*metric\s*=\s*"(\w+)"', text))
        names |= set(re.findall(r'\[\s*"tributary",\s*"(\w+)"', text))
        # The integrity alarms: `metrics = ["A", "B"]` lists of names in the root module.
        for listed in re.findall(r'\bmetrics\s*=\s*\[((?:\s*"\w+"\s*,?)+)\]', text):
            names |= set(re.findall(r'"(\w+)"', listed))
    return names


def _publishers() -> list[tuple[Path, ast.Call]]:
    calls = []
    for path in FUNCTION_SOURCES:
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "metrics"
            ):
                calls.append((path, node))
    return calls


def published_names() -> set[str]:
    """Names given as literal keys (or keywords) in the functions' metric calls and the helpers
    those calls go through."""
    names: set[str] = set()
    helpers: set[str] = set()
    for path in FUNCTION_SOURCES:
        tree = ast.parse(path.read_text())
        for function in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)):
            calls = [
                n
                for n in ast.walk(function)
                if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "publish"
            ]
            if calls:
                helpers.add(function.name)
                for call in calls:
                    for arg in call.args[:1]:
                        if isinstance(arg, ast.Dict):
                            names |= {k.value for k in arg.keys if isinstance(k, ast.Constant)}
        for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
            if isinstance(call.func, ast.Name) and call.func.id in helpers:
                names |= {kw.arg for kw in call.keywords if kw.arg}
    return names


def test_the_stack_watches_metrics_of_its_own_namespace():
    watched = watched_names()
    assert {"RecordsQuarantined", "RecordsWritten", "AccountingMismatch", "ChangesParked", "ObjectsFailed"} <= watched


@pytest.mark.parametrize("name", sorted(watched_names()))
def test_each_watched_metric_is_published_by_name(name):
    assert name in published_names(), f"{name} is watched by Terraform but no function publishes it by that name"


def test_functions_publish_through_one_call_with_literal_names():
    calls = _publishers()
    assert calls
    for path, call in calls:
        where = f"{path.relative_to(ROOT)}:{call.lineno}"
        assert isinstance(call.func, ast.Attribute)
        assert call.func.attr == "publish", f"{where}: metrics.{call.func.attr}; functions use metrics.publish"
        counts = call.args[0]
        assert isinstance(counts, ast.Dict), f"{where}: the metrics are a dict literal"
        for key in counts.keys:
            if key is None:  # ``**more``: keyword arguments of the helper, checked at its callers
                continue
            assert isinstance(key, ast.Constant), f"{where}: a metric name built at run time"
            assert isinstance(key.value, str)
            assert re.fullmatch(r"[A-Z][A-Za-z]+", key.value), f"{where}: {key.value!r}"
