"""SQS messages (changes published by change_publisher) applied to table2, failures per message."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from tributary import replica

Apply = Callable[[replica.Change], str]
Complete = Callable[[replica.Change], "replica.Change | None"]


def change_body(body: str) -> str:
    """The change message, whether the subscription delivers raw messages or SNS envelopes."""
    if body.lstrip().startswith("{") and '"Type"' in body[:200]:
        try:
            envelope = json.loads(body)
        except ValueError:
            return body
        if isinstance(envelope, dict) and envelope.get("Type") == "Notification" and "Message" in envelope:
            return envelope["Message"]
    return body


def apply_messages(
    records: Iterable[Mapping[str, Any]], apply: Apply, complete: Complete = lambda change: change
) -> tuple[list[str], Counter[str], list[str]]:
    """Apply every message; the ids of those that failed (to retry, then dead-letter) and why.

    ``complete`` reads the item for a change that travelled without its image (too big for SNS).
    """
    failed: list[str] = []
    counts: Counter[str] = Counter()
    errors: list[str] = []
    for record in records:
        try:
            change = complete(replica.from_message(change_body(record["body"])))
            outcome = "superseded" if change is None else apply(change)
        except Exception as exc:  # transient or poison: SQS retries, then the DLQ keeps the message
            failed.append(record["messageId"])
            counts["failed"] += 1
            errors.append(f"{record['messageId']}: {type(exc).__name__}: {exc}"[:300])
            continue
        counts[outcome] += 1
    return failed, counts, errors
