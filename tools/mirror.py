"""Run the git mirror now (`make mirror`), as a push or the nightly schedule would, and wait.

    python -m tools.mirror --env dev [--no-wait]

Starts a build of the environment's git-mirror CodeBuild project and waits for it to end;
exits 0 when it succeeded, 1 otherwise, naming the failed phase and the log group. The
project allows one build at a time: a start while one runs is refused by CodeBuild, and
the answer is to wait for that build (it fetches the newest refs when it starts).
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from tools.stack import resolve
from tributary import aws

FINAL = {"SUCCEEDED", "FAILED", "FAULT", "STOPPED", "TIMED_OUT"}


def run(codebuild: Any, project: str, wait: bool, poll_s: float = 10, timeout_s: float = 3600) -> tuple[str, dict]:
    build = codebuild.start_build(projectName=project)["build"]
    print(f"started {build['id']}")
    deadline = time.monotonic() + timeout_s
    while wait and build["buildStatus"] not in FINAL and time.monotonic() < deadline:
        time.sleep(poll_s)
        build = codebuild.batch_get_builds(ids=[build["id"]])["builds"][0]
    return build["buildStatus"], build


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make mirror", description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", required=True)
    parser.add_argument("--no-wait", action="store_true")
    args = parser.parse_args(argv)
    project = resolve(args.env).name("git_mirror")
    status, build = run(aws.client("codebuild"), project, wait=not args.no_wait)
    if status == "SUCCEEDED" or (args.no_wait and status == "IN_PROGRESS"):
        print(f"{project}: {status}")
        return 0
    failed = [p["phaseType"] for p in build.get("phases", []) if p.get("phaseStatus") not in (None, "SUCCEEDED")]
    print(
        f"{project}: {status} (phase {', '.join(failed) or 'unknown'}); logs in /aws/codebuild/{project}",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
