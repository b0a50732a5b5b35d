"""Move the messages of a queue's dead-letter queue back to the queue (`make redrive`).

    python -m tools.redrive --env dev --queue changes_queue [--max 1000] [--dry-run]

Each message is sent to the source queue with its body and message attributes, then
deleted from the DLQ: a crash in between leaves it in both, and the consumers are
idempotent (the change applier's version guard, the code sync's reconcile-by-key), so a
duplicate is harmless while a loss is not. Redrive after the cause is fixed; messages that
fail again return to the DLQ after the queue's maxReceiveCount, and messages the applier
refuses return at once. The ``tributary.*`` attributes the applier adds to a message it
refuses (why it was refused) are not sent back.

A change older than the tombstones of table2 is not moved: a tombstone (the trace of a
delete) lives TOMBSTONE_TTL_SECONDS after the delete, and once DynamoDB's TTL has removed
it nothing stops an older change from bringing the deleted item back. Such messages stay in
the DLQ, the exit status is 1, and `make verify REPAIR=1` copies those items' current state
from table1 instead (docs/runbooks/recover-table2.md).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from typing import Any

from stack import declarations
from tools.replay import receive_all
from tools.stack import resolve
from tributary import aws, replica

REDRIVABLE = ("changes_queue", "code_events_queue")
# Queues of table changes, whose age decides whether they may apply again.
CHANGE_QUEUES = ("changes_queue",)
# Time between the redrive and the change being applied (a backlog in the queue), and clock skew.
SAFETY_MARGIN_S = 3600
ATTRIBUTE_PREFIX = "tributary."  # the applier's reasons for refusing a message (tributary.parking)


def tombstone_lifetime_s(specs: dict[str, declarations.FunctionSpec] | None = None) -> int:
    """How long a tombstone lives at least: the shortest TOMBSTONE_TTL_SECONDS of the functions writing table2."""
    found = [
        int(spec.environment["TOMBSTONE_TTL_SECONDS"])
        for spec in (specs or declarations.load_all()).values()
        if "TOMBSTONE_TTL_SECONDS" in spec.environment
    ]
    return min(found) if found else replica.DEFAULT_TOMBSTONE_TTL_S


def held_back(body: str, oldest_allowed: float) -> str:
    """Why a DLQ message must stay (a counter name), or "" to move it.

    The message is a change (raw delivery) or an SNS envelope around one. A change made before
    ``oldest_allowed`` stays, and so does one that does not say when it was made; a message
    that holds no change is moved (it can apply nothing).
    """
    try:
        document = json.loads(body)
    except ValueError:
        return ""
    envelope = isinstance(document, dict) and document.get("Type") == "Notification"
    text = document.get("Message") if envelope else body
    try:
        changed_at = replica.from_message(text if isinstance(text, str) else body).changed_at
    except replica.ChangeError:
        return ""
    if not changed_at:  # None, or 0 (a change that had no time)
        return "kept_undated"
    return "kept_older_than_tombstones" if changed_at < oldest_allowed else ""


def redrive(
    sqs: Any,
    dlq_url: str,
    queue_url: str,
    limit: int,
    dry_run: bool,
    max_change_age_s: float | None = None,
    now: float | None = None,
) -> Counter:
    """Move up to ``limit`` messages from the DLQ to the queue; what happened, counted.

    With ``max_change_age_s``, a change made longer ago than that stays in the DLQ
    (``kept_older_than_tombstones``), and so does a change that does not say when it was made
    (``kept_undated``); a message that holds no change is moved (it can apply nothing).
    """
    counts: Counter = Counter()
    if dry_run:
        attributes = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["ApproximateNumberOfMessages"])
        counts["messages_waiting"] = int(attributes["Attributes"]["ApproximateNumberOfMessages"])
        return counts
    oldest_allowed = None if max_change_age_s is None else (time.time() if now is None else now) - max_change_age_s
    kept: dict[str, str] = {}  # message id -> its latest receipt handle, made visible again at the end
    for message in receive_all(sqs, dlq_url, visibility_s=300):
        if counts["moved"] >= limit:
            kept[message["MessageId"]] = message["ReceiptHandle"]
            break
        verdict = "" if oldest_allowed is None else held_back(message["Body"], oldest_allowed)
        if verdict:
            if message["MessageId"] not in kept:
                counts[verdict] += 1
            kept[message["MessageId"]] = message["ReceiptHandle"]
            continue
        kwargs: dict[str, Any] = {"QueueUrl": queue_url, "MessageBody": message["Body"]}
        attributes = {
            name: value
            for name, value in (message.get("MessageAttributes") or {}).items()
            if not name.startswith(ATTRIBUTE_PREFIX)
        }
        if attributes:
            kwargs["MessageAttributes"] = attributes
        sqs.send_message(**kwargs)
        sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"])
        counts["moved"] += 1
    for handle in kept.values():
        sqs.change_message_visibility(QueueUrl=dlq_url, ReceiptHandle=handle, VisibilityTimeout=0)
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make redrive", description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", required=True)
    parser.add_argument("--queue", required=True, choices=REDRIVABLE)
    parser.add_argument("--max", type=int, default=100_000, help="move at most this many messages")
    parser.add_argument("--dry-run", action="store_true", help="only count the messages waiting")
    args = parser.parse_args(argv)
    stack = resolve(args.env)
    max_age = tombstone_lifetime_s() - SAFETY_MARGIN_S if args.queue in CHANGE_QUEUES else None
    counts = redrive(
        aws.client("sqs"),
        stack.queue_url(args.queue, dead_letter=True),
        stack.queue_url(args.queue),
        args.max,
        args.dry_run,
        max_age,
    )
    print(json.dumps(dict(counts), sort_keys=True))
    kept = counts["kept_older_than_tombstones"] + counts["kept_undated"]
    if kept:
        print(
            f"{kept} change(s) older than table2's tombstones ({max_age} s), or undated, stay in the DLQ: "
            "applying them could bring deleted items back. Run `make verify REPAIR=1` "
            "(docs/runbooks/recover-table2.md), then delete them.",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
