"""The local runtime's CodeCommit (bare repositories), CodeBuild worker and EventBridge
delivery, against moto in-process and real git."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from local import topology
from local.codebuild import LocalCodeBuild, parse_buildspec
from local.codecommit import ZERO, LocalCodeCommit, Repository, git_environment, state_change_event
from local.eventbridge import EventBus

REGION = "eu-west-1"
ACCOUNT = "123456789012"
REPO = Repository("repo1", f"arn:aws:codecommit:{REGION}:{ACCOUNT}:repo1", "id-1",
                  f"https://git-codecommit.{REGION}.amazonaws.com/v1/repos/repo1", Path("/nowhere"))


def wait(condition, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.mark.parametrize(("old", "new", "ref", "event", "kind", "commits"), [
    (ZERO, "a" * 40, "refs/heads/main", "referenceCreated", "branch", {"commitId": "a" * 40}),
    ("a" * 40, "b" * 40, "refs/heads/feature/x", "referenceUpdated", "branch",
     {"commitId": "b" * 40, "oldCommitId": "a" * 40}),
    ("a" * 40, ZERO, "refs/tags/v1", "referenceDeleted", "tag", {"oldCommitId": "a" * 40}),
])
def test_a_ref_change_is_codecommits_state_change_event(old, new, ref, event, kind, commits):
    document = state_change_event(REPO, old, new, ref, REGION, ACCOUNT)
    assert document["source"] == "aws.codecommit"
    assert document["detail-type"] == "CodeCommit Repository State Change"
    assert document["resources"] == [REPO.arn]
    assert (document["account"], document["region"]) == (ACCOUNT, REGION)
    detail = document["detail"]
    assert detail["event"] == event
    assert detail["referenceType"] == kind
    assert detail["referenceFullName"] == ref
    assert detail["referenceName"] == ref.split("/", 2)[2]
    assert {k: v for k, v in detail.items() if k in ("commitId", "oldCommitId")} == commits
    assert (detail["repositoryName"], detail["repositoryId"]) == ("repo1", "id-1")


@pytest.fixture
def codecommit(tmp_path):
    local = LocalCodeCommit(tmp_path / "repos", REGION, ACCOUNT)
    local.create("repo1", REPO.arn, "id-1", REPO.clone_url_http)
    return local


def developer(tmp_path: Path, codecommit: LocalCodeCommit) -> tuple[dict[str, str], Path]:
    home = tmp_path / "dev"
    codecommit.configure_git(home)
    env = {**git_environment(home), "GIT_AUTHOR_NAME": "D", "GIT_AUTHOR_EMAIL": "d@example.com",
           "GIT_COMMITTER_NAME": "D", "GIT_COMMITTER_EMAIL": "d@example.com"}
    return env, home / "work"


def test_a_push_to_the_clone_url_reaches_the_bare_repository_and_emits_one_event_per_ref(tmp_path, codecommit):
    env, work = developer(tmp_path, codecommit)

    def git(*args):
        subprocess.run(["git", *args], cwd=work if work.exists() else tmp_path, env=env, check=True,
                       capture_output=True)

    git("clone", "--quiet", REPO.clone_url_http, str(work))
    git("checkout", "--quiet", "-b", "main")
    git("commit", "--quiet", "--allow-empty", "-m", "one")
    git("tag", "v1")
    git("push", "--quiet", "origin", "main", "v1")
    git("push", "--quiet", "origin", "--delete", "v1")
    assert codecommit.pending()
    events = []
    assert codecommit.poll(events.append) == 3
    assert not codecommit.pending()
    assert [(e["detail"]["event"], e["detail"]["referenceFullName"]) for e in events[1:]] == [
        ("referenceCreated", "refs/tags/v1"), ("referenceDeleted", "refs/tags/v1")]
    assert events[0]["detail"]["event"] == "referenceCreated"
    assert set(codecommit.refs("repo1")) == {"refs/heads/main"}


def test_buildspec_phases_are_read_and_unknown_ones_refused():
    text = "version: 0.2\nphases:\n  build:\n    commands:\n      - echo one\n  post_build:\n    commands: [echo two]\n"
    assert parse_buildspec(text) == {"build": ["echo one"], "post_build": ["echo two"]}
    with pytest.raises(ValueError, match="version"):
        parse_buildspec("version: 0.1\nphases: {}\n")
    with pytest.raises(ValueError, match="unknown phases"):
        parse_buildspec("version: 0.2\nphases:\n  deploy:\n    commands: [x]\n")


def test_the_git_mirror_buildspec_is_the_modules_template_with_the_script_inside():
    rendered = topology.templatefile(topology.GIT_MIRROR_MODULE / "buildspec.yml.tftpl", {"script_base64": "QQ=="})
    commands = parse_buildspec(rendered)["build"]
    assert commands == ['bash -c "$(echo \'QQ==\' | base64 -d)" mirror.sh "$SOURCE_URL" "$TARGET_URL"']


def test_schedules_default_to_the_stacks_variables():
    defaults = topology.variable_defaults()
    assert defaults["git_mirror_schedule"].startswith("cron(")
    assert defaults["code_sync_schedule"].startswith("cron(")
    assert "environment" not in defaults  # no default: every tfvars file sets it


@pytest.fixture
def aws(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        yield boto3.session.Session(region_name=REGION)


def build_project(session, name: str, buildspec: str, location: str) -> None:
    session.client("codebuild").create_project(
        name=name, source={"type": "CODECOMMIT", "location": location, "buildspec": buildspec, "gitCloneDepth": 0},
        artifacts={"type": "NO_ARTIFACTS"},
        environment={"type": "LINUX_CONTAINER", "image": "i", "computeType": "BUILD_GENERAL1_SMALL",
                     "environmentVariables": [{"name": "GREETING", "value": "hello"}]},
        serviceRole=f"arn:aws:iam::{ACCOUNT}:role/build")


def worker(session, tmp_path, codecommit) -> LocalCodeBuild:
    return LocalCodeBuild(session.client("codebuild"), tmp_path / "builds", {}, codecommit.configure_git,
                          tmp_path / "logs", REGION)


def run_build(aws, tmp_path, codecommit, project: str, buildspec: str):
    """Push a README to repo1, then build ``project`` (whose source is repo1) to the end."""
    env, work = developer(tmp_path, codecommit)
    subprocess.run(["git", "clone", "--quiet", REPO.clone_url_http, str(work)], env=env, check=True,
                   capture_output=True)
    (work / "README").write_text("hi\n")
    for args in (["add", "README"], ["commit", "--quiet", "-m", "r"], ["push", "--quiet", "origin", "HEAD:main"]):
        subprocess.run(["git", *args], cwd=work, env=env, check=True, capture_output=True)
    build_project(aws, project, buildspec, REPO.clone_url_http)
    builds = worker(aws, tmp_path, codecommit)
    build = builds.start_build(project, "test")
    wait(builds.idle)
    builds.stop()
    return build


def test_a_build_runs_its_phases_in_a_clone_of_the_source_with_codebuilds_variables(aws, tmp_path, codecommit):
    out = tmp_path / "out.txt"
    spec = ("version: 0.2\nphases:\n  build:\n    commands:\n"
            f"      - cat README > {out}\n      - echo \"$GREETING $CODEBUILD_BUILD_ID\" >> {out}\n")
    build = run_build(aws, tmp_path, codecommit, "ok-project", spec)
    assert build.status == "SUCCEEDED", build.log
    assert out.read_text() == f"hi\nhello {build.id}\n"
    assert "ok-project" in (tmp_path / "logs" / "codebuild-ok-project.log").read_text()


def test_a_failed_build_command_fails_the_build_and_post_build_still_runs(aws, tmp_path, codecommit):
    marker = tmp_path / "post.txt"
    spec = ("version: 0.2\nphases:\n  build:\n    commands:\n      - exit 3\n      - echo never\n"
            f"  post_build:\n    commands:\n      - touch {marker}\n")
    build = run_build(aws, tmp_path, codecommit, "bad-project", spec)
    assert build.status == "FAILED"
    assert build.phase_status == {"build": "FAILED", "post_build": "SUCCEEDED"}
    assert "exit status 3" in build.log
    assert "never" not in build.log
    assert marker.exists()


def test_a_source_that_cannot_be_cloned_fails_the_build(aws, tmp_path, codecommit):
    build_project(aws, "lost-project", "version: 0.2\nphases:\n  build:\n    commands: [true]\n",
                  f"https://git-codecommit.{REGION}.amazonaws.com/v1/repos/missing")
    builds = worker(aws, tmp_path, codecommit)
    build = builds.start_build("lost-project", "test")
    wait(builds.idle)
    builds.stop()
    assert build.status == "FAILED"
    assert build.phase_status == {"DOWNLOAD_SOURCE": "FAILED"}


def bus(session, invoked, started) -> EventBus:
    return EventBus(session.client("events"), lambda name, event: invoked.append((name, event)) or "done",
                    lambda project, trigger: started.append((project, trigger)),
                    {f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:fn": "fn"}, REGION, ACCOUNT)


def test_a_matching_event_starts_the_build_target_and_others_do_not(aws):
    events = aws.client("events")
    pattern = {"source": ["aws.codecommit"], "detail-type": ["CodeCommit Repository State Change"],
               "resources": [REPO.arn], "detail": {"event": ["referenceCreated", "referenceUpdated"]}}
    events.put_rule(Name="push", EventPattern=json.dumps(pattern))
    events.put_targets(Rule="push", Targets=[{"Id": "b", "Arn": f"arn:aws:codebuild:{REGION}:{ACCOUNT}:project/p",
                                              "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/e"}])
    invoked, started = [], []
    delivery = bus(aws, invoked, started)
    assert delivery.put_event(state_change_event(REPO, ZERO, "a" * 40, "refs/heads/main", REGION, ACCOUNT)) == ["push"]
    assert started == [("p", "rule/push")]
    other = Repository("repo2", f"arn:aws:codecommit:{REGION}:{ACCOUNT}:repo2", "id-2", "", Path("/"))
    assert delivery.put_event(state_change_event(other, ZERO, "a" * 40, "refs/heads/main", REGION, ACCOUNT)) == []
    deleted = state_change_event(REPO, "a" * 40, ZERO, "refs/heads/main", REGION, ACCOUNT)
    assert delivery.put_event(deleted) == []  # not in this rule's pattern
    events.disable_rule(Name="push")
    assert delivery.put_event(state_change_event(REPO, ZERO, "b" * 40, "refs/heads/x", REGION, ACCOUNT)) == []
    assert started == [("p", "rule/push")]
    assert invoked == []


def test_a_scheduled_rule_invokes_its_function_asynchronously_with_the_scheduled_event(aws):
    events = aws.client("events")
    arn = events.put_rule(Name="nightly", ScheduleExpression="cron(0 3 * * ? *)")["RuleArn"]
    events.put_targets(Rule="nightly", Targets=[{"Id": "f", "Arn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:fn"}])
    invoked, started = [], []
    delivery = bus(aws, invoked, started)
    delivery.fire_schedule("nightly")
    wait(delivery.idle)
    [(name, event)] = invoked
    assert name == "fn"
    assert event["detail-type"] == "Scheduled Event"
    assert event["source"] == "aws.events"
    assert event["resources"] == [arn]
    assert event["detail"] == {}
    assert delivery.deliveries[-1]["result"] == "done"
    events.put_rule(Name="pattern", EventPattern=json.dumps({"source": ["x"]}))
    with pytest.raises(ValueError, match="no schedule"):
        delivery.fire_schedule("pattern")
