"""Command line producer: NDJSON from a file or stdin, or synthetic IoT events, into a stream.

    python -m tributary_cli.produce --stream NAME [--input FILE|-] [--aggregate]
    python -m tributary_cli.produce --stream NAME --synthetic --count 10000 --rate 500 --malformed 0.02

Prints a JSON report. Exit status 0 when every record was sent; 1 when some could not be
sent (they are listed in the report and, with --failed-out, written there to resend); 2 on
a usage error (an unreadable --input, an unwritable --failed-out) or when an error no retry
can mend stopped the run (no such stream, no credentials or region, an unreachable endpoint,
access denied): then the report and --failed-out hold every record not sent. The AWS
region, credentials and endpoint come from the usual AWS settings.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import stat
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, NoRegionError

from tributary import json_codec
from tributary.producer import Entry, Producer, Report
from tributary_cli import synthetic

# The producer retries what a retry can mend, record by record; the SDK retrying whole calls
# underneath, connection errors included, only makes a dead endpoint take longer to report.
CLIENT_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": 1},
    connect_timeout=3,
    read_timeout=30,
    tcp_keepalive=True,
)
HINTS = {
    "ResourceNotFoundException": "check --stream and the AWS region",
    "AccessDeniedException": "the credentials need kinesis:PutRecords, and kinesis:ListShards with --aggregate",
    "NoCredentialsError": "set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
    "PartialCredentialsError": "the AWS credentials are incomplete",
    "UnrecognizedClientException": "check the AWS credentials",
    "InvalidSignatureException": "check the AWS credentials",
    "ExpiredTokenException": "the AWS session has expired",
    "NoRegionError": "set AWS_DEFAULT_REGION, or a region in the AWS profile",
    "EndpointConnectionError": "check the network, or AWS_ENDPOINT_URL if set",
    "ConnectTimeoutError": "check the network, or AWS_ENDPOINT_URL if set",
}
SHOWN_REASONS = 20


def kinesis_client() -> Any:
    """The CLI's own Kinesis client: fails fast on connection errors, the producer retries the rest."""
    return boto3.session.Session().client("kinesis", config=CLIENT_CONFIG)


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


def paced(
    entries: Iterable[Entry], rate: float, chunk: int = 100, keep_pace: Callable[[], bool] = lambda: True
) -> Iterator[Entry]:
    """Yield entries at about ``rate`` per second (no pacing when rate is 0 or ``keep_pace()`` is False)."""
    if rate <= 0:
        yield from entries
        return
    started = time.monotonic()
    for index, entry in enumerate(entries):
        if index and index % chunk == 0 and keep_pace():
            ahead = index / rate - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)
        yield entry


def _refuse(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def _stopped(report: Report, stream: str, failed_out: str | None) -> str:
    code = (report.fatal or "").split(" ", 1)[0]
    if code.isdigit():
        code = "EndpointConnectionError"  # an HTTP answer from something that is not Kinesis
    hint = f" (hint: {HINTS[code]})" if code in HINTS else ""
    where = f" (written to {failed_out})" if failed_out else ""
    return (
        f"error: stream {stream!r}: {report.fatal}{hint}; stopped with "
        f"{report.sent} of {report.records} records sent, {len(report.failed)} not sent{where}."
    )


def _reasons(report: Report) -> Iterator[str]:
    """One line per distinct reason, not one per record."""
    reasons = Counter((f.error_code, f.error_message) for f in report.failed)
    for (code, message), count in reasons.most_common(SHOWN_REASONS):
        yield f"not sent ({code}): {message}" + (f" ({count} records)" if count > 1 else "")
    if len(reasons) > SHOWN_REASONS:
        yield f"... and {len(reasons) - SHOWN_REASONS} other reasons (see --failed-out)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tributary_cli.produce", description=__doc__.split("\n\n")[0])
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
    parser.add_argument(
        "--partition-key-field",
        default="payload.device_id",
        help="dotted path of the partition key in each record (default payload.device_id)",
    )
    parser.add_argument("--aggregate", action="store_true", help="pack records into KPL aggregates, per shard")
    parser.add_argument("--max-attempts", type=int, default=6, help="attempts per record before giving up")
    parser.add_argument(
        "--failed-out", help="write the records that were not sent here (NDJSON); emptied when all were sent"
    )
    args = parser.parse_args(argv)
    if args.count < 0 or not 0 <= args.malformed <= 1 or args.max_attempts < 1:
        parser.error("--count >= 0, --malformed between 0 and 1, --max-attempts >= 1")

    opened: IO[bytes] | None = None
    if args.synthetic:
        entries: Iterable[Entry] = (
            Entry(r.data, r.device_id)
            for r in synthetic.generate(
                args.count, seed=args.seed, malformed=args.malformed, devices=args.devices, id_prefix=args.id_prefix
            )
        )
    elif args.input == "-":
        entries = from_lines(sys.stdin.buffer, args.partition_key_field)
    else:
        try:
            opened = open(args.input, "rb")  # noqa: SIM115 (closed below, after the producer has read it)
        except OSError as exc:
            return _refuse(f"cannot read --input {args.input}: {exc.strerror or exc}.")
        entries = from_lines(opened, args.partition_key_field)
    try:
        return _run(args, entries)
    finally:
        if opened is not None:
            opened.close()


def _run(args: argparse.Namespace, entries: Iterable[Entry]) -> int:
    # Opened before anything is sent, so that a path it cannot write fails first; appending
    # leaves it intact until the end, when it may be the --input being resent.
    failed_out: IO[bytes] | None = None
    if args.failed_out:
        try:
            failed_out = open(args.failed_out, "ab")  # noqa: SIM115 (closed below)
        except OSError as exc:
            return _refuse(f"cannot write --failed-out {args.failed_out}: {exc.strerror or exc}; nothing was sent.")
    try:
        try:
            client = kinesis_client()
        except NoRegionError:
            return _refuse(f"no AWS region is set (hint: {HINTS['NoRegionError']}); nothing was sent.")
        except (BotoCoreError, ValueError) as exc:  # a malformed region or AWS_ENDPOINT_URL
            return _refuse(f"{str(exc).rstrip('.')}; nothing was sent.")
        producer = Producer(args.stream, client=client, max_attempts=args.max_attempts, aggregate=args.aggregate)
        report = producer.send(paced(entries, args.rate, keep_pace=lambda: producer.stopped is None))
        if failed_out is not None:
            if stat.S_ISREG(os.fstat(failed_out.fileno()).st_mode):
                failed_out.truncate(0)  # not /dev/stdout or a pipe
            for failure in report.failed:
                failed_out.write(failure.entry.data + b"\n")
    finally:
        if failed_out is not None:
            failed_out.close()
    print(json.dumps(report.as_dict(), sort_keys=True))
    if report.fatal:
        print(_stopped(report, args.stream, args.failed_out), file=sys.stderr)
        return 2
    for line in _reasons(report):
        print(line, file=sys.stderr)
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
