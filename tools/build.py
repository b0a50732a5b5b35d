"""Builds the deployable zips: one per function and the shared layer.

Every zip is deterministic: entries sorted, timestamps fixed at 1980-01-01, modes
0644 (0755 for executables), no bytecode, no caches and no console scripts (their
shebangs name the build machine's interpreter, and a layer never runs them). Each
wheel's ``RECORD`` lists exactly the files the zip ships, so no script's hash is
left in it either. The same sources and locks give the same bytes in any checkout,
so Terraform's ``source_code_hash`` changes only when code does.

    python -m tools.build function NAME [--arch arm64|x86_64] [--host]
    python -m tools.build layer [--arch arm64|x86_64] [--host]

Third-party packages are installed from the hash-locked requirements: for the
Lambda target (CPython 3.13, manylinux, the chosen architecture) by default, or for
this machine with ``--host`` (what the tests and the local runtime import).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path

from stack import declarations

ROOT = declarations.ROOT
LAYER_SOURCE = ROOT / "layers" / "common"
LAYER_LOCK = ROOT / "requirements" / "layer.txt"
DIST = ROOT / "dist"
LAMBDA_PYTHON = "3.13"
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
PLATFORM_TAGS = {
    # manylinux2014 (glibc 2.17) first, as pip is asked; 2.28 admits newer wheels, which
    # Lambda's Amazon Linux 2023 (glibc 2.34) runs.
    "arm64": ("manylinux2014_aarch64", "manylinux_2_28_aarch64"),
    "x86_64": ("manylinux2014_x86_64", "manylinux_2_28_x86_64"),
}
SKIP_DIRS = {"__pycache__", "bin", ".pytest_cache", "tests"}
SKIP_SUFFIXES = (".pyc", ".pyo")
FUNCTION_NON_CODE = {"README.md", "function.json", "requirements.in", "requirements.txt"}


class BuildError(RuntimeError):
    """A build step failed; the message says which and why."""


def _files(base: Path) -> Iterable[tuple[str, Path]]:
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
        for filename in sorted(filenames):
            if filename.endswith(SKIP_SUFFIXES):
                continue
            path = Path(dirpath) / filename
            yield path.relative_to(base).as_posix(), path


def write_zip(entries: Iterable[tuple[str, Path]], out: Path) -> str:
    """Write a deterministic zip of (archive name, file) pairs; return its SHA-256."""
    ordered = sorted(entries)
    names = [name for name, _ in ordered]
    if len(names) != len(set(names)):
        raise BuildError(f"{out}: two files map to the same archive name")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, path in ordered:
            info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
            executable = path.stat().st_mode & stat.S_IXUSR
            info.external_attr = ((0o100755 if executable else 0o100644) & 0xFFFF) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # Unix, whatever the build machine
            archive.writestr(info, path.read_bytes(), compresslevel=9)
    tmp.replace(out)
    return hashlib.sha256(out.read_bytes()).hexdigest()


def pip_install(lock: Path, target: Path, arch: str | None) -> None:
    """Install a hash-locked requirements file into ``target`` (for Lambda unless ``arch`` is None)."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-compile",
        "--require-hashes",
        "--no-deps",
        "--target",
        str(target),
        "-r",
        str(lock),
    ]
    if arch is not None:
        command += ["--only-binary=:all:", "--python-version", LAMBDA_PYTHON, "--implementation", "cp"]
        for tag in PLATFORM_TAGS[arch]:
            command += ["--platform", tag]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        where = f"Lambda ({arch}, CPython {LAMBDA_PYTHON})" if arch else "this machine"
        raise BuildError(f"pip could not install {lock.relative_to(ROOT)} for {where}:\n{result.stderr.strip()}")
    _drop_scripts(target)


def _drop_scripts(target: Path) -> None:
    """Remove the scripts pip wrote to ``target/bin`` and their rows in each ``RECORD``.

    pip rewrites a script's shebang to the interpreter that ran it (a path inside the
    checkout's venv) and records that file's hash, so both differ between checkouts.
    A ``RECORD`` keeps only the rows of files the zip ships, so it stays true to it.
    """
    shutil.rmtree(target / "bin", ignore_errors=True)
    shipped = {name for name, _ in _files(target)}
    for record in target.glob("*.dist-info/RECORD"):
        lines = record.read_bytes().decode("utf-8").splitlines(keepends=True)
        kept = [line for line in lines if (next(csv.reader([line]), None) or [""])[0] in shipped]
        record.write_bytes("".join(kept).encode("utf-8"))


def _layer_entries(stage: Path) -> list[tuple[str, Path]]:
    entries = [(f"python/{name}", path) for name, path in _files(stage)]
    entries += [(f"python/tributary/{name}", path) for name, path in _files(LAYER_SOURCE / "tributary")]
    return entries


def build_layer(arch: str, host: bool, out: Path) -> str:
    """The shared layer: our package plus the locked third-party packages, under ``python/``."""
    with tempfile.TemporaryDirectory(prefix="tributary-layer-") as tmp:
        stage = Path(tmp) / "site"
        stage.mkdir()
        pip_install(LAYER_LOCK, stage, None if host else arch)
        digest = write_zip(_layer_entries(stage), out)
    manifest = {"arch": "host" if host else arch, "python": LAMBDA_PYTHON, "sha256": digest}
    out.with_suffix(".json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return digest


def build_function(name: str, arch: str, host: bool, out: Path) -> str:
    """One function: its package directory at the zip's root, plus its own locked packages if any."""
    spec = declarations.load(declarations.FUNCTIONS_DIR / name)
    if not host and arch not in spec.architectures:
        raise BuildError(f"{name} does not declare support for {arch} (architectures: {spec.architectures})")
    entries = [(f"{name}/{rel}", path) for rel, path in _files(spec.directory) if rel not in FUNCTION_NON_CODE]
    lock = spec.directory / "requirements.txt"
    with tempfile.TemporaryDirectory(prefix=f"tributary-{name}-") as tmp:
        if lock.is_file():
            pip_install(lock, Path(tmp), None if host else arch)
            entries += list(_files(Path(tmp)))
        return write_zip(entries, out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.build", description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=("function", "layer"))
    parser.add_argument("name", nargs="?")
    parser.add_argument("--arch", default="arm64", choices=declarations.ARCHITECTURES)
    parser.add_argument("--host", action="store_true", help="build for this machine instead of Lambda")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    base = DIST / "host" if args.host else DIST
    try:
        if args.what == "layer":
            out = args.out or base / "layers" / "common.zip"
            digest = build_layer(args.arch, args.host, out)
        else:
            if not args.name:
                parser.error("function needs a NAME")
            out = args.out or base / "functions" / f"{args.name}.zip"
            digest = build_function(args.name, args.arch, args.host, out)
    except (BuildError, declarations.DeclarationError) as exc:
        print(f"build failed: {exc}", file=sys.stderr)
        return 1
    print(f"built {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}  sha256={digest[:16]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
