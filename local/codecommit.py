"""CodeCommit repositories as local bare git repositories.

moto keeps a CodeCommit repository's metadata but has no git behind it. Here each
repository is a bare repository under the run's work directory, reachable at the same
HTTPS clone URL the real service gives it: git rewrites that URL to the local path
(``url.<base>.insteadOf``), so the mirror script gets the very URLs it gets in AWS.

A ``post-receive`` hook spools every pushed ref change; ``poll`` turns them into the
``CodeCommit Repository State Change`` events CodeCommit sends to EventBridge
(``referenceCreated``, ``referenceUpdated``, ``referenceDeleted``; one per ref).
"""

from __future__ import annotations

import os
import subprocess
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
mv "$tmp" "$tmp.changes"
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
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_TERMINAL_PROMPT": "0", "LANG": "C.UTF-8"}


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
        subprocess.run(["git", "init", "--quiet", "--bare", "--initial-branch=main", str(path)], check=True,
                       env=git_environment(self.root), capture_output=True)
        hook = path / "hooks" / "post-receive"
        hook.write_text(HOOK)
        hook.chmod(0o755)
        repository = Repository(name, arn, repository_id, clone_url_http, path)
        self.repositories[name] = repository
        return repository

    def configure_git(self, home: Path) -> None:
        """Make git in ``home`` reach these repositories at their CodeCommit clone URLs."""
        home.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "config", "--global", f"url.{self.root.as_uri()}/.insteadOf",
                        clone_url_base(self.region)], check=True, env=git_environment(home), capture_output=True)

    def refs(self, name: str) -> dict[str, str]:
        """The repository's branches and tags: ref name -> object name."""
        out = subprocess.run(["git", "for-each-ref", "--format=%(refname) %(objectname)", "refs/heads", "refs/tags"],
                             cwd=self.repositories[name].path, check=True, capture_output=True, text=True,
                             env=git_environment(self.root)).stdout
        return dict(line.split(" ", 1) for line in out.splitlines())

    def pending(self) -> bool:
        return any(next((repo.path / SPOOL).glob("*.changes"), None) is not None
                   for repo in self.repositories.values())

    def poll(self, emit: Callable[[dict[str, Any]], None]) -> int:
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


def state_change_event(repo: Repository, old: str, new: str, ref: str, region: str,
                       account_id: str) -> dict[str, Any]:
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
