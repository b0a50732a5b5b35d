"""The local runtime's CodeCommit (bare repositories), CodeBuild worker and EventBridge
delivery, against moto in-process and real git."""

from __future__ import annotations

import base64
import json
import subprocess
import time
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from local.codebuild import LocalCodeBuild, parse_buildspec
from local.codecommit import ZERO, LocalCodeCommit, Repository, git_environment, state_change_event
from local.eventbridge import EventBus, TargetError
from stack import topology

REGION = "eu-west-1"
ACCOUNT = "123456789012"
REPO = Repository(
    "repo1",
    f"arn:aws:codecommit:{REGION}:{ACCOUNT}:repo1",
    "id-1",
    f"https://git-codecommit.{REGION}.amazonaws.com/v1/repos/repo1",
    Path("/nowhere"),
)
REPO2 = Repository(
    "repo2",
    f"arn:aws:codecommit:{REGION}:{ACCOUNT}:repo2",
    "id-2",
    f"https://git-codecommit.{REGION}.amazonaws.com/v1/repos/repo2",
    Path("/nowhere"),
)


def wait(condition, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.mark.parametrize(
    ("old", "new", "ref", "event", "kind", "commits"),
    [
        (ZERO, "a" * 40, "refs/heads/main", "referenceCreated", "branch", {"commitId": "a" * 40}),
        (
            "a" * 40,
            "b" * 40,
            "refs/heads/feature/x",
            "referenceUpdated",
            "branch",
            {"commitId": "b" * 40, "oldCommitId": "a" * 40},
        ),
        ("a" * 40, ZERO, "refs/tags/v1", "referenceDeleted", "tag", {"oldCommitId": "a" * 40}),
    ],
)
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
    env = {
        **git_environment(home),
        "GIT_AUTHOR_NAME": "D",
        "GIT_AUTHOR_EMAIL": "d@example.com",
        "GIT_COMMITTER_NAME": "D",
        "GIT_COMMITTER_EMAIL": "d@example.com",
    }
    return env, home / "work"


def test_a_push_to_the_clone_url_reaches_the_bare_repository_and_emits_one_event_per_ref(tmp_path, codecommit):
    env, work = developer(tmp_path, codecommit)

    def git(*args):
        subprocess.run(
            ["git", *args], cwd=work if work.exists() else tmp_path, env=env, check=True, capture_output=True
        )

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
        ("referenceCreated", "refs/tags/v1"),
        ("referenceDeleted", "refs/tags/v1"),
    ]
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
    assert "environment" not in defaults  # no default: every tfvars file sets it


@pytest.fixture
def aws(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        yield boto3.session.Session(region_name=REGION)


def build_project(session, name: str, buildspec: str, location: str) -> None:
    session.client("codebuild").create_project(
        name=name,
        source={"type": "CODECOMMIT", "location": location, "buildspec": buildspec, "gitCloneDepth": 0},
        artifacts={"type": "NO_ARTIFACTS"},
        environment={
            "type": "LINUX_CONTAINER",
            "image": "i",
            "computeType": "BUILD_GENERAL1_SMALL",
            "environmentVariables": [{"name": "GREETING", "value": "hello"}],
        },
        serviceRole=f"arn:aws:iam::{ACCOUNT}:role/build",
    )


def worker(session, tmp_path, codecommit) -> LocalCodeBuild:
    return LocalCodeBuild(
        session.client("codebuild"), tmp_path / "builds", {}, codecommit.configure_git, tmp_path / "logs", REGION
    )


def run_build(aws, tmp_path, codecommit, project: str, buildspec: str):
    """Push a README to repo1, then build ``project`` (whose source is repo1) to the end."""
    env, work = developer(tmp_path, codecommit)
    subprocess.run(
        ["git", "clone", "--quiet", REPO.clone_url_http, str(work)], env=env, check=True, capture_output=True
    )
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
    spec = (
        "version: 0.2\nphases:\n  build:\n    commands:\n"
        f'      - cat README > {out}\n      - echo "$GREETING $CODEBUILD_BUILD_ID" >> {out}\n'
    )
    build = run_build(aws, tmp_path, codecommit, "ok-project", spec)
    assert build.status == "SUCCEEDED", build.log
    assert out.read_text() == f"hi\nhello {build.id}\n"
    assert "ok-project" in (tmp_path / "logs" / "codebuild-ok-project.log").read_text()


def test_a_failed_build_command_fails_the_build_and_post_build_still_runs(aws, tmp_path, codecommit):
    marker = tmp_path / "post.txt"
    spec = (
        "version: 0.2\nphases:\n  build:\n    commands:\n      - exit 3\n      - echo never\n"
        f"  post_build:\n    commands:\n      - touch {marker}\n"
    )
    build = run_build(aws, tmp_path, codecommit, "bad-project", spec)
    assert build.status == "FAILED"
    assert build.phase_status == {"build": "FAILED", "post_build": "SUCCEEDED"}
    assert "exit status 3" in build.log
    assert "never" not in build.log
    assert marker.exists()


@pytest.mark.parametrize(
    ("source", "said"),
    [
        # A repository that does not exist cannot be cloned.
        (f"https://git-codecommit.{REGION}.amazonaws.com/v1/repos/missing", ""),
        # An empty repo1 has no default branch for CodeBuild to check out.
        (REPO.clone_url_http, "no default branch"),
    ],
)
def test_a_source_download_that_fails_fails_the_build(aws, tmp_path, codecommit, source, said):
    build_project(aws, "download-project", "version: 0.2\nphases:\n  build:\n    commands: [true]\n", source)
    builds = worker(aws, tmp_path, codecommit)
    build = builds.start_build("download-project", "test")
    wait(builds.idle)
    builds.stop()
    assert build.status == "FAILED"
    assert build.phase_status == {"DOWNLOAD_SOURCE": "FAILED"}
    assert said in build.log


def bus(session, invoked, started) -> EventBus:
    return EventBus(
        session.client("events"),
        lambda name, event: invoked.append((name, event)) or "done",
        lambda project, trigger: started.append((project, trigger)),
        {f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:fn": "fn"},
        REGION,
        ACCOUNT,
    )


def test_a_matching_event_starts_the_build_target_and_others_do_not(aws):
    events = aws.client("events")
    pattern = {
        "source": ["aws.codecommit"],
        "detail-type": ["CodeCommit Repository State Change"],
        "resources": [REPO.arn],
        "detail": {"event": ["referenceCreated", "referenceUpdated"]},
    }
    events.put_rule(Name="push", EventPattern=json.dumps(pattern))
    events.put_targets(
        Rule="push",
        Targets=[
            {
                "Id": "b",
                "Arn": f"arn:aws:codebuild:{REGION}:{ACCOUNT}:project/p",
                "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/e",
            }
        ],
    )
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


def push(tmp_path: Path, codecommit: LocalCodeCommit, *refspecs: str, name: str = "work") -> Path:
    """Commit a file in a developer's clone of repo1 and push ``refspecs`` (default: HEAD to main)."""
    env, work = developer(tmp_path, codecommit)
    work = work.with_name(name)
    if not work.exists():
        subprocess.run(
            ["git", "clone", "--quiet", REPO.clone_url_http, str(work)], env=env, check=True, capture_output=True
        )
    (work / "CHANGES").open("a").write("one more\n")
    for args in (
        ["add", "CHANGES"],
        ["commit", "--quiet", "-m", "change"],
        ["push", "--quiet", "origin", *(refspecs or ["HEAD:refs/heads/main"])],
    ):
        subprocess.run(["git", *args], cwd=work, env=env, check=True, capture_output=True)
    return work


def mirror_project(session, codecommit: LocalCodeCommit) -> str:
    """The git mirror's project as modules/git_mirror defines it: no source, the module's buildspec
    with mirror.sh inside, one build at a time; repo2 created next to repo1."""
    codecommit.create("repo2", REPO2.arn, "id-2", REPO2.clone_url_http)
    script = base64.b64encode((topology.GIT_MIRROR_MODULE / "mirror.sh").read_bytes()).decode()
    buildspec = topology.templatefile(topology.GIT_MIRROR_MODULE / "buildspec.yml.tftpl", {"script_base64": script})
    return session.client("codebuild").create_project(
        name="git-mirror",
        # moto asks for a location even without a source; CodeBuild reads none for NO_SOURCE.
        source={"type": "NO_SOURCE", "location": "none", "buildspec": buildspec},
        artifacts={"type": "NO_ARTIFACTS"},
        environment={
            "type": "LINUX_CONTAINER",
            "image": "i",
            "computeType": "BUILD_GENERAL1_SMALL",
            "environmentVariables": [
                {"name": "SOURCE_URL", "value": REPO.clone_url_http},
                {"name": "TARGET_URL", "value": REPO2.clone_url_http},
            ],
        },
        serviceRole=f"arn:aws:iam::{ACCOUNT}:role/build",
        concurrentBuildLimit=1,
    )["project"]["arn"]


def run_mirror(aws, tmp_path, codecommit):
    builds = worker(aws, tmp_path, codecommit)
    build = builds.start_build("git-mirror", "test")
    wait(builds.idle)
    builds.stop()
    return build


def test_the_mirror_of_an_empty_repo1_succeeds_with_nothing_to_do(aws, tmp_path, codecommit):
    mirror_project(aws, codecommit)
    build = run_mirror(aws, tmp_path, codecommit)
    assert build.status == "SUCCEEDED", build.log
    assert "nothing to do" in build.log
    assert codecommit.refs("repo2") == {}


def test_the_mirror_sets_repo2s_default_branch_through_update_default_branch(aws, tmp_path, codecommit):
    mirror_project(aws, codecommit)
    env, _ = developer(tmp_path, codecommit)
    work = push(tmp_path, codecommit, "HEAD:refs/heads/develop")
    assert codecommit.default_branch("repo1") == "develop"  # the first branch pushed
    push(tmp_path, codecommit, "HEAD:refs/heads/main")

    first = run_mirror(aws, tmp_path, codecommit)
    assert first.status == "SUCCEEDED", first.log
    assert "mirrored HEAD (default branch develop)" in first.log
    assert codecommit.default_branch("repo2") == "develop"
    assert codecommit.refs("repo2") == codecommit.refs("repo1")

    # Rename repo1's default branch: push trunk, make it the default, delete develop.
    cli = [str(tmp_path / "dev" / "bin" / "aws"), "codecommit", "update-default-branch", "--repository-name"]
    subprocess.run(["git", "push", "--quiet", "origin", "HEAD:refs/heads/trunk"], cwd=work, env=env, check=True)
    subprocess.run([*cli, "repo1", "--default-branch-name", "trunk"], check=True)
    refused = subprocess.run(["git", "push", "origin", ":refs/heads/trunk"], cwd=work, env=env, capture_output=True)
    assert refused.returncode != 0  # CodeCommit refuses to delete the default branch
    subprocess.run(["git", "push", "--quiet", "origin", ":refs/heads/develop"], cwd=work, env=env, check=True)

    renamed = run_mirror(aws, tmp_path, codecommit)
    assert renamed.status == "SUCCEEDED", renamed.log
    assert "mirrored HEAD (default branch trunk)" in renamed.log
    assert codecommit.default_branch("repo2") == "trunk"
    assert codecommit.refs("repo2") == codecommit.refs("repo1")
    assert "refs/heads/develop" not in codecommit.refs("repo2")

    missing = subprocess.run([*cli, "repo1", "--default-branch-name", "nope"], capture_output=True, text=True)
    assert missing.returncode == 254
    assert "(BranchDoesNotExistException) when calling the UpdateDefaultBranch operation" in missing.stderr


def push_rule(session, project_arn: str, **target) -> str:
    """The mirror's push rule, targeting the project with a dead-letter queue; returns the queue URL."""
    sqs = session.client("sqs")
    url = sqs.create_queue(QueueName="git-mirror-dlq")["QueueUrl"]
    dlq = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    pattern = {"source": ["aws.codecommit"], "resources": [REPO.arn]}
    session.client("events").put_rule(Name="push", EventPattern=json.dumps(pattern))
    session.client("events").put_targets(
        Rule="push",
        Targets=[
            {
                "Id": "mirror",
                "Arn": project_arn,
                "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/e",
                "DeadLetterConfig": {"Arn": dlq},
                **target,
            }
        ],
    )
    return url


def dead_letters(session, url: str) -> list[dict]:
    return (
        session.client("sqs")
        .receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"])
        .get("Messages", [])
    )


def test_a_push_while_the_mirror_builds_is_refused_a_build_and_mirrored_by_the_running_one(aws, tmp_path, codecommit):
    project_arn = mirror_project(aws, codecommit)
    dlq = push_rule(aws, project_arn, RetryPolicy={"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 60})
    builds = worker(aws, tmp_path, codecommit)
    delivery = EventBus(
        aws.client("events"), lambda *a: None, builds.start_build, {}, REGION, ACCOUNT, retry_base_s=0.01
    )
    # The running build's first push to repo2 waits until the developer has pushed again.
    started, go = tmp_path / "started", tmp_path / "go"
    hook = codecommit.repositories["repo2"].path / "hooks" / "pre-receive"
    hook.write_text(
        f"#!/bin/sh\ncat >/dev/null\n[ -e {started} ] && exit 0\ntouch {started}\n"
        f"while [ ! -e {go} ]; do sleep 0.05; done\n"
    )
    hook.chmod(0o755)

    push(tmp_path, codecommit)
    assert codecommit.poll(delivery.put_event) == 1
    wait(started.exists)
    work = push(tmp_path, codecommit)
    assert codecommit.poll(delivery.put_event) == 1
    go.touch()
    wait(lambda: builds.idle() and delivery.idle())
    builds.stop()

    [build] = builds.builds
    assert build.status == "SUCCEEDED", build.log
    assert builds.refused == [("git-mirror", "rule/push")]
    [message] = dead_letters(aws, dlq)
    attributes = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
    assert attributes["ERROR_CODE"] == "AccountLimitExceededException"
    assert attributes["RETRY_ATTEMPTS"] == "0"  # a client error: not retried
    assert "EXHAUSTED_RETRY_CONDITION" not in attributes
    assert json.loads(message["Body"])["detail"]["event"] == "referenceUpdated"
    assert "changed during pass 1; mirroring again" in build.log
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=work, capture_output=True, text=True).stdout.strip()
    assert codecommit.refs("repo2") == codecommit.refs("repo1") == {"refs/heads/main": head}


def test_a_throttled_start_is_retried_and_one_that_keeps_failing_goes_to_the_dead_letter_queue(aws):
    project_arn = f"arn:aws:codebuild:{REGION}:{ACCOUNT}:project/p"
    dlq = push_rule(aws, project_arn, RetryPolicy={"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 60})
    answers = [TargetError("ThrottlingException", "Rate exceeded", 429)] * 2

    def start_build(project, trigger):
        if answers:
            raise answers.pop(0)
        return f"build of {project}"

    delivery = EventBus(aws.client("events"), lambda *a: None, start_build, {}, REGION, ACCOUNT, retry_base_s=0.01)
    event = state_change_event(REPO, ZERO, "a" * 40, "refs/heads/main", REGION, ACCOUNT)
    delivery.put_event(event)
    wait(delivery.idle)
    assert delivery.deliveries[-1]["errors"] == ["ThrottlingException"] * 2
    assert delivery.deliveries[-1]["result"] == "build of p"
    assert dead_letters(aws, dlq) == []

    answers.extend([TargetError("ThrottlingException", "Rate exceeded", 429)] * 3)
    delivery.put_event(event)
    wait(delivery.idle)
    [message] = dead_letters(aws, dlq)
    attributes = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
    assert attributes["EXHAUSTED_RETRY_CONDITION"] == "MaximumRetryAttempts"
    assert attributes["RETRY_ATTEMPTS"] == "2"
    assert attributes["RULE_ARN"].endswith(":rule/push")
    assert attributes["TARGET_ARN"] == project_arn
    assert json.loads(message["Body"]) == event
    assert delivery.stats["dead_lettered"] == 1
