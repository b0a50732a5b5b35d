"""The git mirror script CodeBuild runs, against real local bare repositories with real git."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "terraform" / "modules" / "git_mirror" / "mirror.sh"
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Dev", "GIT_AUTHOR_EMAIL": "dev@example.com",
    "GIT_COMMITTER_NAME": "Dev", "GIT_COMMITTER_EMAIL": "dev@example.com",
    "GIT_CONFIG_NOSYSTEM": "1", "HOME": "", "PATH": os.environ["PATH"],
}


def git(*args: str, cwd: Path | None = None) -> str:
    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                            env={**GIT_ENV, "HOME": str(cwd or Path.cwd())}, check=True)
    return result.stdout


def refs(repo: Path) -> list[str]:
    return git("for-each-ref", "--format=%(refname) %(objectname)", "refs/heads", "refs/tags", cwd=repo).splitlines()


def mirror(source: Path, target: Path, cache: Path | None = None) -> subprocess.CompletedProcess:
    args = ["bash", str(SCRIPT), str(source), str(target)] + ([str(cache)] if cache else [])
    return subprocess.run(args, capture_output=True, text=True, env={**GIT_ENV, "HOME": str(source.parent)})


@pytest.fixture
def repos(tmp_path):
    repo1, repo2, work = tmp_path / "repo1.git", tmp_path / "repo2.git", tmp_path / "work"
    git("init", "--quiet", "--bare", "--initial-branch=main", str(repo1), cwd=tmp_path)
    git("init", "--quiet", "--bare", "--initial-branch=main", str(repo2), cwd=tmp_path)
    git("clone", "--quiet", str(repo1), str(work), cwd=tmp_path)
    git("checkout", "--quiet", "-b", "main", cwd=work)
    return repo1, repo2, work


def commit(work: Path, name: str, text: str) -> None:
    (work / name).write_text(text)
    git("add", name, cwd=work)
    git("commit", "--quiet", "-m", f"change {name}", cwd=work)


def test_mirrors_branches_tags_deletions_and_force_pushes_and_is_idempotent(repos, tmp_path):
    repo1, repo2, work = repos
    commit(work, "a.txt", "one")
    git("push", "--quiet", "origin", "main", cwd=work)
    git("checkout", "--quiet", "-b", "feature", cwd=work)
    commit(work, "b.txt", "two")
    git("tag", "-a", "v1.0", "-m", "release", cwd=work)
    git("tag", "light", cwd=work)
    git("push", "--quiet", "origin", "feature", "v1.0", "light", cwd=work)
    git("push", "--quiet", "origin", "main:refs/heads/doomed", cwd=work)
    # refs CodeCommit would reject stay out of the mirror
    git("push", "--quiet", "origin", "main:refs/pull/1/head", cwd=work)

    first = mirror(repo1, repo2)
    assert first.returncode == 0, first.stderr
    assert refs(repo2) == refs(repo1)
    assert not any(r.startswith("refs/pull/") for r in refs(repo2))

    # Delete a branch and a tag, rewrite history on another (force-push), add commits.
    git("push", "--quiet", "origin", ":refs/heads/doomed", ":refs/tags/light", cwd=work)
    git("reset", "--quiet", "--hard", "HEAD~1", cwd=work)
    commit(work, "c.txt", "rewritten")
    git("push", "--quiet", "--force", "origin", "feature", cwd=work)
    git("checkout", "--quiet", "main", cwd=work)
    commit(work, "d.txt", "more")
    git("push", "--quiet", "origin", "main", cwd=work)

    second = mirror(repo1, repo2)
    assert second.returncode == 0, second.stderr
    assert refs(repo2) == refs(repo1)
    assert "refs/heads/doomed" not in " ".join(refs(repo2))
    assert "(forced update)" in next(line for line in second.stdout.splitlines() if "refs/heads/feature" in line)
    assert "mirrored refs/heads/doomed ([deleted])" in second.stdout

    unchanged = mirror(repo1, repo2)
    assert unchanged.returncode == 0
    assert "mirror done: 0 ref(s) changed" in unchanged.stdout
    assert "mirrored" not in unchanged.stdout


def test_a_ref_the_target_rejects_fails_loudly_with_the_reason(repos):
    repo1, repo2, work = repos
    commit(work, "a.txt", "one")
    git("push", "--quiet", "origin", "main", cwd=work)
    git("push", "--quiet", "origin", "main:refs/heads/protected", cwd=work)
    hook = repo2 / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\nwhile read old new ref; do\n"
                    "  [ \"$ref\" = refs/heads/protected ] && { echo 'protected by policy' >&2; exit 1; }\n"
                    "done\nexit 0\n")
    hook.chmod(0o755)
    result = mirror(repo1, repo2)
    assert result.returncode == 1
    assert "REJECTED refs/heads/protected" in result.stderr
    assert "mirror failed" in result.stderr


def test_a_persistent_cache_is_reused(repos, tmp_path):
    repo1, repo2, work = repos
    commit(work, "a.txt", "one")
    git("push", "--quiet", "origin", "main", cwd=work)
    cache = tmp_path / "cache"
    cache.mkdir()
    assert mirror(repo1, repo2, cache).returncode == 0
    assert (cache / "mirror.git").is_dir()
    commit(work, "b.txt", "two")
    git("push", "--quiet", "origin", "main", cwd=work)
    assert mirror(repo1, repo2, cache).returncode == 0
    assert refs(repo2) == refs(repo1)


def test_usage_error():
    result = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True)
    assert result.returncode == 2
    assert "usage" in result.stderr
