"""The record envelope every producer writes and every consumer validates.

A record is one JSON object with exactly these fields:

    id      non-empty string, at most 128 characters, unique per producer
    type    non-empty string, at most 128 characters (for example "device.reading")
    source  non-empty string, at most 256 characters (for example "device/sensor-0042")
    time    RFC 3339 timestamp with a zone: 2026-11-22T10:15:30.123Z or ...+02:00
    payload JSON object

Validation never guesses: a record that is not exactly this is rejected with a
reason code (stable, for metrics and quarantine keys) and a sentence for people.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

from tributary.json_codec import printable

FIELDS = ("id", "type", "source", "time", "payload")
_FIELD_SET = frozenset(FIELDS)
MAX_LENGTHS = {"id": 128, "type": 128, "source": 256}

# RFC 3339's date-time (section 5.6): ASCII digits only, "T" and "Z" in either case, 1 to 9
# fraction digits (Go's RFC3339Nano and Java's Instant write up to 9), a numeric offset or Z.
_TIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]{1,9})?([Zz]|[+-][0-9]{2}:[0-9]{2})\Z"
)
# A leap second (23:59:60 UTC) is written as the last instant of 23:59:59, as Java's
# DateTimeFormatter reads it: query engines that know no leap seconds can still read the time.
_LEAP_SECOND = ":59.999999999"


class EnvelopeError(ValueError):
    """A record that does not match the envelope; ``reason`` is a stable code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(slots=True)
class Envelope:
    """A validated record. ``time`` is normalised to UTC with a ``Z`` suffix. Read-only by convention."""

    # Not frozen, for the same reason as kinesis.UserRecord: one is built for every record.

    id: str
    type: str
    source: str
    time: str
    payload: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        """The record as the JSON object producers send."""
        return {
            "id": self.id,
            "type": self.type,
            "source": self.source,
            "time": self.time,
            "payload": self.payload,
        }


@lru_cache(maxsize=4096)
def _valid_date(year: int, month: int, day: int) -> bool:
    try:
        date(year, month, day)
    except ValueError:
        return False
    return True


def normalize_time(value: Any) -> str:
    """Check an RFC 3339 timestamp and return it in UTC with an uppercase ``T`` and a ``Z`` suffix."""
    if not isinstance(value, str):
        raise EnvelopeError("bad_time", f"time must be a string, got {type(value).__name__}")
    match = _TIME.match(value)
    if match is None:
        raise EnvelopeError("bad_time", f"time {_show(value)} is not RFC 3339 (2026-11-22T10:15:30Z)")
    # The pattern fixes where each field is, and two digits compare as text as they do as
    # numbers: most times (UTC, "Z", in range) are checked without parsing a number.
    if (
        value[-1] == "Z"
        and value[10] == "T"
        and "01" <= value[5:7] <= "12"
        and "01" <= value[8:10] <= "28"
        and value[11:13] <= "23"
        and value[14:16] <= "59"
        and value[17:19] <= "59"
        and value[:4] != "0000"
    ):
        return value
    return _exact_time(value, match)


def _exact_time(value: str, match: re.Match[str]) -> str:
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction, zone = match.group(7) or "", match.group(8)
    if not _valid_date(year, month, day) or hour > 23 or minute > 59 or second > 60:
        raise EnvelopeError("bad_time", f"time {_show(value)} is not a real date and time")
    offset = 0
    if zone not in ("Z", "z"):
        hours, minutes = int(zone[1:3]), int(zone[4:6])
        if hours > 23 or minutes > 59:
            raise EnvelopeError("bad_time", f"time {_show(value)} has an offset outside -23:59 to +23:59")
        offset = (hours * 60 + minutes) * (-1 if zone[0] == "-" else 1)
    try:
        utc = datetime(year, month, day, hour, minute, min(second, 59)) - timedelta(minutes=offset)
    except OverflowError:
        raise EnvelopeError("bad_time", f"time {_show(value)} is outside years 0001 to 9999 in UTC") from None
    stamp = f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T{utc.hour:02d}:{utc.minute:02d}"
    if second == 60:
        # RFC 3339 section 5.7: a leap second is the 61st second of the last minute of a UTC day.
        if (utc.hour, utc.minute) != (23, 59):
            raise EnvelopeError("bad_time", f"time {_show(value)} has second 60 but is not 23:59 UTC")
        return stamp + _LEAP_SECOND + "Z"
    return f"{stamp}:{utc.second:02d}{fraction}Z"


def _show(value: str) -> str:
    """A value for an error message: cut short, and writable whatever it holds."""
    return repr(printable(value, 64))


def _text(obj: dict[str, Any], field: str) -> str:
    value = obj.get(field)
    if not isinstance(value, str):
        raise EnvelopeError("bad_type", f"{field} must be a string, got {type(value).__name__}")
    if not value:
        raise EnvelopeError("empty_field", f"{field} is empty")
    if len(value) > MAX_LENGTHS[field]:
        raise EnvelopeError("too_long", f"{field} is longer than {MAX_LENGTHS[field]} characters")
    return value


def validate(obj: Any) -> Envelope:
    """Check one decoded JSON value against the envelope; raise EnvelopeError saying why not."""
    if not isinstance(obj, dict):
        raise EnvelopeError("not_object", f"a record is a JSON object, got {type(obj).__name__}")
    if obj.keys() != _FIELD_SET:
        missing = [f for f in FIELDS if f not in obj]
        if missing:
            raise EnvelopeError("missing_field", f"missing {', '.join(missing)}")
        extra = sorted(set(obj) - set(FIELDS))
        raise EnvelopeError("unknown_field", f"unknown field(s) {printable(', '.join(extra))}")
    payload = obj["payload"]
    if not isinstance(payload, dict):
        raise EnvelopeError("bad_type", f"payload must be an object, got {type(payload).__name__}")
    record_id, record_type, source = obj["id"], obj["type"], obj["source"]
    if not (
        type(record_id) is str
        and 0 < len(record_id) <= MAX_LENGTHS["id"]
        and type(record_type) is str
        and 0 < len(record_type) <= MAX_LENGTHS["type"]
        and type(source) is str
        and 0 < len(source) <= MAX_LENGTHS["source"]
    ):
        # Something is off: check field by field, in order, to say which and why.
        record_id, record_type, source = _text(obj, "id"), _text(obj, "type"), _text(obj, "source")
    return Envelope(record_id, record_type, source, normalize_time(obj["time"]), payload)
