"""`make backfill` and `make verify`: the table sync tools, with the table names of an environment.

    python -m tools.table_repair backfill --env dev [--segments 8]
    python -m tools.table_repair verify --env dev [--repair] [--segments 8]

Names come from terraform/topology.json and environments/<env>.tfvars.json, as the stack
names them; the AWS account, region and endpoint from the usual AWS settings
(AWS_ENDPOINT_URL points them at `make local KEEP=1`).
"""

from __future__ import annotations

import argparse
import sys

from stack import topology
from tributary_cli import tables


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.table_repair", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("backfill", "verify"))
    parser.add_argument("--env", required=True, help="environment (terraform/environments/<env>.tfvars.json)")
    parser.add_argument("--segments", default="4")
    parser.add_argument("--repair", action="store_true")
    args = parser.parse_args(argv)
    try:
        stack = topology.load(args.env)
    except FileNotFoundError:
        parser.error(f"no environment {args.env!r}: terraform/environments/{args.env}.tfvars.json does not exist")
    forwarded = [
        args.command,
        "--source",
        stack.resource("table1").name,
        "--target",
        stack.resource("table2").name,
        "--segments",
        args.segments,
    ]
    if args.repair:
        forwarded.append("--repair")
    return tables.main(forwarded)


if __name__ == "__main__":
    sys.exit(main())
