"""Move the messages of a queue's dead-letter queue back to the queue (`make redrive`).

    python -m tools.redrive --env dev --queue changes_queue [--max 1000] [--dry-run]

Each message is sent to the source queue with its body and message attributes, then
deleted from the DLQ: a crash in between leaves it in both, and the consumers are
idempotent (the change applier's version guard, the code sync's reconcile-by-key), so a
duplicate is harmless while a loss is not. Redrive after the cause is fixed; messages that
fail again return to the DLQ after the queue's maxReceiveCount.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from typing import Any

from tools.replay import receive_all
from tools.stack import resolve
from tributary import aws

REDRIVABLE = ("changes_queue", "code_events_queue")


def redrive(sqs: Any, dlq_url: str, queue_url: str, limit: int, dry_run: bool) -> Counter:
    counts: Counter = Counter()
    if dry_run:
        attributes = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["ApproximateNumberOfMessages"])
        counts["messages_waiting"] = int(attributes["Attributes"]["ApproximateNumberOfMessages"])
        return counts
    for message in receive_all(sqs, dlq_url, visibility_s=60):
        if counts["moved"] >= limit:
            sqs.change_message_visibility(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"],
                                          VisibilityTimeout=0)
            break
        kwargs: dict[str, Any] = {"QueueUrl": queue_url, "MessageBody": message["Body"]}
        if message.get("MessageAttributes"):
            kwargs["MessageAttributes"] = message["MessageAttributes"]
        sqs.send_message(**kwargs)
        sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"])
        counts["moved"] += 1
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make redrive", description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", required=True)
    parser.add_argument("--queue", required=True, choices=REDRIVABLE)
    parser.add_argument("--max", type=int, default=100_000, help="move at most this many messages")
    parser.add_argument("--dry-run", action="store_true", help="only count the messages waiting")
    args = parser.parse_args(argv)
    stack = resolve(args.env)
    counts = redrive(aws.client("sqs"), stack.queue_url(args.queue, dead_letter=True), stack.queue_url(args.queue),
                     args.max, args.dry_run)
    print(json.dumps(dict(counts), sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
