"""A CodeBuild worker: runs a project's buildspec the way CodeBuild does, on this machine.

moto stores projects and answers StartBuild, but runs nothing. ``LocalCodeBuild`` reads the
project from the embedded AWS (source, buildspec, environment variables), downloads the
source into a fresh source directory (a ``CODECOMMIT`` source is cloned at full depth, as
``git_clone_depth = 0``, and fails the build when the repository has no default branch to
check out; a ``NO_SOURCE`` project starts in an empty directory), and runs the buildspec's
phases in order in a fresh ``HOME``, with the variables CodeBuild sets
(``CODEBUILD_BUILD_ID``, ``CODEBUILD_SRC_DIR``, ...). Phase rules, from the buildspec
reference: ``install`` and ``pre_build`` stop the build at the first failing command;
``post_build`` runs even after a failed ``build``; the build fails if any phase does.
Commands find the local CodeCommit's ``aws`` (``home/bin``) first on their ``PATH``.

A project's concurrent build limit holds as in AWS: a start while that many builds of the
project are in progress is refused with a client error (``ConcurrentBuildLimitError``, as
StartBuild's ``AccountLimitExceededException``, HTTP 400), and no build is created. The limit is
the project's ``concurrentBuildLimit`` (moto keeps it with ``local/moto_patches.py``), else
``build_limit`` (1, what the stack's one project, the git mirror, sets). Accepted builds run one
at a time, in the order they were started.
"""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from local.codecommit import git_environment

PHASES = ("install", "pre_build", "build", "post_build")


class ConcurrentBuildLimitError(Exception):
    """StartBuild refused because the project's concurrent build limit is reached."""

    code = "AccountLimitExceededException"
    status = 400  # a client error: EventBridge sends the event to the DLQ without retrying

    def __init__(self, project: str, limit: int) -> None:
        super().__init__(f"project {project} already has {limit} build(s) in progress (its concurrent build limit)")


@dataclass
class Build:
    id: str
    project: str
    trigger: str
    status: str = "IN_PROGRESS"
    phase_status: dict[str, str] = field(default_factory=dict)
    log: str = ""
    seconds: float = 0.0


def parse_buildspec(text: str) -> dict[str, list[str]]:
    """A version 0.2 buildspec's commands per phase."""
    document = yaml.safe_load(text) or {}
    if str(document.get("version")) != "0.2":
        raise ValueError(f"buildspec version {document.get('version')!r} is not supported (0.2 is)")
    phases = document.get("phases") or {}
    unknown = set(phases) - set(PHASES)
    if unknown:
        raise ValueError(f"buildspec has unknown phases: {sorted(unknown)}")
    return {name: [str(c) for c in (phases.get(name) or {}).get("commands", [])] for name in PHASES if name in phases}


class LocalCodeBuild:
    """Runs builds of the projects stored in the embedded AWS."""

    def __init__(
        self,
        codebuild: Any,
        workdir: Path,
        environment: dict[str, str],
        configure_git: Callable[[Path], None],
        log_dir: Path,
        region: str,
        build_limit: int | None = 1,
    ) -> None:
        self.codebuild = codebuild
        self.workdir = workdir
        self.environment = environment
        self.configure_git = configure_git
        self.log_dir = log_dir
        self.region = region
        self.build_limit = build_limit
        self.builds: list[Build] = []
        self.refused: list[tuple[str, str]] = []  # (project, trigger) of each refused start
        self._queue: queue.Queue[Build | None] = queue.Queue()
        self._running = 0
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._work, name="codebuild", daemon=True)
        self._thread.start()

    def start_build(self, project: str, trigger: str) -> Build:
        """StartBuild: refused while the project's concurrent build limit is reached."""
        stored = self.codebuild.batch_get_projects(names=[project])["projects"][0]
        limit = stored.get("concurrentBuildLimit", self.build_limit)
        build = Build(id=f"{project}:{uuid.uuid4()}", project=project, trigger=trigger)
        with self._lock:
            if limit and sum(b.project == project and b.status == "IN_PROGRESS" for b in self.builds) >= limit:
                self.refused.append((project, trigger))
                raise ConcurrentBuildLimitError(project, limit)
            self.builds.append(build)
            self._running += 1
        self._queue.put(build)
        return build

    def idle(self) -> bool:
        with self._lock:
            return self._running == 0

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=60)

    def _work(self) -> None:
        while (build := self._queue.get()) is not None:
            try:
                self._run(build)
            except Exception as exc:  # a broken project definition fails the build, not the runtime
                build.status = "FAULT"
                build.log += f"\n[Container] build could not run: {exc}\n"
            finally:
                self.log_dir.mkdir(parents=True, exist_ok=True)
                with (self.log_dir / f"codebuild-{build.project}.log").open("a") as log:
                    log.write(f"=== {build.id} ({build.trigger}): {build.status}\n{build.log}\n")
                with self._lock:
                    self._running -= 1

    def _run(self, build: Build) -> None:
        started = time.monotonic()
        project = self.codebuild.batch_get_projects(names=[build.project])["projects"][0]
        phases = parse_buildspec(project["source"]["buildspec"])
        root = self.workdir / build.id.replace(":", "-")
        home, src = root / "home", root / "src"
        self.configure_git(home)
        env = {
            **git_environment(home),
            **self.environment,
            "CODEBUILD_BUILD_ID": build.id,
            "CODEBUILD_BUILD_ARN": f"{project['arn'].rsplit(':', 1)[0]}:build/{build.id}",
            "CODEBUILD_SRC_DIR": str(src),
            "CODEBUILD_INITIATOR": build.trigger,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            **{v["name"]: v["value"] for v in project["environment"].get("environmentVariables", [])},
        }
        env["PATH"] = f"{home / 'bin'}{os.pathsep}{env['PATH']}"
        try:
            if not self._download_source(build, project["source"], src, env):
                build.phase_status["DOWNLOAD_SOURCE"] = "FAILED"
                build.status = "FAILED"
                return
            failed = False
            for phase, commands in phases.items():
                if failed and phase != "post_build":
                    continue
                status = "SUCCEEDED"
                for command in commands:
                    result = subprocess.run(
                        ["bash", "-c", command], cwd=src, env=env, capture_output=True, text=True, timeout=30 * 60
                    )
                    shown = command if len(command) <= 160 else f"{command[:100]}...{command[-50:]}"
                    build.log += f"[Container] Running command {shown}\n{result.stdout}{result.stderr}"
                    if result.returncode != 0:
                        build.log += (
                            f"[Container] Command did not exit successfully {shown} exit status {result.returncode}\n"
                        )
                        status = "FAILED"
                        break
                build.phase_status[phase] = status
                failed = failed or status == "FAILED"
            build.status = "FAILED" if failed else "SUCCEEDED"
        finally:
            build.seconds = round(time.monotonic() - started, 2)
            shutil.rmtree(root, ignore_errors=True)

    @staticmethod
    def _download_source(build: Build, source: dict[str, Any], src: Path, env: dict[str, str]) -> bool:
        """The DOWNLOAD_SOURCE phase; False when it failed."""
        if source["type"] == "NO_SOURCE":
            src.mkdir(parents=True)
            return True
        if source["type"] != "CODECOMMIT":
            raise ValueError(f"source type {source['type']} is not run locally")
        depth = source.get("gitCloneDepth", 0)
        clone = ["git", "clone", "--quiet", *([f"--depth={depth}"] if depth else []), source["location"], str(src)]
        result = subprocess.run(clone, env=env, capture_output=True, text=True)
        build.log += f"[Container] DOWNLOAD_SOURCE {source['location']}\n{result.stderr}"
        if result.returncode != 0:
            return False
        # CodeBuild checks out the repository's default branch; an empty repository has none.
        if (
            subprocess.run(
                ["git", "rev-parse", "--quiet", "--verify", "HEAD"], cwd=src, env=env, capture_output=True
            ).returncode
            != 0
        ):
            build.log += f"[Container] DOWNLOAD_SOURCE {source['location']} has no default branch to check out\n"
            return False
        return True
