"""`make s3-sync`: reconcile bucket1/code into bucket2/code now, as the nightly schedule does.

    python -m tools.s3sync --env dev [--dry-run]

Bucket names come from terraform/topology.json and environments/<env>.tfvars.json; the AWS
account is taken from the caller's identity (bucket names include it). Prints every action.
"""

from __future__ import annotations

import argparse
import json
import sys

from tools.stack import resolve
from tributary import aws, s3sync


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.s3sync", description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", required=True)
    parser.add_argument("--dry-run", action="store_true", help="print what would be done, change nothing")
    args = parser.parse_args(argv)
    stack = resolve(args.env)
    prefixes = s3sync.Prefixes(stack.name("code_bucket1"), stack.name("code_bucket2"))
    s3 = aws.client("s3")
    todo = s3sync.plan(s3, prefixes)
    for key in todo.copy:
        print(f"{'(dry run) ' if args.dry_run else ''}copy   s3://{prefixes.source_bucket}/{key} -> "
              f"s3://{prefixes.target_bucket}/{prefixes.target_key(key)}")
    for key in todo.delete:
        print(f"{'(dry run) ' if args.dry_run else ''}delete s3://{prefixes.target_bucket}/{key}")
    if not args.dry_run:
        counts = s3sync.apply_plan(s3, prefixes, todo)
        print(json.dumps({**counts, "unchanged": todo.unchanged}))
    result = s3sync.compare(s3, prefixes)
    print(f"bucket1/code {'==' if result['equal'] else '!='} bucket2/code "
          f"({result['source_objects']} / {result['target_objects']} objects)")
    return 0 if result["equal"] or args.dry_run else 1


if __name__ == "__main__":
    sys.exit(main())
