"""The per-record transform: the one place a team puts its own business logic.

Signature::

    transform(record: dict, meta: RecordMeta) -> dict | None

``record`` is the validated envelope as a dict (``id``, ``type``, ``source``, ``time``
in UTC, ``payload``). Return the dict to write to the lake (reshape it, derive
fields), or ``None`` to drop the record on purpose (it is counted as filtered, not
lost). Raise ``TransformError`` (or anything else) to quarantine the record with the
message as its reason. The function must be pure: the same input gives the same
output, because a retried batch must rewrite the same bytes.

The lake partition comes from the envelope's ``time``, not from the returned dict. ``RecordMeta``
(records.py) says where in the stream the record came from and when it arrived.
"""

from __future__ import annotations

from typing import Any

from .records import RecordMeta


class TransformError(ValueError):
    """Raise from a transform to quarantine a record with this message as the reason."""


def enrich(record: dict[str, Any], meta: RecordMeta) -> dict[str, Any] | None:
    """The default transform: the record plus where and when it entered the stream."""
    record["ingest_time"] = meta.ingest_time
    record["shard_id"] = meta.shard_id
    record["sequence_number"] = meta.sequence_number
    if meta.subsequence is not None:
        record["subsequence"] = meta.subsequence
    return record


transform = enrich
