"""The one declaration of each function (``functions/<name>/function.json``), loaded and checked.

Terraform reads the same files with ``jsondecode(file(...))``; the Makefile and the
local runtime read them through this module.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS_DIR = ROOT / "functions"

ARCHITECTURES = ("arm64", "x86_64")
RUNTIME = "python3.13"
TRIGGER_TYPES = ("kinesis", "dynamodb", "sqs", "http", "schedule")
STARTING_POSITIONS = ("TRIM_HORIZON", "LATEST")
_ENV_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
_SCHEDULE = re.compile(r"(cron|rate)\(.+\)")
_RESERVED_ENV = {"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_LAMBDA_FUNCTION_NAME", "_HANDLER", "LAMBDA_TASK_ROOT"}


class DeclarationError(ValueError):
    """A function.json that Terraform, the build or the runtime would reject."""


@dataclass(frozen=True)
class Trigger:
    """How a function is invoked, with the event source mapping settings."""

    type: str
    source: str
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FunctionSpec:
    """One function's declaration."""

    name: str
    directory: Path
    description: str
    handler: str
    runtime: str
    architectures: tuple[str, ...]
    memory_mb: int
    timeout_s: int
    ephemeral_storage_mb: int
    reserved_concurrency: int | None
    environment: dict[str, str]
    resource_environment: dict[str, str]
    trigger: Trigger
    # Scheduled invocations besides the trigger: EventBridge rule (a topology.json resource) -> expression.
    schedules: dict[str, str] = field(default_factory=dict)

    @property
    def package(self) -> str:
        return self.name


def _require(cond: bool, path: Path, message: str) -> None:
    if not cond:
        raise DeclarationError(f"{path}: {message}")


def _int(raw: dict[str, Any], key: str, low: int, high: int, path: Path) -> int:
    value = raw.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise DeclarationError(f"{path}: {key} must be an integer")
    _require(low <= value <= high, path, f"{key} must be between {low} and {high}, got {value}")
    return value


def _check_trigger(raw: Any, path: Path) -> Trigger:
    _require(isinstance(raw, dict), path, "trigger must be an object")
    ttype = raw.get("type")
    _require(ttype in TRIGGER_TYPES, path, f"trigger.type must be one of {TRIGGER_TYPES}")
    source = raw.get("source")
    _require(isinstance(source, str) and bool(source), path, "trigger.source names the resource that invokes it")
    settings = {k: v for k, v in raw.items() if k not in ("type", "source")}
    if ttype in ("kinesis", "dynamodb"):
        _require(
            settings.get("starting_position") in STARTING_POSITIONS,
            path,
            f"trigger.starting_position must be one of {STARTING_POSITIONS}",
        )
        _int(settings, "batch_size", 1, 10_000, path)
        _int(settings, "maximum_batching_window_s", 0, 300, path)
        _int(settings, "parallelization_factor", 1, 10, path)
        _int(settings, "maximum_retry_attempts", -1, 10_000, path)
        age = settings.get("maximum_record_age_s")
        _require(
            age == -1 or (isinstance(age, int) and 60 <= age <= 604_800),
            path,
            "trigger.maximum_record_age_s must be -1 or between 60 and 604800",
        )
        _require(
            isinstance(settings.get("bisect_batch_on_function_error"), bool),
            path,
            "trigger.bisect_batch_on_function_error must be true or false",
        )
        _require(
            settings.get("report_batch_item_failures") is True,
            path,
            "stream triggers report batch item failures (report_batch_item_failures: true)",
        )
        _require(
            isinstance(settings.get("on_failure"), str), path, "stream triggers name an on_failure destination queue"
        )
    if ttype == "sqs":
        _int(settings, "batch_size", 1, 10_000, path)
        _int(settings, "maximum_batching_window_s", 0, 300, path)
        _require(
            settings.get("report_batch_item_failures") is True,
            path,
            "queue triggers report batch item failures (report_batch_item_failures: true)",
        )
    return Trigger(ttype, source, settings)


def load(directory: Path) -> FunctionSpec:
    """Read and check ``<directory>/function.json``."""
    path = directory / "function.json"
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DeclarationError(f"{path}: {exc}") from None
    _require(isinstance(raw, dict), path, "the declaration is a JSON object")
    allowed = {
        "description",
        "handler",
        "runtime",
        "architectures",
        "memory_mb",
        "timeout_s",
        "ephemeral_storage_mb",
        "reserved_concurrency",
        "environment",
        "resource_environment",
        "trigger",
        "schedules",
    }
    unknown = sorted(set(raw) - allowed)
    _require(not unknown, path, f"unknown key(s) {unknown}")
    name = directory.name
    _require(
        re.fullmatch(r"[a-z][a-z0-9_]*", name) is not None,
        path,
        "a function directory name is a Python package name (lower case, digits, _)",
    )
    handler = raw.get("handler")
    _require(
        isinstance(handler, str) and handler.startswith(f"{name}.") and handler.count(".") >= 2,
        path,
        f"handler must be '{name}.<module>.<function>'",
    )
    module = handler.rsplit(".", 1)[0].split(".", 1)[1].replace(".", "/")
    _require((directory / f"{module}.py").is_file(), path, f"handler module {module}.py does not exist")
    _require(raw.get("runtime") == RUNTIME, path, f"runtime must be {RUNTIME}")
    arches = raw.get("architectures")
    _require(
        isinstance(arches, list) and bool(arches) and all(a in ARCHITECTURES for a in arches),
        path,
        f"architectures lists the supported ones from {ARCHITECTURES}",
    )
    description = raw.get("description")
    _require(isinstance(description, str) and 0 < len(description) <= 256, path, "description is 1 to 256 characters")
    reserved = raw.get("reserved_concurrency")
    _require(
        reserved is None or (isinstance(reserved, int) and reserved >= 0),
        path,
        "reserved_concurrency is null or a non-negative integer",
    )
    env = raw.get("environment", {})
    res_env = raw.get("resource_environment", {})
    for label, mapping in (("environment", env), ("resource_environment", res_env)):
        _require(isinstance(mapping, dict), path, f"{label} is an object")
        for key, value in mapping.items():
            _require(
                _ENV_NAME.match(key) is not None and key not in _RESERVED_ENV,
                path,
                f"{label}: {key!r} is not a name Lambda allows",
            )
            _require(isinstance(value, str), path, f"{label}: {key} must be a string")
    _require(not set(env) & set(res_env), path, "a variable is either static or bound to a resource, not both")
    schedules = raw.get("schedules", {})
    _require(isinstance(schedules, dict), path, "schedules is an object: event rule -> cron() or rate() expression")
    for rule, expression in schedules.items():
        _require(
            isinstance(expression, str) and _SCHEDULE.fullmatch(expression) is not None,
            path,
            f"schedules: {rule} is an EventBridge cron() or rate() expression",
        )
    return FunctionSpec(
        name=name,
        directory=directory,
        description=description,
        handler=handler,
        runtime=raw["runtime"],
        architectures=tuple(arches),
        memory_mb=_int(raw, "memory_mb", 128, 10_240, path),
        timeout_s=_int(raw, "timeout_s", 1, 900, path),
        # Lambda's /tmp: 512 MB to 10,240 MB.
        ephemeral_storage_mb=_int({"ephemeral_storage_mb": 512, **raw}, "ephemeral_storage_mb", 512, 10_240, path),
        reserved_concurrency=reserved,
        environment=dict(env),
        resource_environment=dict(res_env),
        trigger=_check_trigger(raw.get("trigger"), path),
        schedules=dict(schedules),
    )


def load_all(functions_dir: Path = FUNCTIONS_DIR) -> dict[str, FunctionSpec]:
    """Every function under ``functions/``, by name."""
    specs = {}
    for path in sorted(functions_dir.glob("*/function.json")):
        spec = load(path.parent)
        specs[spec.name] = spec
    return specs


def main() -> None:
    """Print the function names, one per line (the Makefile's list of functions)."""
    for name in load_all():
        print(name)


if __name__ == "__main__":
    main()
