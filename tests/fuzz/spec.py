"""What the stream processor must do with each record, worked out from its specification alone.

Nothing here imports the processor or the layer: this is the second, independent reading of
the envelope rules (functions/stream_processor/README.md, layers/common/tributary/envelope.py's
docstring) that the property tests hold the real handler to.

``judge(data)`` says where one user record's bytes must end up:

- ``Verdict.good``: in the lake, as ``lake_line`` says, under ``events/`` by its event time;
- ``Verdict.bad``: in the quarantine with one of ``reasons``;
- ``Verdict.either``: the specification leaves the bucket open (duplicate keys that change
  validity, nesting depth between the limits, year 0000): only "exactly once somewhere" holds.

``judge_kinesis(data_field)`` does the same for one Kinesis record's base64 ``data``: the user
records it holds (one, or the members of a KPL aggregate), or a single decode-time reject.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import aws_kinesis_agg.aggregator as reference_kpl

MAX_RECORD_BYTES = 1_048_576
FIELDS = ("id", "type", "source", "time", "payload")
MAX_LENGTHS = {"id": 128, "type": 128, "source": 256}
MAX_INT_DIGITS = 4300
MAX_GOOD_DEPTH = 100
MIN_BAD_DEPTH = 5000
KPL_MAGIC = b"\xf3\x89\x9a\xc2"
KPL_DIGEST = 16

# RFC 3339 with a zone, ASCII digits only; 'T' and 'Z' in either case; 1 to 9 fraction digits.
_TIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]{1,9})?"
    r"(?:([Zz])|([+-])([0-9]{2}):([0-9]{2}))"
)
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(r"[\[\]{}]")


@dataclass(frozen=True)
class Verdict:
    """Where one user record must end up."""

    kind: str  # "good", "bad" or "either"
    reasons: frozenset[str] = frozenset()
    record: dict[str, Any] | None = None  # good: id, type, source, time (UTC), payload

    @classmethod
    def good(cls, record: dict[str, Any]) -> Verdict:
        return cls("good", record=record)

    @classmethod
    def bad(cls, *reasons: str) -> Verdict:
        return cls("bad", frozenset(reasons))

    @classmethod
    def either(cls) -> Verdict:
        return cls("either")

    @property
    def id(self) -> str:
        assert self.record is not None
        return self.record["id"]

    def lake_partition(self) -> str:
        """``events/dt=YYYY-MM-DD/hour=HH/`` of the record's UTC event time."""
        assert self.record is not None
        return partition("events", self.record["time"])


def partition(prefix: str, utc: str) -> str:
    return f"{prefix}/dt={utc[:10]}/hour={utc[11:13]}/"


def ingest_time(arrival: float) -> str:
    """Kinesis's approximateArrivalTimestamp (seconds, millisecond precision) as RFC 3339 UTC with milliseconds."""
    millis = int((Decimal(repr(arrival)) * 1000).to_integral_value())
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=millis)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{millis % 1000:03d}Z"


# --- time ----------------------------------------------------------------------------------


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 in the proleptic Gregorian calendar, for any year."""
    year -= month <= 2
    era = year // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _civil_from_days(days: int) -> tuple[int, int, int]:
    days += 719468
    era = days // 146097
    doe = days - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (month <= 2), month, day


def _days_in_month(year: int, month: int) -> int:
    if month == 2:
        return 29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28
    return 30 if month in (4, 6, 9, 11) else 31


class _UnspecifiedError(Exception):
    """The specification does not say (the caller answers ``Verdict.either``)."""


def utc_time(value: str) -> str | None:
    """The lake's spelling of an event time (UTC, 'T', 'Z'), or None when the time is not valid.

    Raises ``_UnspecifiedError`` for a local year 0000 that lands inside 0001-9999 once in UTC.
    """
    match = _TIME.fullmatch(value)
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction = match.group(7) or ""
    if match.group(8):
        offset = 0
    else:
        off_hours, off_minutes = int(match.group(10)), int(match.group(11))
        if off_hours > 23 or off_minutes > 59:
            return None
        offset = (off_hours * 60 + off_minutes) * (1 if match.group(9) == "+" else -1)
    if not 1 <= month <= 12 or not 1 <= day <= _days_in_month(year, month):
        return None
    if hour > 23 or minute > 59 or second > 60:
        return None
    minutes = _days_from_civil(year, month, day) * 1440 + hour * 60 + minute - offset
    days, in_day = divmod(minutes, 1440)
    utc_year, utc_month, utc_day = _civil_from_days(days)
    utc_hour, utc_minute = divmod(in_day, 60)
    if not 1 <= utc_year <= 9999:
        return None
    if second == 60:
        if (utc_hour, utc_minute) != (23, 59):
            return None
        clock = "23:59:59.999999999"
    else:
        clock = f"{utc_hour:02d}:{utc_minute:02d}:{second:02d}{fraction}"
    if year == 0:
        raise _UnspecifiedError("year 0000 in local time")
    return f"{utc_year:04d}-{utc_month:02d}-{utc_day:02d}T{clock}Z"


# --- JSON ----------------------------------------------------------------------------------


class _Pairs(list):
    """A JSON object as it was written: its (key, value) pairs, repeated keys kept."""


class _NotJsonError(Exception):
    pass


def _reject_constant(name: str) -> Any:
    raise _NotJsonError(f"{name} is not a JSON number")


def _float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise _NotJsonError(f"{text[:20]} is beyond the range of a double")
    return value


def _int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise _NotJsonError(f"an integer of more than {MAX_INT_DIGITS} digits")
    return int(text)


def _depth(text: str) -> int:
    """How deeply arrays and objects nest, strings aside (a top-level object is depth 1)."""
    depth = deepest = 0
    for bracket in _BRACKETS.findall(_STRING.sub("", text)):
        depth += 1 if bracket in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def _parse(text: str) -> Any:
    return json.loads(
        text, object_pairs_hook=_Pairs, parse_constant=_reject_constant, parse_float=_float, parse_int=_int
    )


def _resolve(node: Any, last_wins: bool) -> Any:
    """The value a parser builds when a repeated key keeps its last (or first) value."""
    if isinstance(node, _Pairs):
        out: dict[str, Any] = {}
        for key, value in node:
            if last_wins or key not in out:
                out[key] = _resolve(value, last_wins)
        return out
    if isinstance(node, list):
        return [_resolve(item, last_wins) for item in node]
    return node


def _has_repeated_keys(node: Any) -> bool:
    if isinstance(node, _Pairs):
        keys = [key for key, _ in node]
        return len(set(keys)) != len(keys) or any(_has_repeated_keys(v) for _, v in node)
    if isinstance(node, list):
        return any(_has_repeated_keys(item) for item in node)
    return False


def _lone_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        return any("\ud800" <= ch <= "\udfff" for ch in value)
    if isinstance(value, dict):
        return any(_lone_surrogate(k) or _lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_lone_surrogate(item) for item in value)
    return False


# --- the envelope --------------------------------------------------------------------------


def _envelope(value: Any) -> Verdict:
    """Every fault of one parsed document; good when there is none."""
    reasons: set[str] = set()
    if _lone_surrogate(value):
        reasons.add("bad_unicode")
    if not isinstance(value, dict):
        return Verdict.bad("not_object", *reasons)
    if any(field not in value for field in FIELDS):
        reasons.add("missing_field")
    if set(value) - set(FIELDS):
        reasons.add("unknown_field")
    if "payload" in value and not isinstance(value["payload"], dict):
        reasons.add("bad_type")
    for field, limit in MAX_LENGTHS.items():
        if field not in value:
            continue
        text = value[field]
        if not isinstance(text, str):
            reasons.add("bad_type")
        elif not text:
            reasons.add("empty_field")
        elif len(text) > limit:
            reasons.add("too_long")
    utc = None
    if "time" in value:
        if not isinstance(value["time"], str):
            reasons.update(("bad_time", "bad_type"))
        else:
            utc = utc_time(value["time"])  # may raise _UnspecifiedError
            if utc is None:
                reasons.add("bad_time")
    if reasons:
        return Verdict.bad(*reasons)
    return Verdict.good({**value, "time": utc})


def judge(data: bytes, max_record_bytes: int = MAX_RECORD_BYTES) -> Verdict:
    """Where one user record (plain, or a member of an aggregate) must end up."""
    if len(data) > max_record_bytes:
        return Verdict.bad("oversize")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return Verdict.bad("not_json")
    depth = _depth(text)
    if depth >= MIN_BAD_DEPTH:
        return Verdict.bad("not_json")
    if depth > MAX_GOOD_DEPTH:
        return Verdict.either()
    try:
        tree = _parse(text)
    except (_NotJsonError, ValueError):
        return Verdict.bad("not_json")
    try:
        last = _envelope(_resolve(tree, last_wins=True))
        if not _has_repeated_keys(tree):
            return last
        first = _envelope(_resolve(tree, last_wins=False))
    except _UnspecifiedError:
        return Verdict.either()
    if last.kind != first.kind:
        return Verdict.either()
    return last


# --- Kinesis records -----------------------------------------------------------------------


@dataclass(frozen=True)
class UserRecord:
    """One user record of a Kinesis record: its bytes, its place, where it must end up."""

    data: bytes
    partition_key: str
    subsequence: int | None
    verdict: Verdict


def judge_kinesis(data_field: str, partition_key: str, max_record_bytes: int = MAX_RECORD_BYTES) -> list[UserRecord]:
    """The user records of one Kinesis record (its ``kinesis.data``), each with its verdict.

    A record that cannot be decoded at all (not base64, a damaged aggregate) is one user record
    with subsequence None whose raw bytes are what the quarantine keeps: the base64 text itself
    when it is not base64, else the decoded bytes.
    """
    try:
        data = base64.b64decode(data_field, validate=True)
    except (binascii.Error, ValueError):
        return [UserRecord(data_field.encode("utf-8"), partition_key, None, Verdict.bad("bad_base64"))]
    if data[: len(KPL_MAGIC)] != KPL_MAGIC:
        return [UserRecord(data, partition_key, None, judge(data, max_record_bytes))]
    if len(data) < len(KPL_MAGIC) + KPL_DIGEST:
        return [UserRecord(data, partition_key, None, Verdict.bad("kpl_truncated"))]
    body, digest = data[len(KPL_MAGIC) : -KPL_DIGEST], data[-KPL_DIGEST:]
    if hashlib.md5(body, usedforsecurity=False).digest() != digest:
        return [UserRecord(data, partition_key, None, Verdict.bad("kpl_digest_mismatch"))]
    message = reference_kpl.messages_pb2.AggregatedRecord()
    try:
        message.ParseFromString(body)
    except Exception:
        return [UserRecord(data, partition_key, None, Verdict.bad("kpl_malformed"))]
    keys, hash_keys = list(message.partition_key_table), list(message.explicit_hash_key_table)
    if any(
        r.partition_key_index >= len(keys)
        or (r.HasField("explicit_hash_key_index") and r.explicit_hash_key_index >= len(hash_keys))
        for r in message.records
    ):
        return [UserRecord(data, partition_key, None, Verdict.bad("kpl_malformed"))]
    if not message.records or not all(r.HasField("data") for r in message.records):
        raise ValueError("the specification does not say what an empty aggregate or a member without data is")
    return [
        UserRecord(r.data, keys[r.partition_key_index], i, judge(r.data, max_record_bytes))
        for i, r in enumerate(message.records)
    ]
