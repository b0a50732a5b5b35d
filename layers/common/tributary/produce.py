"""Command line producer: NDJSON from a file or stdin, or synthetic IoT events, into a stream.

    python -m tributary.produce --stream NAME [--input FILE|-] [--aggregate]
    python -m tributary.produce --stream NAME --synthetic --count 10000 --rate 500 --malformed 0.02

Prints a JSON report. Exit status 0 when every record was sent, 1 when some could not be
sent (they are listed in the report and, with --failed-out, written there to resend), 2 on
a usage error. The AWS region, credentials and endpoint come from the usual AWS settings.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

from tributary import json_codec, synthetic
from tributary.producer import Entry, Producer


def partition_key(line: bytes, field: str) -> str:
    """The value at a dotted path of the record (device id by default), else a hash of the line."""
    try:
        value = json_codec.loads(line)
        for part in field.split("."):
            value = value[part]
        if isinstance(value, (str, int)) and str(value):
            return str(value)[:256]
    except (json_codec.JsonError, KeyError, TypeError, IndexError):
        pass
    return hashlib.sha256(line).hexdigest()[:32]


def from_lines(stream: IO[bytes], field: str) -> Iterator[Entry]:
    """One entry per non-blank NDJSON line, sent as it is (the processor quarantines bad ones)."""
    for raw in stream:
        line = raw.rstrip(b"\r\n")
        if line.strip():
            yield Entry(line, partition_key(line, field))


def paced(entries: Iterable[Entry], rate: float, chunk: int = 100) -> Iterator[Entry]:
    """Yield entries at about ``rate`` per second (no pacing when rate is 0)."""
    if rate <= 0:
        yield from entries
        return
    started = time.monotonic()
    for index, entry in enumerate(entries):
        if index and index % chunk == 0:
            ahead = index / rate - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)
        yield entry


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tributary.produce", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stream", required=True, help="Kinesis stream name")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--input", default="-", help="NDJSON file, or - for stdin (default)")
    source.add_argument("--synthetic", action="store_true", help="generate IoT-style events instead")
    parser.add_argument("--count", type=int, default=1000, help="synthetic records to generate")
    parser.add_argument("--rate", type=float, default=0.0, help="records per second (0: as fast as possible)")
    parser.add_argument("--malformed", type=float, default=0.0, help="fraction of malformed synthetic records")
    parser.add_argument("--devices", type=int, default=100, help="distinct synthetic devices")
    parser.add_argument("--seed", type=int, default=0, help="seed for synthetic records")
    parser.add_argument("--id-prefix", default="", help="prefix of synthetic record ids (to tell runs apart)")
    parser.add_argument("--partition-key-field", default="payload.device_id",
                        help="dotted path of the partition key in each record (default payload.device_id)")
    parser.add_argument("--aggregate", action="store_true", help="pack records into KPL aggregates")
    parser.add_argument("--max-attempts", type=int, default=6, help="attempts per record before giving up")
    parser.add_argument("--failed-out", type=Path, help="write records that could not be sent here (NDJSON)")
    args = parser.parse_args(argv)
    if args.count < 0 or not 0 <= args.malformed <= 1 or args.max_attempts < 1:
        parser.error("--count >= 0, --malformed between 0 and 1, --max-attempts >= 1")

    if args.synthetic:
        entries: Iterable[Entry] = (
            Entry(r.data, r.device_id)
            for r in synthetic.generate(args.count, seed=args.seed, malformed=args.malformed, devices=args.devices,
                                        id_prefix=args.id_prefix)
        )
        opened = None
    else:
        opened = sys.stdin.buffer if args.input == "-" else open(args.input, "rb")  # noqa: SIM115
        entries = from_lines(opened, args.partition_key_field)
    try:
        producer = Producer(args.stream, max_attempts=args.max_attempts, aggregate=args.aggregate)
        report = producer.send(paced(entries, args.rate))
    finally:
        if opened is not None and opened is not sys.stdin.buffer:
            opened.close()
    if args.failed_out and report.failed:
        with args.failed_out.open("wb") as out:
            for failure in report.failed:
                out.write(failure.entry.data + b"\n")
    print(json.dumps(report.as_dict(), sort_keys=True))
    for failure in report.failed[:20]:
        print(f"not sent ({failure.error_code}): {failure.error_message}", file=sys.stderr)
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
