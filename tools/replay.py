"""Put records back on the events stream after a fix (`make replay`).

    python -m tools.replay quarantine --env dev --from 2026-11-22T10 [--to 2026-11-22T12] \
        [--reason not_json] [--dry-run]
    python -m tools.replay failed-batches --env dev [--dry-run]

``quarantine`` reads the quarantine objects of the hours from FROM to TO (UTC, inclusive),
optionally only one reason, and puts each record's original bytes back on the stream with
its original partition key, through the same producer the SDK uses (retries, partial
failures). Each object replayed is recorded under ``_state/replayed/``; running again skips
it, so a replay can be resumed after an interruption.

``failed-batches`` reads the events stream mapping's on-failure destination (the invocation
records Lambda sends after the retries, with the shard and sequence range, not the
records), reads that range from the stream again (while it is within the retention period)
and puts the records back; each message is deleted once its records are back on the stream.

Replayed records go through validation again. The processor drops a record it already
wrote (matched by envelope id), so replaying twice does not duplicate the lake.
"""

from __future__ import annotations

import argparse
import json
import sys
from base64 import b64decode
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from tools.stack import resolve
from tributary import aws, lake
from tributary.producer import Entry, Producer

REPLAYED = "_state/replayed/"
QUARANTINE_PREFIX = "quarantine"


def hours(start: str, end: str | None) -> list[str]:
    """UTC hours from ``start`` to ``end`` inclusive (``YYYY-MM-DDTHH``), as partition prefixes."""
    first = datetime.strptime(start, "%Y-%m-%dT%H").replace(tzinfo=UTC)
    last = datetime.strptime(end, "%Y-%m-%dT%H").replace(tzinfo=UTC) if end else first
    if last < first:
        raise SystemExit("--to is before --from")
    if last - first > timedelta(days=31):
        raise SystemExit("replay at most 31 days at a time")
    out = []
    while first <= last:
        out.append(lake.partition_prefix(QUARANTINE_PREFIX, first.strftime("%Y-%m-%dT%H:%M:%SZ")))
        first += timedelta(hours=1)
    return out


def quarantined(s3: Any, bucket: str, prefixes: list[str]) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """(key, lines) of every quarantine object under the prefixes."""
    for prefix in prefixes:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
                yield item["Key"], lake.decode_ndjson(lake.decompress_object(item["Key"], body))


def already_replayed(s3: Any, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=REPLAYED + key)
        return True
    except s3.exceptions.ClientError as error:
        if error.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
            return False
        raise


def replay_quarantine(
    s3: Any, producer: Producer, bucket: str, prefixes: list[str], reason: str | None, dry_run: bool
) -> Counter:
    counts: Counter = Counter()
    for key, lines in quarantined(s3, bucket, prefixes):
        if already_replayed(s3, bucket, key):
            counts["objects_skipped"] += 1
            continue
        chosen = [line for line in lines if reason is None or line["reason"] == reason]
        counts["records_skipped_other_reason"] += len(lines) - len(chosen)
        entries = [Entry(b64decode(line["raw_base64"]), line["partition_key"]) for line in chosen]
        print(f"{'(dry run) ' if dry_run else ''}{key}: {len(entries)} record(s)")
        if dry_run or not entries:
            counts["records_to_replay"] += len(entries)
            continue
        report = producer.send(entries)
        if report.failed:
            counts["records_failed"] += len(report.failed)
            print(f"  {len(report.failed)} record(s) could not be put; the object stays unreplayed", file=sys.stderr)
            continue
        counts["records_replayed"] += len(entries)
        counts["objects_replayed"] += 1
        if reason is None:  # a partial (one reason) replay leaves the object replayable for the others
            s3.put_object(Bucket=bucket, Key=REPLAYED + key, Body=json.dumps({"records": len(entries)}).encode())
    return counts


def failed_batch_records(kinesis: Any, message: dict[str, Any]) -> list[Entry]:
    """The records an on-failure invocation record names, read again from the stream."""
    info = message["KinesisBatchInfo"]
    stream_arn, shard = info["streamArn"], info["shardId"]
    first, last = int(info["startSequenceNumber"]), int(info["endSequenceNumber"])
    iterator = kinesis.get_shard_iterator(
        StreamARN=stream_arn,
        ShardId=shard,
        ShardIteratorType="AT_SEQUENCE_NUMBER",
        StartingSequenceNumber=info["startSequenceNumber"],
    )["ShardIterator"]
    entries: list[Entry] = []
    while iterator:
        page = kinesis.get_records(ShardIterator=iterator, Limit=10_000, StreamARN=stream_arn)
        for record in page["Records"]:
            if int(record["SequenceNumber"]) > last:
                return entries
            if int(record["SequenceNumber"]) >= first:
                entries.append(Entry(record["Data"], record["PartitionKey"]))
        if not page["Records"] and page.get("MillisBehindLatest", 0) == 0:
            break
        iterator = page.get("NextShardIterator")
    return entries


def receive_all(sqs: Any, queue_url: str, visibility_s: int) -> Iterator[dict[str, Any]]:
    """Every message of a queue, once: short polls until three in a row come back empty and the
    queue reports none waiting (a short poll samples a subset of SQS's servers)."""
    empty = 0
    while empty < 3:
        messages = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=0,
            VisibilityTimeout=visibility_s,
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if messages:
            empty = 0
            yield from messages
            continue
        waiting = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"])
        empty = empty + 1 if waiting["Attributes"]["ApproximateNumberOfMessages"] == "0" else 0


def replay_failed_batches(sqs: Any, kinesis: Any, producer: Producer, queue_url: str, dry_run: bool) -> Counter:
    counts: Counter = Counter()
    looked_at: list[str] = []
    for message in receive_all(sqs, queue_url, visibility_s=300):
        info = json.loads(message["Body"])["KinesisBatchInfo"]
        entries = failed_batch_records(kinesis, json.loads(message["Body"]))
        missing = int(info.get("batchSize", len(entries))) - len(entries)
        print(
            f"{'(dry run) ' if dry_run else ''}{info['shardId']} {info['startSequenceNumber']}.."
            f"{info['endSequenceNumber']}: {len(entries)} record(s)"
            + (f", {missing} no longer in the stream" if missing else "")
        )
        if dry_run:
            counts["records_to_replay"] += len(entries)
            looked_at.append(message["ReceiptHandle"])
            continue
        report = producer.send(entries) if entries else None
        if report is not None and report.failed:
            counts["records_failed"] += len(report.failed)
            continue
        counts["records_replayed"] += len(entries)
        if missing:
            # Past the retention period: the message is the only record of what was lost; keep it.
            counts["records_missing"] += missing
            counts["batches_kept"] += 1
            looked_at.append(message["ReceiptHandle"])
            continue
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        counts["batches_replayed"] += 1
    for handle in looked_at:  # messages kept (or only counted) are visible again for the next run
        sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=handle, VisibilityTimeout=0)
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make replay", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    q = sub.add_parser("quarantine")
    q.add_argument("--from", dest="start", required=True, help="first UTC hour, YYYY-MM-DDTHH")
    q.add_argument("--to", dest="end", help="last UTC hour (default: --from)")
    q.add_argument("--reason", help="only records quarantined for this reason")
    f = sub.add_parser("failed-batches")
    for p in (q, f):
        p.add_argument("--env", required=True)
        p.add_argument("--dry-run", action="store_true")
    args = parser.parse_args(argv)
    stack = resolve(args.env)
    producer = Producer(stack.name("events_stream"))
    if args.command == "quarantine":
        counts = replay_quarantine(
            aws.client("s3"),
            producer,
            stack.name("lake_bucket"),
            hours(args.start, args.end),
            args.reason,
            args.dry_run,
        )
    else:
        counts = replay_failed_batches(
            aws.client("sqs"), aws.client("kinesis"), producer, stack.queue_url("events_failures_queue"), args.dry_run
        )
    print(json.dumps(dict(counts), sort_keys=True))
    return 1 if counts["records_failed"] or counts["records_missing"] else 0


if __name__ == "__main__":
    sys.exit(main())
