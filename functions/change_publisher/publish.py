"""table1's stream records to SNS messages, ten per PublishBatch call."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tributary import replica

MAX_BATCH = 10


@dataclass(frozen=True)
class Entry:
    sequence_number: str
    message: str
    attributes: dict[str, dict[str, str]]


def entries(records: Iterable[Mapping[str, Any]], table: str) -> tuple[list[Entry], str | None, str]:
    """Messages for the records up to the first that cannot become one (its sequence number, and why)."""
    out: list[Entry] = []
    for record in records:
        sequence = record.get("dynamodb", {}).get("SequenceNumber", "")
        try:
            change = replica.from_stream_record(record)
        except replica.ChangeError as exc:
            return out, sequence, str(exc)
        out.append(Entry(sequence, replica.to_message(change), {
            # Subscribers filter on these (the subscription's filter policy).
            "table": {"DataType": "String", "StringValue": table},
            "event_name": {"DataType": "String", "StringValue": change.event_name},
        }))
    return out, None, ""


def publish(batch: list[Entry], publish_batch: Callable[[list[dict[str, Any]]], dict[str, Any]]) -> set[int]:
    """Publish entries in calls of ten; the indexes of the entries that failed."""
    failed: set[int] = set()
    for start in range(0, len(batch), MAX_BATCH):
        chunk = batch[start:start + MAX_BATCH]
        request = [{"Id": str(i), "Message": e.message, "MessageAttributes": e.attributes}
                   for i, e in enumerate(chunk)]
        try:
            response = publish_batch(request)
        except Exception:
            failed.update(range(start, start + len(chunk)))
            continue
        failed.update(start + int(f["Id"]) for f in response.get("Failed", []))
    return failed


def checkpoint(batch: list[Entry], failed: set[int], unreadable: str | None) -> str | None:
    """The lowest sequence number to retry from, if any (everything before it is published)."""
    if failed:
        return batch[min(failed)].sequence_number
    return unreadable
