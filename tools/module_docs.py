"""The Inputs and Outputs tables of each Terraform module's README, from its variables and outputs.

    python -m tools.module_docs          # rewrite the tables (make docs, the pre-commit hook)
    python -m tools.module_docs --check  # exit 1, naming each README that is out of date

The tables sit between ``<!-- BEGIN_TF_DOCS -->`` and ``<!-- END_TF_DOCS -->``, in the layout of
terraform-docs' ``markdown table`` format (sorted by name; a default of ``n/a`` marks a required
input), so the descriptions in ``variables.tf`` and ``outputs.tf`` are the only ones to write.
Everything outside the markers is the module's own prose.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import hcl2

ROOT = Path(__file__).resolve().parent.parent
MODULES = ROOT / "terraform" / "modules"
BEGIN, END = "<!-- BEGIN_TF_DOCS -->", "<!-- END_TF_DOCS -->"


def _text(value: Any) -> str:
    """An HCL string as python-hcl2 gives it (quoted, escaped) as plain text."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return str(json.loads(value))
    return str(value)


def _plain(value: Any) -> Any:
    """python-hcl2's value with its strings unquoted, at any depth."""
    if isinstance(value, str):
        return value[2:-1] if value.startswith("${") and value.endswith("}") else _text(value)
    if isinstance(value, dict):
        return {_text(k): _plain(v) for k, v in value.items() if k != "__is_block__"}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _expression(value: Any) -> str:
    """A type or a default as a reader writes it: types and expressions as in HCL, values as JSON
    (as terraform-docs shows them)."""
    if isinstance(value, str) and not value.startswith('"'):
        return str(_plain(value))
    return json.dumps(_plain(value), separators=(", ", ": "))


def _blocks(directory: Path) -> dict[str, dict[str, dict[str, Any]]]:
    """The module's variable and output blocks, by kind and name (each file parsed once)."""
    found: dict[str, dict[str, dict[str, Any]]] = {"variable": {}, "output": {}}
    for path in sorted(directory.glob("*.tf")):
        with path.open(encoding="utf-8") as source:
            document = hcl2.load(source)
        for kind, named in found.items():
            for block in document.get(kind, []):
                named.update({_text(name): body for name, body in block.items()})
    return found


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def tables(directory: Path) -> str:
    """The generated section of the module in ``directory``, markers included."""
    blocks = _blocks(directory)
    lines = [BEGIN, "## Inputs", ""]
    lines += [
        "| Name | Description | Type | Default | Required |",
        "|------|-------------|------|---------|:--------:|",
    ]
    for name, body in sorted(blocks["variable"].items()):
        required = "default" not in body
        default = "n/a" if required else f"`{_cell(_expression(body['default']))}`"
        kind = f"`{_cell(_expression(body.get('type', 'any')))}`"
        description = _cell(_text(body.get("description", "")))
        lines.append(f"| `{name}` | {description} | {kind} | {default} | {'yes' if required else 'no'} |")
    lines += ["", "## Outputs", "", "| Name | Description |", "|------|-------------|"]
    for name, body in sorted(blocks["output"].items()):
        lines.append(f"| `{name}` | {_cell(_text(body.get('description', '')))} |")
    lines.append(END)
    return "\n".join(lines)


def render(readme: str, generated: str) -> str:
    """``readme`` with its generated section replaced (or appended, the first time)."""
    if BEGIN in readme and END in readme:
        head, rest = readme.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        return head + generated + tail
    return readme.rstrip("\n") + "\n\n" + generated + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.module_docs", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a README is out of date")
    args = parser.parse_args(argv)
    stale = []
    for directory in sorted(p.parent for p in MODULES.glob("*/variables.tf")):
        readme = directory / "README.md"
        current = readme.read_text(encoding="utf-8") if readme.exists() else f"# {directory.name}\n"
        wanted = render(current, tables(directory))
        if wanted != current:
            stale.append(readme.relative_to(ROOT))
            if not args.check:
                readme.write_text(wanted, encoding="utf-8")
    for path in stale:
        print(f"{path}: {'out of date (make docs)' if args.check else 'tables rewritten'}")
    return 1 if stale and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
