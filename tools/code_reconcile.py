"""`make s3-sync`: reconcile bucket1/code into bucket2/code now, as the nightly schedule does.

    python -m tools.code_reconcile --env dev [--dry-run]

Bucket names come from terraform/topology.json and environments/<env>.tfvars.json; the AWS
account is taken from the caller's identity (bucket names include it). Prints every action
(with why: missing, content, headers, metadata, tags), then the counts. Exits 0 when the
prefixes are equal, 2 when some objects could not be copied or deleted (each is printed with
its reason; the rest is done, deletes included), 1 when they still differ otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys

from tools.stack import resolve
from tributary import aws, s3sync


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.code_reconcile", description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", required=True)
    parser.add_argument("--dry-run", action="store_true", help="print what would be done, change nothing")
    args = parser.parse_args(argv)
    stack = resolve(args.env)
    prefixes = s3sync.Prefixes(stack.name("code_bucket1"), stack.name("code_bucket2"))
    s3 = aws.client("s3")
    mark = "(dry run) " if args.dry_run else ""

    def show(todo: s3sync.SyncPlan, steps: list[s3sync.Step]) -> None:
        for step in steps:
            if step.action == "copy":
                print(
                    f"{mark}copy   s3://{prefixes.source_bucket}/{step.key} -> "
                    f"s3://{prefixes.target_bucket}/{prefixes.target_key(step.key)}  ({step.why})"
                )
            else:
                print(f"{mark}delete s3://{prefixes.target_bucket}/{step.key}")

    if args.dry_run:
        todo = s3sync.plan(s3, prefixes, on_chunk=show)
        failed = todo.failed
    else:
        outcome = s3sync.Outcome()

        def carry(todo: s3sync.SyncPlan, steps: list[s3sync.Step]) -> None:
            show(todo, steps)
            s3sync.apply_steps(s3, prefixes, steps, outcome)

        todo = s3sync.plan(s3, prefixes, on_chunk=carry)
        outcome.counts["unchanged"] += todo.unchanged
        outcome.failed = todo.failed + outcome.failed
        failed = outcome.failed
        print(json.dumps({k: v for k, v in outcome.as_dict().items() if k != "failures"}))
    for failure in failed:
        print(f"failed {failure['key']}: {failure['reason']} {failure['detail']}", file=sys.stderr)
    if args.dry_run:
        return 2 if failed else 0
    result = s3sync.compare(s3, prefixes)
    print(
        f"bucket1/code {'==' if result['equal'] else '!='} bucket2/code "
        f"({result['source_objects']} / {result['target_objects']} objects)"
    )
    # As `aws s3 sync`: 2 when some objects could not be copied or deleted, 1 on any other difference.
    return 2 if failed else (0 if result["equal"] else 1)


if __name__ == "__main__":
    sys.exit(main())
