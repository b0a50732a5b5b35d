"""CodeCommit repositories as local bare git repositories.

moto keeps a CodeCommit repository's metadata but has no git behind it. Here each
repository is a bare repository under the run's work directory, reachable at the same
HTTPS clone URL the real service gives it: git rewrites that URL to the local path
(``url.<base>.insteadOf``), so the mirror script gets the very URLs it gets in AWS.

A ``post-receive`` hook spools every pushed ref change; ``poll`` turns them into the
``CodeCommit Repository State Change`` events CodeCommit sends to EventBridge
(``referenceCreated``, ``referenceUpdated``, ``referenceDeleted``; one per ref).

The default branch behaves as CodeCommit's: the first branch pushed to an empty repository
becomes it, and a push deleting it is refused. ``configure_git`` also puts an ``aws``
command on the home's ``bin/`` that serves the CodeCommit CLI calls a build makes
(``update-default-branch``, ``credential-helper``) from these repositories, since moto's
CodeCommit has no default branch to update.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ZERO = "0" * 40
SPOOL = "tributary-ref-changes"
HOOK = f"""#!/bin/sh
# Spools each pushed ref change ("<old> <new> <ref>") for the local CodeCommit's event source.
spool="$(pwd)/{SPOOL}"
mkdir -p "$spool"
tmp=$(mktemp "$spool/.push.XXXXXX")
cat > "$tmp"
# As in CodeCommit, the first branch pushed to an empty repository becomes its default branch.
if ! git rev-parse --quiet --verify HEAD >/dev/null; then
  first=$(awk '$1 ~ /^0+$/ && $3 ~ /^refs[/]heads[/]/ {{ print $3; exit }}' "$tmp")
  [ -z "$first" ] || git symbolic-ref HEAD "$first"
fi
mv "$tmp" "$tmp.changes"
"""
# The AWS CLI as a build runs it: CodeCommit calls go to these repositories (see aws_cli).
AWS_CLI = """#!/bin/sh
exec '{python}' -I '{module}' '{root}' "$@"
"""


@dataclass(frozen=True)
class Repository:
    name: str
    arn: str
    repository_id: str
    clone_url_http: str
    path: Path


def clone_url_base(region: str) -> str:
    return f"https://git-codecommit.{region}.amazonaws.com/v1/repos/"


def git_environment(home: Path) -> dict[str, str]:
    """An isolated git environment: its own HOME (and global config), no system config."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_TERMINAL_PROMPT": "0",
        "LANG": "C.UTF-8",
    }


class LocalCodeCommit:
    """Bare repositories standing in for CodeCommit, and the events a push emits."""

    def __init__(self, root: Path, region: str, account_id: str) -> None:
        self.root = root
        self.region = region
        self.account_id = account_id
        self.repositories: dict[str, Repository] = {}
        root.mkdir(parents=True, exist_ok=True)

    def create(self, name: str, arn: str, repository_id: str, clone_url_http: str) -> Repository:
        path = self.root / f"{name}.git"
        subprocess.run(
            ["git", "init", "--quiet", "--bare", "--initial-branch=main", str(path)],
            check=True,
            env=git_environment(self.root),
            capture_output=True,
        )
        # CodeCommit refuses to delete a repository's default branch (git's default for a bare
        # repository too, made explicit).
        subprocess.run(
            ["git", "config", "receive.denyDeleteCurrent", "refuse"],
            cwd=path,
            check=True,
            env=git_environment(self.root),
            capture_output=True,
        )
        hook = path / "hooks" / "post-receive"
        hook.write_text(HOOK)
        hook.chmod(0o755)
        repository = Repository(name, arn, repository_id, clone_url_http, path)
        self.repositories[name] = repository
        return repository

    def configure_git(self, home: Path) -> None:
        """Make git in ``home`` reach these repositories at their CodeCommit clone URLs, and
        ``home/bin/aws`` serve the CodeCommit CLI calls a build makes."""
        home.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["git", "config", "--global", f"url.{self.root.as_uri()}/.insteadOf", clone_url_base(self.region)],
            check=True,
            env=git_environment(home),
            capture_output=True,
        )
        cli = home / "bin" / "aws"
        cli.parent.mkdir(exist_ok=True)
        cli.write_text(AWS_CLI.format(python=sys.executable, module=Path(__file__).resolve(), root=self.root))
        cli.chmod(0o755)

    def default_branch(self, name: str) -> str | None:
        """The branch the repository's HEAD names, or None while it has no branch."""
        result = subprocess.run(
            ["git", "symbolic-ref", "--short", "HEAD"],
            cwd=self.repositories[name].path,
            capture_output=True,
            text=True,
            env=git_environment(self.root),
        )
        branch = result.stdout.strip()
        return branch if branch and f"refs/heads/{branch}" in self.refs(name) else None

    def refs(self, name: str) -> dict[str, str]:
        """The repository's branches and tags: ref name -> object name."""
        out = subprocess.run(
            ["git", "for-each-ref", "--format=%(refname) %(objectname)", "refs/heads", "refs/tags"],
            cwd=self.repositories[name].path,
            check=True,
            capture_output=True,
            text=True,
            env=git_environment(self.root),
        ).stdout
        return dict(line.split(" ", 1) for line in out.splitlines())

    def pending(self) -> bool:
        return any(next((repo.path / SPOOL).glob("*.changes"), None) is not None for repo in self.repositories.values())

    def poll(self, emit: Callable[[dict[str, Any]], object]) -> int:
        """Emit the events for every spooled push, oldest first; returns how many."""
        emitted = 0
        for repo in self.repositories.values():
            spool = repo.path / SPOOL
            for batch in sorted(spool.glob("*.changes"), key=lambda p: p.stat().st_mtime_ns):
                for line in batch.read_text().splitlines():
                    old, new, ref = line.split()
                    emit(state_change_event(repo, old, new, ref, self.region, self.account_id))
                    emitted += 1
                batch.unlink()
        return emitted


def state_change_event(repo: Repository, old: str, new: str, ref: str, region: str, account_id: str) -> dict[str, Any]:
    """The EventBridge event CodeCommit sends for one ref change, as documented in
    "Monitoring CodeCommit events in Amazon EventBridge"."""
    if old == ZERO:
        event, commits = "referenceCreated", {"commitId": new}
    elif new == ZERO:
        event, commits = "referenceDeleted", {"oldCommitId": old}
    else:
        event, commits = "referenceUpdated", {"commitId": new, "oldCommitId": old}
    kind, _, short = ref.removeprefix("refs/").partition("/")
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "CodeCommit Repository State Change",
        "source": "aws.codecommit",
        "account": account_id,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "region": region,
        "resources": [repo.arn],
        "detail": {
            "callerUserArn": f"arn:aws:iam::{account_id}:user/local-developer",
            "event": event,
            **commits,
            "referenceFullName": ref,
            "referenceName": short,
            "referenceType": {"heads": "branch", "tags": "tag"}.get(kind, kind),
            "repositoryId": repo.repository_id,
            "repositoryName": repo.name,
        },
    }


def scratch_home(parent: Path) -> Path:
    return Path(tempfile.mkdtemp(prefix="git-home-", dir=parent))


def _cli_error(code: str, operation: str, message: str) -> int:
    print(f"\nAn error occurred ({code}) when calling the {operation} operation: {message}", file=sys.stderr)
    return 254  # the AWS CLI's exit status for an error the service returned


def aws_cli(root: Path, argv: list[str]) -> int:
    """``aws codecommit update-default-branch`` and ``credential-helper`` against the bare
    repositories under ``root``; any other command exits 252, as the CLI does on bad usage."""
    if argv[:2] == ["codecommit", "credential-helper"]:
        sys.stdin.read()  # git reaches these repositories by path: no credentials to give
        return 0
    if argv[:2] != ["codecommit", "update-default-branch"]:
        print(f"aws {' '.join(argv)}: not served by the local CodeCommit", file=sys.stderr)
        return 252
    parser = argparse.ArgumentParser(prog="aws codecommit update-default-branch")
    parser.add_argument("--repository-name", required=True)
    parser.add_argument("--default-branch-name", required=True)
    parser.add_argument("--region")
    try:
        args = parser.parse_args(argv[2:])
    except SystemExit:
        return 252
    path = root / f"{args.repository_name}.git"
    if not path.is_dir():
        return _cli_error(
            "RepositoryDoesNotExistException", "UpdateDefaultBranch", f"{args.repository_name} does not exist"
        )
    env = git_environment(root)
    ref = f"refs/heads/{args.default_branch_name}"
    if (
        subprocess.run(
            ["git", "rev-parse", "--quiet", "--verify", ref], cwd=path, env=env, capture_output=True
        ).returncode
        != 0
    ):
        return _cli_error(
            "BranchDoesNotExistException", "UpdateDefaultBranch", f"Branch {args.default_branch_name} does not exist"
        )
    subprocess.run(["git", "symbolic-ref", "HEAD", ref], cwd=path, env=env, check=True)
    return 0


if __name__ == "__main__":
    sys.exit(aws_cli(Path(sys.argv[1]), sys.argv[2:]))
