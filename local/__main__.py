"""`make local`: run tributary on an embedded AWS on this machine and audit the result.

    python -m local [--records N] [--table-changes N] [--code-files N] [--faults SPEC] [--seed N] [--keep]

Make passes N=, TABLE_CHANGES=, CODE_FILES=, FAULTS=, SEED=, PATHS= and KEEP=1 through. Exit
status 0 when nothing was lost or duplicated, 1 otherwise, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading

from local import faults as fault_spec
from local import query
from local.report import summary, write_report
from local.runtime import ROOT, LocalStack
from local.scenario import run
from local.workloads import Options

REPORT = ROOT / "dist" / "local-report.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make local", description=__doc__.split("\n\n")[0])
    defaults = Options()
    parser.add_argument("--records", type=int, default=int(os.environ.get("N") or defaults.records))
    parser.add_argument(
        "--table-changes",
        type=int,
        default=int(os.environ.get("TABLE_CHANGES") or defaults.table_changes),
        help="changes to write to table1",
    )
    parser.add_argument(
        "--code-files",
        type=int,
        default=int(os.environ.get("CODE_FILES") or defaults.code_files),
        help="files to upload, overwrite and delete under bucket1's code/",
    )
    parser.add_argument("--faults", default=os.environ.get("FAULTS", ""))
    parser.add_argument("--seed", type=int, default=int(os.environ.get("SEED") or 0))
    parser.add_argument("--keep", action="store_true", default=os.environ.get("KEEP", "") not in ("", "0"))
    parser.add_argument(
        "--paths",
        choices=("direct", "fanout", "both"),
        default=os.environ.get("PATHS") or None,
        help="table sync paths (default: the local environment's table_sync_paths)",
    )
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    try:
        rates = fault_spec.parse(args.faults)
    except fault_spec.FaultSpecError as exc:
        parser.error(f"FAULTS: {exc}")
    if args.records < 10:
        parser.error("N must be at least 10")
    if args.table_changes < 1:
        parser.error("TABLE_CHANGES must be at least 1")
    if args.code_files < 1:
        parser.error("CODE_FILES must be at least 1")

    say = lambda message: print(f"  {message}", flush=True)  # noqa: E731
    print(
        f"tributary: starting the local stack (N={args.records}, FAULTS={args.faults or 'none'}, SEED={args.seed})",
        flush=True,
    )
    variables = {"table_sync_paths": args.paths} if args.paths else {}
    stack = LocalStack(faults=fault_spec.Faults(rates, seed=args.seed), log=say, variables=variables)
    with stack:
        options = Options(
            records=args.records,
            table_changes=args.table_changes,
            code_files=args.code_files,
            seed=args.seed,
            progress=not args.no_progress,
        )
        report = run(stack, options)
        print(summary(report))
        write_report(report, REPORT)
        print(f"  report: {REPORT.relative_to(ROOT)}")
        if args.keep:
            keep_running(stack)
    return 0 if report["ok"] else 1


def keep_running(stack: LocalStack) -> None:
    """Leave the embedded AWS up for exploring, until Ctrl-C; ``make query`` finds it through
    ``dist/local/endpoint.json`` meanwhile."""
    print_exports(stack)
    query.ENDPOINT_FILE.parent.mkdir(parents=True, exist_ok=True)
    query.ENDPOINT_FILE.write_text(
        json.dumps({"environment": stack.aws_env, "lake_bucket": stack.topology.resource("lake_bucket").name})
    )
    print('\n  make query SQL="SELECT dt, hour, count(*) FROM events GROUP BY 1, 2 ORDER BY 1, 2"')
    print("\nPress Ctrl-C to stop.", flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGINT, lambda *a: stopped.set())
    signal.signal(signal.SIGTERM, lambda *a: stopped.set())
    try:
        stopped.wait()
    finally:
        query.ENDPOINT_FILE.unlink(missing_ok=True)


def print_exports(stack: LocalStack) -> None:
    """What a shell needs to reach the embedded AWS with the AWS CLI or boto3, exactly as printed."""
    env = stack.aws_env
    print("\nThe embedded AWS stays up (KEEP=1). In another shell:\n")
    # botocore and the AWS CLI read AWS_DEFAULT_REGION; AWS_REGION is what Lambda sets.
    exports = {
        **{key: env[key] for key in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")},
        "AWS_DEFAULT_REGION": env["AWS_REGION"],
        "AWS_REGION": env["AWS_REGION"],
    }
    for key, value in exports.items():
        print(f"  export {key}={value}")
    bucket = stack.topology.resource("lake_bucket").name
    stream = stack.topology.resource("events_stream").name
    print(f"\n  aws s3 ls s3://{bucket}/ --recursive | head")
    print(f"  aws kinesis describe-stream-summary --stream-name {stream}")
    print("  python3 -c \"import boto3; print(boto3.client('s3').list_buckets()['Buckets'])\"")


if __name__ == "__main__":
    sys.exit(main())
