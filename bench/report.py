"""Figures, the table ``make bench`` prints, and ``dist/bench.json``."""

from __future__ import annotations

import json
import operator
import platform
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

_OPS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt}


@dataclass(frozen=True, slots=True)
class Compared:
    """A figure a result was computed from or is set against."""

    name: str
    figure: float
    unit: str


@dataclass(frozen=True, slots=True)
class Result:
    """One headline figure: usually a ratio of two things measured in the same run."""

    name: str
    figure: float
    unit: str
    compared_with: tuple[Compared, ...] = ()
    goal: str | None = None  # for example ">= 0.75"
    note: str = ""

    @property
    def met(self) -> bool | None:
        """Whether the figure meets its goal (None when it has none)."""
        if self.goal is None:
            return None
        op, threshold = self.goal.split()
        return _OPS[op](self.figure, float(threshold))

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["compared_with"] = [asdict(c) for c in self.compared_with]
        out["met"] = self.met
        return out


@dataclass(slots=True)
class Section:
    """The results of one benchmark and the detail behind them."""

    title: str
    results: list[Result] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)


def _number(value: float) -> str:
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    if magnitude >= 0.01:
        return f"{value:.3f}"
    return f"{value:.3g}"


def table(sections: list[Section]) -> str:
    """The results as a plain-text table, one block per benchmark."""
    rows: list[tuple[str, ...]] = []
    for section in sections:
        rows.append((section.title, "", "", "", ""))
        for result in section.results:
            met = "" if result.met is None else ("met" if result.met else "MISSED")
            goal = f"{result.goal} {met}" if result.goal else ""
            against = "; ".join(f"{c.name} {_number(c.figure)} {c.unit}" for c in result.compared_with)
            rows.append(("  " + result.name, _number(result.figure), result.unit, goal, against))
    header = ("benchmark", "figure", "unit", "goal", "from / against")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    lines = []
    for row in [header, *rows]:
        cells = [row[0].ljust(widths[0]), row[1].rjust(widths[1]), row[2].ljust(widths[2]), row[3].ljust(widths[3])]
        lines.append("  ".join([*cells, row[4]]).rstrip())
    lines.insert(1, "-" * min(160, max(len(line) for line in lines)))
    return "\n".join(lines)


def environment() -> dict[str, Any]:
    """Where the figures were measured."""
    from tributary import json_codec

    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "machine": platform.machine(),
        "processor": _cpu_model(),
        "json_library": json_codec.BACKEND if hasattr(json_codec, "BACKEND") else "json",
    }


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def write_json(sections: list[Section], settings: dict[str, Any], path: Path) -> None:
    """``dist/bench.json``: every result with the figures it is compared with, and the detail."""
    document = {
        "version": 1,
        "environment": environment(),
        "settings": settings,
        "results": [r.as_dict() for s in sections for r in s.results],
        "detail": {s.title: s.detail for s in sections if s.detail},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")
