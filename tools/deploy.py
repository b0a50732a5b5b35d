"""`make plan` and `make deploy`: a reviewed, saved Terraform plan, applied as reviewed.

    python -m tools.deploy plan  --env dev            # init with the env's backend, plan -out, summary
    python -m tools.deploy apply --env dev            # apply dist/plan/dev.tfplan (refuses a stale one)
    python -m tools.deploy apply --env dev --plan-and-apply   # no saved plan: plan and apply now
    python -m tools.deploy compare --env dev --reviewed DIR   # nothing, reviewed or unreviewed

``plan`` writes, in ``dist/plan/``:

- ``<env>.tfplan``: the saved plan;
- ``<env>.summary.md``: adds, changes, replacements and destroys per resource;
- ``<env>.plan.txt``: the whole plan as ``terraform show`` prints it;
- ``<env>.manifest.json``: the commit, the plan's digest, the digest of every zip in
  ``dist/`` it was made with, and the digest of the changes it makes (``changes_sha256``).

``apply`` refuses a plan whose zips or configuration changed since (the manifest no longer
matches); Terraform itself refuses a plan whose state moved on ("Saved plan is stale").

``compare`` tells the deploy workflow whether a fresh plan needs a person's approval: it makes
no changes (``nothing``), exactly the changes of the plan reviewed on the pull request
(``reviewed``: same resources, same values before and after), or anything else (``unreviewed``).

The state bucket is the one terraform/bootstrap creates, ``<name>-terraform-state-<account id>``
of the signed-in account, or ``TF_STATE_BUCKET`` when the bootstrap was given another name; the
Terraform version is the one in ``.terraform-version``, which CI installs for plan and apply.

Everything that can run without AWS runs first; where Terraform, its AWS provider or AWS
credentials are missing, the command stops with one sentence saying which (exit 3).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
STACK = ROOT / "terraform"
TERRAFORM_VERSION_FILE = ROOT / ".terraform-version"
MINIMUM_TERRAFORM = (1, 10)
MISSING = 3  # exit status: a prerequisite (Terraform, provider, credentials) is missing
# The bootstrap's default state bucket (terraform/bootstrap/main.tf, local.bucket); a test holds
# the two to the same name.
STATE_BUCKET = "{name}-terraform-state-{account_id}"
DEFAULT_NAME = "tributary"  # the stack's `name` when the tfvars do not set one


class StopError(Exception):
    """A prerequisite is missing or a check failed; the message is the one sentence to print."""

    def __init__(self, message: str, status: int = MISSING) -> None:
        super().__init__(message)
        self.status = status


def dist_dir() -> Path:
    """Where the zips are (DIST_DIR overrides dist/, e.g. for a downloaded plan artifact)."""
    return Path(os.environ.get("DIST_DIR") or ROOT / "dist").resolve()


@dataclass(frozen=True)
class Paths:
    env: str

    @property
    def directory(self) -> Path:
        return dist_dir() / "plan"

    @property
    def plan(self) -> Path:
        return self.directory / f"{self.env}.tfplan"

    @property
    def summary(self) -> Path:
        return self.directory / f"{self.env}.summary.md"

    @property
    def text(self) -> Path:
        return self.directory / f"{self.env}.plan.txt"

    @property
    def manifest(self) -> Path:
        return self.directory / f"{self.env}.manifest.json"

    @property
    def lock(self) -> Path:
        """The provider selections the plan was made with, applied with the same."""
        return self.directory / f"{self.env}.terraform.lock.hcl"

    @property
    def var_file(self) -> Path:
        return STACK / "environments" / f"{self.env}.tfvars.json"

    @property
    def backend(self) -> Path:
        return STACK / "environments" / f"{self.env}.s3.tfbackend"


# --- pure parts -----------------------------------------------------------------------------

ACTIONS = {
    ("create",): "add",
    ("update",): "change",
    ("delete",): "destroy",
    ("delete", "create"): "replace",
    ("create", "delete"): "replace",
    ("read",): "read",
    ("no-op",): "no-op",
}


def summarize(plan: dict[str, Any], env: str) -> str:
    """A reviewer's summary of ``terraform show -json <plan>``: counts, then each resource that changes."""
    rows: list[tuple[str, str]] = []
    for change in plan.get("resource_changes", []):
        action = ACTIONS.get(tuple(change["change"]["actions"]), "+".join(change["change"]["actions"]))
        if action not in ("no-op", "read"):
            rows.append((action, change["address"]))
    counts = Counter(action for action, _ in rows)
    outputs = sorted(name for name, c in plan.get("output_changes", {}).items() if c.get("actions") != ["no-op"])
    headline = (
        f"{counts['add']} to add, {counts['change']} to change, {counts['replace']} to replace, "
        f"{counts['destroy']} to destroy"
    )
    lines = [f"### Plan for `{env}`: {headline}", ""]
    if not rows:
        lines.append("No changes. The infrastructure matches the configuration.")
    else:
        lines += ["| action | resource |", "|---|---|"]
        order = {"destroy": 0, "replace": 1, "change": 2, "add": 3}
        lines += [
            f"| {action} | `{address}` |" for action, address in sorted(rows, key=lambda r: (order.get(r[0], 4), r[1]))
        ]
    if outputs:
        lines += ["", "Outputs that change: " + ", ".join(f"`{name}`" for name in outputs)]
    if counts["destroy"] or counts["replace"]:
        lines += ["", f"**{counts['destroy'] + counts['replace']} resource(s) will be destroyed or replaced.**"]
    return "\n".join(lines) + "\n"


CHANGE_FIELDS = ("actions", "before", "after", "after_unknown", "before_sensitive", "after_sensitive", "replace_paths")


def planned_changes(plan: dict[str, Any]) -> dict[str, Any]:
    """Every resource and output a plan (``terraform show -json``) changes, with its values before and after."""
    resources = {
        change["address"]: {
            **{k: change["change"].get(k) for k in CHANGE_FIELDS},
            "action_reason": change.get("action_reason"),
        }
        for change in plan.get("resource_changes", [])
        if tuple(change["change"]["actions"]) not in (("no-op",), ("read",))
    }
    outputs = {
        name: change for name, change in plan.get("output_changes", {}).items() if change.get("actions") != ["no-op"]
    }
    return {"resources": resources, "outputs": outputs}


def changes_digest(changes: dict[str, Any], dist: Path) -> str:
    """One digest of what a plan changes, the same wherever dist/ was (zips are named by their path)."""
    text = json.dumps(changes, sort_keys=True).replace(str(dist), "$DIST")
    return hashlib.sha256(text.encode()).hexdigest()


def review(manifest: dict[str, Any], reviewed: dict[str, Any] | None) -> tuple[str, str]:
    """Whether a fresh plan needs approval: ``nothing``, ``reviewed`` or ``unreviewed``, and why."""
    if manifest.get("changes") == 0:
        return "nothing", "the plan changes nothing"
    if reviewed is None:
        return "unreviewed", "no plan was reviewed for this commit"
    if not reviewed.get("changes_sha256"):
        return "unreviewed", "the reviewed plan does not record its changes"
    if reviewed["changes_sha256"] != manifest.get("changes_sha256"):
        return "unreviewed", "the plan's changes differ from those reviewed on the pull request"
    return "reviewed", "the plan makes exactly the changes reviewed on the pull request"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def artifacts(dist: Path) -> dict[str, str]:
    """Digest of every zip the stack deploys (dist/functions, dist/layers)."""
    return {
        str(p.relative_to(dist)): digest(p)
        for p in sorted(dist.glob("*/*.zip"))
        if p.parent.name in ("functions", "layers")
    }


def configuration_digest() -> str:
    """One digest over the stack's Terraform files, tfvars and declarations."""
    h = hashlib.sha256()
    files = sorted(
        [
            *STACK.rglob("*.tf"),
            *STACK.rglob("*.json"),
            *STACK.rglob("*.tftpl"),
            *STACK.rglob("*.sh"),
            *STACK.rglob("*.tfbackend"),
            *(ROOT / "functions").glob("*/function.json"),
        ]
    )
    for path in files:
        if ".terraform" in path.parts or (STACK / "bootstrap") in path.parents:
            continue
        h.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def stale_reasons(
    manifest: dict[str, Any], plan_digest: str, zips: dict[str, str], config: str, tree: str = "unknown"
) -> list[str]:
    """Why a saved plan no longer describes what would be applied (empty: it still does)."""
    reasons = []
    if manifest.get("plan_sha256") != plan_digest:
        reasons.append("the plan file is not the one this manifest describes")
    if manifest.get("configuration_sha256") != config:
        reasons.append("the Terraform configuration, tfvars or function declarations changed")
    if "unknown" not in (tree, manifest.get("tree", "unknown")) and manifest.get("tree") != tree:
        reasons.append("the checkout is not the tree the plan was made from")
    for name in sorted(set(manifest.get("artifacts", {})) | set(zips)):
        if manifest.get("artifacts", {}).get(name) != zips.get(name):
            reasons.append(f"dist/{name} changed")
    return reasons


# --- the steps ------------------------------------------------------------------------------


def pinned_terraform() -> str:
    """The Terraform version plans are made and applied with (``.terraform-version``)."""
    return TERRAFORM_VERSION_FILE.read_text().strip()


def terraform_binary() -> str:
    binary = shutil.which(os.environ.get("TERRAFORM") or "terraform")
    if not binary:
        raise StopError(
            f"Terraform is not installed: put terraform {pinned_terraform()} on PATH "
            "(https://developer.hashicorp.com/terraform/install) and run this again."
        )
    result = subprocess.run([binary, "version", "-json"], capture_output=True, text=True)
    try:
        version = json.loads(result.stdout)["terraform_version"]
    except (ValueError, KeyError):
        raise StopError(f"{binary} does not answer `terraform version -json`; is it Terraform?") from None
    numbers = tuple(int(n) for n in re.findall(r"\d+", version)[:2])
    if numbers < MINIMUM_TERRAFORM:
        raise StopError(f"Terraform {version} is too old: the stack needs 1.10 or newer (native S3 state locking).")
    if version != pinned_terraform():
        raise StopError(
            f"Terraform {version} is not the stack's {pinned_terraform()} (.terraform-version), which CI "
            "plans and applies with: a saved plan applies only with the version that made it."
        )
    return binary


def terraform(
    binary: str, *args: str, env: dict[str, str] | None = None, capture: bool = True, cwd: Path = STACK
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [binary, *args],
        cwd=cwd,
        capture_output=capture,
        text=True,
        env={**os.environ, "TF_IN_AUTOMATION": "1", "TF_INPUT": "0", **(env or {})},
    )


PROVIDER_ERRORS = re.compile(
    r"Failed to query available provider packages|Failed to install provider|"
    r"could not connect to registry|Failed to resolve provider|provider registry",
    re.IGNORECASE,
)


def check_providers(binary: str) -> None:
    """`terraform init -backend=false` in a scratch data directory: downloads (or finds) the providers
    without touching any state or needing credentials."""
    with tempfile.TemporaryDirectory(prefix="tf-providers-") as data:
        result = terraform(binary, "init", "-backend=false", "-no-color", env={"TF_DATA_DIR": data})
    if result.returncode != 0:
        output = result.stdout + result.stderr
        if PROVIDER_ERRORS.search(output):
            raise StopError(
                "Terraform could not install the AWS provider (registry.terraform.io or the provider "
                "mirror is unreachable from here); run this where it is reachable, such as in CI."
            )
        raise StopError("terraform init -backend=false failed: " + _first_error(output), status=1)


def check_credentials() -> str:
    """The caller's identity, or the sentence saying credentials are missing."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    session = boto3.session.Session()
    try:
        credentials = session.get_credentials()
    except BotoCoreError:  # a credential source is configured but answers nothing usable
        credentials = None
    if credentials is None:
        raise StopError(
            "No AWS credentials were found: sign in (aws sso login, a profile, or the CI job's OIDC "
            "role) and run this again."
        )
    try:
        return session.client("sts").get_caller_identity()["Arn"]
    except (BotoCoreError, ClientError) as exc:
        raise StopError(
            f"The AWS credentials found do not work ({exc.__class__.__name__}); refresh them and run this again."
        ) from None


def state_bucket(env: str) -> str:
    """The state bucket: TF_STATE_BUCKET, or the bootstrap's default name in the signed-in account."""
    if os.environ.get("TF_STATE_BUCKET"):
        return os.environ["TF_STATE_BUCKET"]
    name = json.loads(Paths(env).var_file.read_text()).get("name", DEFAULT_NAME)
    account_id = check_credentials().split(":")[4]  # arn:aws:sts::<account id>:assumed-role/...
    return STATE_BUCKET.format(name=name, account_id=account_id)


def init(binary: str, paths: Paths) -> None:
    if paths.lock.exists():  # apply with the provider versions the plan was made with
        shutil.copyfile(paths.lock, STACK / ".terraform.lock.hcl")
    args = [
        "init",
        "-input=false",
        "-no-color",
        "-reconfigure",
        f"-backend-config={paths.backend}",
        f"-backend-config=bucket={state_bucket(paths.env)}",
    ]
    result = terraform(binary, *args)
    if result.returncode != 0:
        raise StopError("terraform init failed: " + _first_error(result.stdout + result.stderr), status=1)


def _first_error(output: str) -> str:
    for line in output.splitlines():
        if line.strip().startswith("Error:"):
            return line.strip().removeprefix("Error:").strip()
    return (output.strip().splitlines() or ["no output"])[-1]


def preflight(env: str, need_zips: bool = True) -> tuple[Paths, str]:
    """Every check that needs no AWS, then Terraform, its provider and credentials, in that order."""
    paths = Paths(env)
    for path in (paths.var_file, paths.backend):
        if not path.exists():
            raise StopError(
                f"There is no {path.relative_to(ROOT)}: ENV must name an environment in terraform/environments/.",
                status=2,
            )
    if need_zips and not artifacts(dist_dir()):
        raise StopError("dist/ holds no function zips: run `make build` first.", status=2)
    binary = terraform_binary()
    check_providers(binary)
    identity = check_credentials()
    print(f"{env}: signed in as {identity}", flush=True)
    return paths, binary


def plan(env: str) -> int:
    paths, binary = preflight(env)
    paths.lock.unlink(missing_ok=True)  # a new plan selects providers afresh (or from a committed lock file)
    init(binary, paths)
    paths.directory.mkdir(parents=True, exist_ok=True)
    if (STACK / ".terraform.lock.hcl").exists():
        shutil.copyfile(STACK / ".terraform.lock.hcl", paths.lock)
    result = terraform(
        binary,
        "plan",
        "-input=false",
        "-no-color",
        "-lock-timeout=5m",
        f"-var-file={paths.var_file}",
        f"-var=dist_dir={dist_dir()}",
        f"-out={paths.plan}",
        capture=False,
    )
    if result.returncode != 0:
        raise StopError("terraform plan failed (see above).", status=1)
    shown = terraform(binary, "show", "-json", str(paths.plan))
    text = terraform(binary, "show", "-no-color", str(paths.plan))
    if shown.returncode != 0 or text.returncode != 0:
        raise StopError("terraform show could not read the plan it just wrote.", status=1)
    paths.text.write_text(text.stdout)
    shown_plan = json.loads(shown.stdout)
    paths.summary.write_text(summarize(shown_plan, env))
    changes = planned_changes(shown_plan)
    paths.manifest.write_text(
        json.dumps(
            {
                "environment": env,
                "commit": _git("rev-parse", "HEAD"),
                "tree": _git("rev-parse", "HEAD^{tree}"),
                "plan_sha256": digest(paths.plan),
                "configuration_sha256": configuration_digest(),
                "artifacts": artifacts(dist_dir()),
                "changes": len(changes["resources"]) + len(changes["outputs"]),
                "changes_sha256": changes_digest(changes, dist_dir()),
            },
            indent=2,
            sort_keys=True,
        )
        + "\n"
    )
    print(paths.summary.read_text())
    print(f"saved: {paths.plan} (summary {paths.summary.name})")
    return 0


def apply(env: str, plan_and_apply: bool) -> int:
    paths = Paths(env)
    if not paths.plan.exists():
        if not plan_and_apply:
            raise StopError(
                f"There is no saved plan {paths.plan}: run `make plan ENV={env}` and review it, "
                f"or `make deploy ENV={env} PLAN_AND_APPLY=1` to plan and apply in one step.",
                status=2,
            )
        if plan(env) != 0:
            return 1
    elif plan_and_apply:
        raise StopError(
            f"A saved plan {paths.plan} exists: apply it with `make deploy ENV={env}`, "
            "or remove it to plan and apply in one step.",
            status=2,
        )
    manifest = json.loads(paths.manifest.read_text()) if paths.manifest.exists() else {}
    reasons = stale_reasons(
        manifest, digest(paths.plan), artifacts(dist_dir()), configuration_digest(), _git("rev-parse", "HEAD^{tree}")
    )
    if reasons:
        raise StopError(f"The saved plan is stale ({'; '.join(reasons)}): run `make plan ENV={env}` again.", status=1)
    _, binary = preflight(env)
    init(binary, paths)
    result = terraform(binary, "apply", "-input=false", "-no-color", "-lock-timeout=5m", str(paths.plan), capture=False)
    if result.returncode != 0:
        raise StopError("terraform apply failed (see above); the plan file is kept for the record.", status=1)
    paths.plan.rename(paths.plan.with_suffix(".applied"))
    outputs = terraform(binary, "output", "-no-color")
    print(outputs.stdout)
    return 0


def compare(env: str, reviewed_dir: Path) -> int:
    """Print ``nothing``, ``reviewed`` or ``unreviewed`` for the saved plan against the one in ``reviewed_dir``."""
    paths = Paths(env)
    if not paths.manifest.exists():
        raise StopError(f"There is no {paths.manifest}: run `make plan ENV={env}` first.", status=2)
    reviewed = reviewed_dir / paths.manifest.name
    decision, why = review(
        json.loads(paths.manifest.read_text()), json.loads(reviewed.read_text()) if reviewed.is_file() else None
    )
    print(decision)
    print(f"{env}: {why}.", file=sys.stderr)
    return 0


def _git(*args: str) -> str:
    result = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
    return result.stdout.strip() if result.returncode == 0 else "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tools.deploy", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("plan", "apply", "compare"))
    parser.add_argument("--env", required=True)
    parser.add_argument(
        "--plan-and-apply", action="store_true", help="with apply and no saved plan: plan and apply in one step"
    )
    parser.add_argument("--reviewed", type=Path, help="with compare: the reviewed plan's directory (dist/plan of it)")
    args = parser.parse_args(argv)
    if args.command == "compare" and args.reviewed is None:
        parser.error("compare needs --reviewed DIR")
    try:
        if args.command == "compare":
            return compare(args.env, args.reviewed)
        return plan(args.env) if args.command == "plan" else apply(args.env, args.plan_and_apply)
    except StopError as stop:
        command = {"plan": "make plan", "apply": "make deploy"}.get(args.command, "tools.deploy compare")
        print(f"{command}: {stop}", file=sys.stderr)
        return stop.status


if __name__ == "__main__":
    sys.exit(main())
