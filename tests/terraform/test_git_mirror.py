"""The git mirror: the script CodeBuild runs, against real local bare repositories with real git, and how
the module and the stack wire its build and triggers."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

TERRAFORM = Path(__file__).resolve().parents[2] / "terraform"
SCRIPT = TERRAFORM / "modules" / "git_mirror" / "mirror.sh"
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Dev",
    "GIT_AUTHOR_EMAIL": "dev@example.com",
    "GIT_COMMITTER_NAME": "Dev",
    "GIT_COMMITTER_EMAIL": "dev@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
    "HOME": "",
    "PATH": os.environ["PATH"],
}


def git(*args: str, cwd: Path | None = None) -> str:
    result = subprocess.run(
        ["git", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**GIT_ENV, "HOME": str(cwd or Path.cwd())},
        check=True,
    )
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
    hook.write_text(
        "#!/bin/sh\nwhile read old new ref; do\n"
        "  [ \"$ref\" = refs/heads/protected ] && { echo 'protected by policy' >&2; exit 1; }\n"
        "done\nexit 0\n"
    )
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


def head(repo: Path) -> str:
    return git("symbolic-ref", "HEAD", cwd=repo).strip()


def refuse_deleting_the_default_branch(repo: Path) -> None:
    # CodeCommit refuses to delete a repository's default branch; a bare repository does the
    # same for the branch its HEAD names.
    git("config", "receive.denyDeleteCurrent", "refuse", cwd=repo)


def test_an_empty_source_and_target_is_nothing_to_do(repos, tmp_path):
    repo1, repo2, _ = repos
    for cache in (None, tmp_path / "cache"):
        result = mirror(repo1, repo2, cache)
        assert result.returncode == 0, result.stderr
        assert "mirror done: 0 ref(s) changed" in result.stdout
        assert "nothing to do" in result.stdout
    assert refs(repo2) == []


def test_the_default_branch_is_mirrored_and_renaming_it_does_not_break_the_mirror(repos):
    repo1, repo2, work = repos
    refuse_deleting_the_default_branch(repo1)
    refuse_deleting_the_default_branch(repo2)
    commit(work, "a.txt", "one")
    git("push", "--quiet", "origin", "main", "main:refs/heads/develop", cwd=work)
    git("symbolic-ref", "HEAD", "refs/heads/develop", cwd=repo1)  # what UpdateDefaultBranch does

    first = mirror(repo1, repo2)
    assert first.returncode == 0, first.stderr
    assert head(repo2) == "refs/heads/develop"
    assert "mirrored HEAD (default branch develop)" in first.stdout

    # Rename the default branch: create trunk, make it the default, delete develop.
    git("push", "--quiet", "origin", "main:refs/heads/trunk", cwd=work)
    git("symbolic-ref", "HEAD", "refs/heads/trunk", cwd=repo1)
    git("push", "--quiet", "origin", ":refs/heads/develop", cwd=work)

    renamed = mirror(repo1, repo2)
    assert renamed.returncode == 0, renamed.stderr
    assert head(repo2) == "refs/heads/trunk"
    assert refs(repo2) == refs(repo1)
    assert "refs/heads/develop" not in " ".join(refs(repo2))
    assert mirror(repo1, repo2).stdout.strip() == "mirror done: 0 ref(s) changed"


def test_an_empty_source_never_empties_the_target(repos, tmp_path):
    repo1, repo2, work = repos
    commit(work, "a.txt", "one")
    git("tag", "v1", cwd=work)
    git("push", "--quiet", "origin", "main", "v1", cwd=work)
    cache = tmp_path / "cache"
    assert mirror(repo1, repo2, cache).returncode == 0
    before = refs(repo2)
    # repo1 recreated (or the build pointed at the wrong repository): it reads as empty.
    git("init", "--quiet", "--bare", "--initial-branch=main", str(tmp_path / "empty.git"), cwd=tmp_path)
    for cached in (cache, None):
        result = mirror(tmp_path / "empty.git", repo2, cached)
        assert result.returncode == 1
        assert "refusing to delete them all" in result.stderr
        assert "mirrored" not in result.stdout
        assert refs(repo2) == before


def test_an_unreadable_source_pushes_nothing(repos, tmp_path):
    repo1, repo2, work = repos
    commit(work, "a.txt", "one")
    git("push", "--quiet", "origin", "main", cwd=work)
    cache = tmp_path / "cache"
    assert mirror(repo1, repo2, cache).returncode == 0
    before = refs(repo2)
    result = mirror(tmp_path / "missing.git", repo2, cache)
    assert result.returncode == 1
    assert f"mirror failed: could not read {tmp_path / 'missing.git'}" in result.stderr
    assert refs(repo2) == before


def test_a_push_that_fails_outright_says_what_failed(repos, tmp_path):
    repo1, _, work = repos
    commit(work, "a.txt", "one")
    git("push", "--quiet", "origin", "main", cwd=work)
    result = mirror(repo1, tmp_path / "missing.git")
    assert result.returncode == 1
    assert f"mirror failed: could not push to {tmp_path / 'missing.git'} (git push exit 128" in result.stderr
    assert "does not appear to be a git repository" in result.stderr
    assert "ref(s) rejected" not in result.stderr


def test_a_push_to_the_source_while_the_mirror_runs_is_mirrored_by_that_run(repos, tmp_path):
    repo1, repo2, work = repos
    commit(work, "a.txt", "one")
    git("push", "--quiet", "origin", "main", cwd=work)
    commit(work, "b.txt", "two")
    git("push", "--quiet", "origin", "HEAD:refs/parked/next", cwd=work)  # in repo1, outside heads and tags
    later = git("rev-parse", "HEAD", cwd=work).strip()
    # While the mirror pushes to repo2, a developer pushes `later` to repo1's main, once.
    hook = repo2 / "hooks" / "post-receive"
    hook.write_text(
        f"#!/bin/sh\ncat >/dev/null\n[ -e {tmp_path}/pushed ] && exit 0\ntouch {tmp_path}/pushed\n"
        f'env -i PATH="$PATH" git --git-dir={repo1} update-ref refs/heads/main {later}\n'
    )
    hook.chmod(0o755)
    result = mirror(repo1, repo2)
    assert result.returncode == 0, result.stderr
    assert "changed during pass 1; mirroring again" in result.stdout
    assert git("rev-parse", "refs/heads/main", cwd=repo2).strip() == later
    assert refs(repo2) == refs(repo1)


def block(text: str, header: str) -> str:
    """A top-level Terraform block, from its header to its closing brace."""
    start = text.index(header)
    return text[start : text.index("\n}\n", start) + 2]


def test_the_build_downloads_no_source_and_may_set_only_repo2s_default_branch():
    module = (TERRAFORM / "modules" / "git_mirror" / "main.tf").read_text()
    project = block(module, 'resource "aws_codebuild_project" "this"')
    assert re.search(r'^\s+type = "NO_SOURCE"$', project, re.MULTILINE)
    assert "location" not in project.split("source {")[1].split("}")[0]
    policy = block(module, 'data "aws_iam_policy_document" "build"')
    statement = re.search(r'actions\s+=\s+\["codecommit:UpdateDefaultBranch"\]\n\s+resources = \[(.*)\]', policy)
    assert statement, "the build role may set a default branch"
    assert statement.group(1) == "aws_codecommit_repository.target.arn"
    assert policy.count("codecommit:") == 3  # GitPull on repo1, GitPush and UpdateDefaultBranch on repo2


@pytest.mark.parametrize(
    ("path", "target", "queue"),
    [
        ("modules/git_mirror/main.tf", "push", "module.dead_letters.arn"),
        ("modules/git_mirror/main.tf", "nightly", "module.dead_letters.arn"),
        ("schedules.tf", "schedule", "module.schedule_dlq[each.key].arn"),
    ],
)
def test_every_event_target_retries_and_dead_letters_to_a_queue_only_its_rules_may_write(path, target, queue):
    text = (TERRAFORM / path).read_text()
    body = block(text, f'resource "aws_cloudwatch_event_target" "{target}"')
    retry = r"retry_policy \{\n\s+maximum_event_age_in_seconds = \S+\n\s+maximum_retry_attempts\s+= 185\n"
    assert re.search(retry, body)
    assert re.search(rf"dead_letter_config \{{\n\s+arn = {re.escape(queue)}\n", body)
    dlq = block(text, f'module "{queue.split(".")[1].split("[")[0]}"')
    assert re.search(r'source\s+= "(\.\./|\./modules/)queue"', dlq)  # KMS-encrypted, TLS only
    assert "max_receive_count" in dlq
    senders = re.search(r'"events.amazonaws.com" = \[(.*)\]', dlq).group(1)
    assert senders.startswith("aws_cloudwatch_event_rule.")


def test_the_dead_letter_queues_and_the_rules_dead_letter_failures_alarm():
    main = (TERRAFORM / "main.tf").read_text()
    monitoring = (TERRAFORM / "modules" / "monitoring" / "main.tf").read_text()
    watched = block(main, 'module "monitoring"')
    # The queues' depth: the monitoring module's dead_letters alarms (ApproximateNumberOfMessagesVisible).
    assert "git_mirror_dlq = module.git_mirror.dead_letter_queue_name" in watched
    assert '{ for rule, queue in module.schedule_dlq : "${rule}_dlq" => queue.name }' in watched
    assert 'metric = "ApproximateNumberOfMessagesVisible"' in monitoring
    # Events a rule could not even put in its queue: the module's lost_events alarms.
    assert 'for key, rule in var.event_rules : "lost_events/${key}"' in monitoring
    assert 'metric = "InvocationsFailedToBeSentToDlq"' in monitoring
    assert "alarm_actions       = [module.topic.arn]" in monitoring
    for rule in (
        "module.git_mirror.rule_names.push",
        "module.git_mirror.rule_names.nightly",
        "aws_cloudwatch_event_rule.schedule : rule => schedule.name",
    ):
        assert rule in watched
