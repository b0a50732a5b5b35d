"""``make bench``: every benchmark in one run, a table on stdout, the figures in dist/bench.json.

    .venv/bin/python -m bench [--quick] [--no-lake] [--repeats N] [--out PATH]

``--quick`` runs every benchmark on tiny inputs (to check the code, not to measure);
``--no-lake`` leaves out benchmark 8 (the lake's full hour, most of the run's time).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny inputs, one repetition: checks the code only")
    parser.add_argument("--no-lake", action="store_true", help="leave out the lake's full hour (benchmark 8)")
    parser.add_argument("--repeats", type=int, default=None, help="repetitions of each measurement (default 7)")
    parser.add_argument("--out", type=Path, default=ROOT / "dist" / "bench.json")
    parser.add_argument(
        "--source",
        action="store_true",
        help="measure memory with the source tree instead of the zips from `make build-host`",
    )
    args = parser.parse_args(argv)

    from bench import environment

    environment.prepare()
    from bench import code_sync, cost, dynamodb, lake_query, memory, processor, producer, report

    repeats = args.repeats or (1 if args.quick else 7)
    records = 200 if args.quick else 10_000
    started = time.monotonic()
    sections = processor.run(repeats, batch_records=records, state_ids=1000 if args.quick else None)
    sections.append(memory.run(quick=args.quick, use_zips=not args.source))
    sections.append(dynamodb.run(repeats, images=50 if args.quick else 2000))
    sections.append(producer.run(repeats, records=200 if args.quick else 10_000))
    sections.append(code_sync.run(objects=60 if args.quick else 600))
    if not args.no_lake:
        sections.append(lake_query.run(repeats, rate=2 if args.quick else 1000))
    sections.extend(cost.run(sections))
    settings = {
        "quick": args.quick,
        "lake": not args.no_lake,
        "repeats": repeats,
        "batch_records": records,
        "seconds": round(time.monotonic() - started, 1),
    }
    print(report.table(sections))
    report.write_json(sections, settings, args.out)
    shown = args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out
    print(f"\nwrote {shown} ({settings['seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
