"""Hypothesis strategies for what a Kinesis shard can hold, good and adversarial.

Records are built as JSON *text* by this module's own writer (``write``), so a document can
hold what no JSON library writes: NaN, 1e400, a 4,301-digit integer, repeated keys, escapes
of any character in either case, lone surrogate escapes, nesting 5,000 deep. What each record
must become is not decided here: ``spec.judge`` reads the bytes.

Every envelope id ends in ``#<serial>`` (``#<serial>~<n>`` for the extra values of a
repeated id key), the record's number in its shard, so two records share an id only when
one is a producer resend of the other.

Strategy factories without per-record arguments are cached: building and validating a
recursive strategy again for every draw would cost more than the draw.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aws_kinesis_agg.aggregator as reference_kpl
from aws_kinesis_agg.aggregator import RecordAggregator
from hypothesis import strategies as st

from tests.fuzz import spec

MAGIC = spec.KPL_MAGIC

# --- text --------------------------------------------------------------------------------

SURROGATES = ["\ud800", "\udbff", "\udc00", "\udfff"]
# Digits of other scripts (str.isdigit() is true for all of them), and other characters that
# trip up hand-written parsers.
FOREIGN_DIGITS = [
    "\N{DEVANAGARI DIGIT ONE}",
    "\N{FULLWIDTH DIGIT TWO}",
    "\N{ARABIC-INDIC DIGIT THREE}",
    "\N{NKO DIGIT THREE}",
    "\N{MATHEMATICAL BOLD DIGIT TWO}",
    "\N{LAO DIGIT TWO}",
    "\N{SUPERSCRIPT TWO}",
]
AWKWARD = [
    "\U0001f600",
    "\U0010ffff",
    "\u2028",
    "\u2029",
    "\x00",
    "\x1f",
    "\x7f",
    "\ufeff",
    "\u0301",
    "\u202e",
    '"',
    "\\",
    "/",
    "\n",
    "\t",
    "é",
    "ß",
    "中",
    "#",
    "~",
]


@functools.cache
def characters(surrogates: bool = True) -> st.SearchStrategy[str]:
    """Any code point, lone surrogates included when asked, with the awkward ones drawn often."""
    special = AWKWARD + FOREIGN_DIGITS + (SURROGATES if surrogates else [])
    return st.one_of(
        st.characters(exclude_categories=() if surrogates else ("Cs",)),
        st.sampled_from(special),
        st.characters(min_codepoint=0x20, max_codepoint=0x7E),
    )


@functools.cache
def texts(min_size: int = 0, max_size: int = 12, surrogates: bool = False) -> st.SearchStrategy[str]:
    return st.text(characters(surrogates), min_size=min_size, max_size=max_size)


def has_surrogate(text: str) -> bool:
    return any("\ud800" <= ch <= "\udfff" for ch in text)


# --- JSON text ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Raw:
    """JSON text written as it is: a number no library writes, or a ready-made fragment."""

    text: str


@dataclass(frozen=True)
class Obj:
    """A JSON object as written, key by key: a key may repeat."""

    pairs: tuple[tuple[str, Any], ...]

    def get(self, key: str) -> Any:
        return next((v for k, v in reversed(self.pairs) if k == key), None)

    def replace(self, key: str, value: Any) -> Obj:
        return Obj(tuple((k, value if k == key else v) for k, v in self.pairs))

    def without(self, key: str) -> Obj:
        return Obj(tuple((k, v) for k, v in self.pairs if k != key))

    def with_pair(self, key: str, value: Any, at: int | None = None) -> Obj:
        pairs = list(self.pairs)
        pairs.insert(len(pairs) if at is None else at, (key, value))
        return Obj(tuple(pairs))


@dataclass(frozen=True)
class Style:
    """How a document is spelled: which characters are escaped, and the whitespace."""

    escape: str = "none"  # none: raw UTF-8; ascii: \\u escapes above U+007F; all: every character
    upper_hex: bool = False
    spaced: bool = False
    lead: str = ""
    trail: str = ""


_ESCAPE = re.compile(r"\\u([0-9a-f]{4})")


def _string(text: str, style: Style) -> str:
    if style.escape == "all":
        units = text.encode("utf-16-le", "surrogatepass")
        body = "".join(f"\\u{int.from_bytes(units[i : i + 2], 'little'):04x}" for i in range(0, len(units), 2))
        out = f'"{body}"'
    else:
        out = json.dumps(text, ensure_ascii=style.escape == "ascii" or has_surrogate(text))
    return _ESCAPE.sub(lambda m: "\\u" + m.group(1).upper(), out) if style.upper_hex else out


def write(value: Any, style: Style = Style()) -> str:
    """JSON text for a value built of dict, Obj, list, str, int, float, bool, None and Raw."""
    comma, colon = (", ", ": ") if style.spaced else (",", ":")
    if isinstance(value, Raw):
        return value.text
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return json.dumps(value)
    if isinstance(value, str):
        return _string(value, style)
    if isinstance(value, list):
        return "[" + comma.join(write(v, style) for v in value) + "]"
    pairs = value.pairs if isinstance(value, Obj) else tuple(value.items())
    return "{" + comma.join(_string(k, style) + colon + write(v, style) for k, v in pairs) + "}"


def encode(value: Any, style: Style = Style()) -> bytes:
    return (style.lead + write(value, style) + style.trail).encode("utf-8")


def digits(n: int, first: str = "9") -> Raw:
    """An integer of exactly n digits."""
    return Raw(first + "7" * (n - 1))


# Numbers at and beyond what I-JSON allows. Integers of any length up to 4,300 digits are fine.
GOOD_NUMBERS = [
    Raw("1e308"),
    Raw("-1.7976931348623157e308"),
    Raw("5e-324"),
    Raw("0.1e1"),
    Raw("-0"),
    Raw("1E+2"),
    digits(19),
    digits(38),
    Raw("-" + digits(38).text),
    digits(400),
    digits(4300),
]
BAD_NUMBERS = [
    Raw("NaN"),
    Raw("Infinity"),
    Raw("-Infinity"),
    Raw("1e400"),
    Raw("-1e400"),
    Raw("1E999"),
    digits(4301),
    Raw("-" + digits(5000).text),
]


@functools.cache
def scalars(surrogates: bool = False) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.integers(min_value=-(10**38), max_value=10**38),
        st.floats(allow_nan=False, allow_infinity=False),
        st.sampled_from(GOOD_NUMBERS),
        texts(max_size=10, surrogates=surrogates),
    )


@functools.cache
def values(surrogates: bool = False, max_leaves: int = 8) -> st.SearchStrategy[Any]:
    """Any JSON value (no repeated keys)."""
    return st.recursive(
        scalars(surrogates),
        lambda inner: st.one_of(
            st.lists(inner, max_size=4),
            st.dictionaries(texts(max_size=6, surrogates=surrogates), inner, max_size=4),
        ),
        max_leaves=max_leaves,
    )


def nested(depth: int, kind: str = "[") -> Raw:
    """A value nested ``depth`` arrays (or objects) deep."""
    if kind == "[":
        return Raw("[" * depth + "]" * depth)
    return Raw('{"a":' * depth + "0" + "}" * depth)


# --- times -------------------------------------------------------------------------------


def _offset_text(minutes: int, style: str) -> str:
    if minutes == 0 and style in ("Z", "z"):
        return style
    sign = "-" if minutes < 0 or (minutes == 0 and style == "-") else "+"
    hours, mins = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}:{mins:02d}"


@st.composite
def good_times(draw: st.DrawFn) -> str:
    """A valid RFC 3339 time: any instant of years 0001-9999 written at any offset of ±23:59."""
    year = draw(st.one_of(st.sampled_from([1, 2, 1969, 1970, 2000, 2024, 2026, 9998, 9999]), st.integers(1, 9999)))
    utc = datetime(year, 1, 1, tzinfo=UTC) + timedelta(
        days=draw(st.integers(0, 364)), hours=draw(st.integers(0, 23)), minutes=draw(st.integers(0, 59))
    )
    leap = draw(st.booleans()) and draw(st.booleans())
    if leap:
        utc = utc.replace(hour=23, minute=59)
    minutes = draw(
        st.one_of(st.just(0), st.sampled_from([-1439, 1439, 60, -60, 330, -570, 765]), st.integers(-1439, 1439))
    )
    try:
        local = utc + timedelta(minutes=minutes)
    except OverflowError:
        local, minutes = utc, 0
    second = 60 if leap else draw(st.integers(0, 59))
    fraction = draw(st.one_of(st.just(""), st.from_regex(r"\.[0-9]{1,9}", fullmatch=True)))
    zone = _offset_text(minutes, draw(st.sampled_from(["Z", "z", "+", "-"])))
    t = draw(st.sampled_from("Tt"))
    return (
        f"{local.year:04d}-{local.month:02d}-{local.day:02d}{t}{local.hour:02d}:{local.minute:02d}:{second:02d}"
        f"{fraction}{zone}"
    )


BAD_OFFSETS = [
    "+24:00",
    "-24:00",
    "+99:99",
    "-23:60",
    "+00:60",
    "+23:60",
    "+2:00",
    "+0200",
    "+02",
    "02:00",
    "+02:00:00",
    "UTC",
    "",
    " Z",
    "Z ",
    "+\N{ARABIC-INDIC DIGIT ZERO}2:00",
    "+0\N{FULLWIDTH DIGIT TWO}:00",
    "\N{MINUS SIGN}02:00",
]
EDGE_TIMES = [
    # Outside years 0001-9999 once in UTC.
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-01:00",
    "0000-01-01T00:00:00Z",
    "0001-01-01T00:59:59+01:00",
    "9999-12-31T23:00:00-00:01",
    # Inside, just.
    "0001-01-01T00:00:00Z",
    "0001-01-01T01:00:00+01:00",
    "9999-12-31T23:59:59.999999999Z",
    "9999-12-31T22:59:59-01:00",
    # Leap seconds: only at 23:59 UTC.
    "2026-12-31T23:59:60Z",
    "2027-01-01T00:59:60+01:00",
    "2026-06-30T23:59:60.5z",
    "2026-06-30t18:59:60-05:00",
    "2026-12-31T12:00:60Z",
    "2026-12-31T23:59:60+01:00",
    "2026-12-31T23:58:60Z",
    # Fractions and letter case.
    "2026-11-22T10:15:30.1234567Z",
    "2026-11-22T10:15:30.12345678z",
    "2026-11-22t10:15:30.123456789+05:30",
    "2026-11-22T10:15:30.1234567890Z",
    "2026-11-22T10:15:30.Z",
    "2026-11-22T10:15:30,5Z",
    # Calendar and clock.
    "2024-02-29T00:00:00Z",
    "2026-02-29T00:00:00Z",
    "2000-02-29T12:00:00Z",
    "1900-02-29T12:00:00Z",
    "2026-04-31T00:00:00Z",
    "2026-13-01T00:00:00Z",
    "2026-00-10T00:00:00Z",
    "2026-11-00T00:00:00Z",
    "2026-11-22T24:00:00Z",
    "2026-11-22T23:60:00Z",
    "2026-11-22T23:59:61Z",
    # Shapes RFC 3339 does not allow (or only allows as ISO 8601 does).
    "2026-11-22 10:15:30Z",
    "2026-11-22T10:15:30",
    "2026-11-22T10:15Z",
    "20261122T101530Z",
    "2026-11-22",
    "2026-11-22T10:15:30Z\n",
    " 2026-11-22T10:15:30Z",
    "+2026-11-22T10:15:30Z",
    "2026-11-22T10:15:30ZZ",
    "2026-11-22T10:15:30+02:00[Europe/Paris]",
]


@st.composite
def foreign_digit_times(draw: st.DrawFn) -> str:
    """A valid time with one ASCII digit swapped for a digit of another script."""
    time = draw(good_times())
    positions = [i for i, ch in enumerate(time) if ch.isascii() and ch.isdigit()]
    i = draw(st.sampled_from(positions))
    return time[:i] + draw(st.sampled_from(FOREIGN_DIGITS)) + time[i + 1 :]


@st.composite
def bad_offset_times(draw: st.DrawFn) -> str:
    time = draw(good_times())
    base = re.sub(r"([Zz]|[+-][0-9]{2}:[0-9]{2})$", "", time)
    return base + draw(st.sampled_from(BAD_OFFSETS))


@functools.cache
def times() -> st.SearchStrategy[str]:
    """Event times: valid ones of every shape, edge cases, broken ones, and any text at all."""
    return st.one_of(
        good_times(),
        good_times(),
        st.sampled_from(EDGE_TIMES),
        foreign_digit_times(),
        bad_offset_times(),
        st.from_regex(
            r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,10})?([Zz]|[+-][0-9]{2}:[0-9]{2})",
            fullmatch=True,
        ),
        texts(max_size=30, surrogates=True),
    )


# --- envelopes ---------------------------------------------------------------------------


def envelope(serial: int, **fields: Any) -> Obj:
    """A good envelope, with any field given instead."""
    base = {
        "id": f"r#{serial}",
        "type": "device.reading",
        "source": "iot/sensor-0001",
        "time": "2026-11-22T10:15:30.123Z",
        "payload": {"temperature_c": 21.5},
    }
    base.update(fields)
    return Obj(tuple(base.items()))


@st.composite
def ids(draw: st.DrawFn, serial: int, surrogates: bool = False) -> str:
    suffix = f"#{serial}"
    room = spec.MAX_LENGTHS["id"] - len(suffix)
    prefix = draw(
        st.one_of(
            texts(max_size=min(room, 16), surrogates=surrogates),
            texts(max_size=room, surrogates=surrogates),
            st.just("x" * room),
            st.just("\U0001f600" * room),
        )
    )
    return prefix + suffix


@functools.cache
def names(limit: int, surrogates: bool = False) -> st.SearchStrategy[str]:
    """Values for type or source: short, any length up to the limit, exactly at it."""
    return st.one_of(
        texts(min_size=1, max_size=16, surrogates=surrogates),
        texts(min_size=1, max_size=limit, surrogates=surrogates),
        st.sampled_from(["device.reading", "iot/sensor-0042", "a" * limit, "\U0001f600" * limit, "é" * limit]),
    )


@functools.cache
def payloads(surrogates: bool = False) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.dictionaries(texts(max_size=8, surrogates=surrogates), values(surrogates), max_size=5),
        st.builds(lambda n: {"n": n}, st.sampled_from(GOOD_NUMBERS)),
        st.builds(lambda d: {"deep": d}, st.sampled_from([nested(98), nested(98, "{"), nested(50)])),
    )


@functools.cache
def styles() -> st.SearchStrategy[Style]:
    return st.builds(
        Style,
        escape=st.sampled_from(["none", "none", "ascii", "all"]),
        upper_hex=st.booleans(),
        spaced=st.booleans(),
        lead=st.sampled_from(["", "", " ", "\n", "\t\r\n "]),
        trail=st.sampled_from(["", "", "\n", " \r\n"]),
    )


@st.composite
def good_envelopes(draw: st.DrawFn, serial: int) -> Obj:
    """Envelopes the specification accepts (or, now and then, one it leaves open: spec.judge decides)."""
    return envelope(
        serial,
        id=draw(ids(serial)),
        type=draw(names(spec.MAX_LENGTHS["type"])),
        source=draw(names(spec.MAX_LENGTHS["source"])),
        time=draw(st.one_of(good_times(), st.just("2026-11-22T10:15:30.123Z"))),
        payload=draw(payloads()),
    )


FAULTS = (
    "missing",
    "unknown",
    "retype",
    "empty",
    "too_long",
    "time",
    "surrogate",
    "number",
    "deep",
    "repeat",
    "not_object",
)


@st.composite
def faulty(draw: st.DrawFn, doc: Obj, serial: int, fault: str) -> Any:
    """``doc`` with one fault of the given kind (whatever it makes of the record, spec.judge says)."""
    fields = [k for k, _ in doc.pairs]
    if fault == "missing":
        return doc.without(draw(st.sampled_from(fields)))
    if fault == "unknown":
        key = draw(
            st.one_of(texts(max_size=8, surrogates=True), st.sampled_from(["extra", "ID", "Payload", "\ud800"])).filter(
                lambda k: k not in spec.FIELDS
            )
        )
        return doc.with_pair(key, draw(values(surrogates=True)), at=draw(st.integers(0, len(fields))))
    if fault == "retype":
        key = draw(st.sampled_from(fields))
        other = st.one_of(values(), st.sampled_from([None, True, 0, 1.5, [], {}, ["x"]]))
        # A string is no new type for a text field; and ids stay unique to their record.
        return doc.replace(key, draw(other.filter(lambda v: not isinstance(v, str) or key == "payload")))
    if fault == "empty":
        return doc.replace(draw(st.sampled_from(["id", "type", "source", "time"])), "")
    if fault == "too_long":
        key = draw(st.sampled_from(["id", "type", "source"]))
        length = spec.MAX_LENGTHS[key] + draw(st.integers(1, 3))
        filler = draw(st.sampled_from(["x", "é", "\U0001f600"]))
        value = (filler * length)[: length - len(f"#{serial}")] + f"#{serial}" if key == "id" else filler * length
        return doc.replace(key, value)
    if fault == "time":
        return doc.replace("time", draw(times()))
    if fault == "surrogate":
        where = draw(st.sampled_from(["id", "type", "source", "time", "payload value", "payload key"]))
        lone = draw(st.sampled_from([*SURROGATES, "\udc00\ud800", "\ud800\ud800"]))
        if where == "payload value":
            return doc.replace("payload", {"note": f"a{lone}b"})
        if where == "payload key":
            return doc.replace("payload", {f"k{lone}": 1})
        value = doc.get(where)
        text = value if isinstance(value, str) else ""
        at = draw(st.integers(0, len(text)))
        return doc.replace(where, text[:at] + lone + text[at:])
    if fault == "number":
        return doc.replace("payload", {"v": [1, draw(st.sampled_from(BAD_NUMBERS))]})
    if fault == "deep":
        return doc.replace(
            "payload", {"deep": nested(draw(st.sampled_from([5000, 5001, 7000])), draw(st.sampled_from("[{")))}
        )
    if fault == "repeat":
        key = draw(st.sampled_from([*fields, "id", "time"]))
        if key == "id":
            other = draw(st.one_of(st.just(f"r#{serial}~0"), st.just(""), st.just(7), st.just("\ud800")))
        else:
            other = draw(st.one_of(values(), times(), st.just(doc.get(key))))
        return doc.with_pair(key, other, at=draw(st.integers(0, len(fields))))
    assert fault == "not_object"
    return draw(st.one_of(st.lists(values(), max_size=3), scalars(), st.just([doc])))


BROKEN_BYTES = [b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x80", b"\xe2\x82", b"\xfe\xff"]


@st.composite
def broken(draw: st.DrawFn, data: bytes) -> bytes:
    """Bytes that are not one JSON document, or not UTF-8: cut, padded, or with a bad sequence inside."""
    how = draw(st.sampled_from(["cut", "append", "prepend", "bytes", "empty", "text"]))
    if how == "cut":
        return data[: draw(st.integers(0, max(0, len(data) - 1)))]
    if how == "append":
        return data + draw(st.sampled_from([b"}", b",", b" x", b"{}", b"\x00", b"//"]))
    if how == "prepend":
        return draw(st.sampled_from([b"\xef\xbb\xbf", b"x", b"[", b"\x00"])) + data
    if how == "bytes":
        at = draw(st.integers(0, len(data)))
        return data[:at] + draw(st.sampled_from(BROKEN_BYTES)) + data[at:]
    if how == "empty":
        return draw(st.sampled_from([b"", b" ", b"\n"]))
    return draw(st.one_of(st.binary(max_size=40), texts(max_size=20).map(lambda t: t.encode("utf-8"))))


def pad_to(doc: Obj, size: int, style: Style) -> bytes:
    """The document with its payload padded so the record is exactly ``size`` bytes (or as near as it gets)."""
    payload = doc.get("payload")
    if style.escape == "all":
        style = dataclasses.replace(style, escape="ascii")
    if not isinstance(payload, dict):
        return encode(doc, style)
    short = encode(doc.replace("payload", {**payload, "pad": ""}), style)
    fill = max(0, size - len(short))
    return encode(doc.replace("payload", {**payload, "pad": "p" * fill}), style)


@st.composite
def record_data(draw: st.DrawFn, serial: int, max_bytes: int = spec.MAX_RECORD_BYTES, faults: bool = True) -> bytes:
    """One record's bytes: mostly good envelopes (some at or just over the size limit), the rest with one or
    two faults of any kind."""
    doc: Any = draw(good_envelopes(serial))
    style = draw(styles())
    if not faults or draw(st.integers(0, 9)) < 6:
        if max_bytes <= 65536 and draw(st.integers(0, 9)) == 0:
            return pad_to(doc, draw(st.sampled_from([max_bytes, max_bytes + 1, max_bytes + 100])), style)
        return encode(doc, style)
    for fault in draw(st.lists(st.sampled_from(FAULTS), min_size=1, max_size=2)):
        if isinstance(doc, Obj):
            doc = draw(faulty(doc, serial, fault))
    data = encode(doc, style)
    return draw(broken(data)) if draw(st.integers(0, 5)) == 0 else data


# --- KPL aggregates ----------------------------------------------------------------------


@functools.cache
def hash_keys() -> st.SearchStrategy[str | None]:
    return st.one_of(st.none(), st.integers(0, 2**128 - 1).map(str))


@functools.cache
def partition_keys() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(["device-1", "device-2", "k"]), texts(min_size=1, max_size=16))


def aggregate(members: list[tuple[str, bytes, str | None]]) -> tuple[str, bytes]:
    """Members (partition key, data, explicit hash key) as one aggregated record, by the reference implementation."""
    aggregator = RecordAggregator()
    for key, data, hash_key in members:
        full = aggregator.add_user_record(key, data, hash_key)
        assert full is None, "keep generated aggregates under the 1 MiB record limit"
    partition_key, _, blob = aggregator.clear_and_get().get_contents()
    return partition_key, blob


def _with_digest(body: bytes) -> bytes:
    return MAGIC + body + hashlib.md5(body, usedforsecurity=False).digest()


def malformed_aggregates() -> list[bytes]:
    """Aggregates whose digest is right and whose body is not a valid AggregatedRecord."""
    message = reference_kpl.messages_pb2.AggregatedRecord
    out_of_table = message()
    out_of_table.partition_key_table.append("k")
    record = out_of_table.records.add()
    record.partition_key_index, record.data = 3, b"{}"
    bad_hash_key = message()
    bad_hash_key.partition_key_table.append("k")
    record = bad_hash_key.records.add()
    record.partition_key_index, record.explicit_hash_key_index, record.data = 0, 0, b"{}"
    return [
        _with_digest(b"\x1a\x05\x08"),  # a record that claims 5 bytes and has 1
        _with_digest(b"\xff\xff\xff"),  # not protobuf at all
        _with_digest(out_of_table.SerializeToString()),
        _with_digest(bad_hash_key.SerializeToString()),
    ]


@st.composite
def damaged(draw: st.DrawFn, blob: bytes) -> bytes:
    """An aggregate broken the ways a bad producer or a bad copy breaks one."""
    how = draw(st.sampled_from(["flip", "short", "cut", "malformed", "magic"]))
    if how == "flip":
        at = draw(st.integers(len(MAGIC), len(blob) - 1))
        return blob[:at] + bytes([blob[at] ^ draw(st.integers(1, 255))]) + blob[at + 1 :]
    if how == "short":
        return blob[: draw(st.integers(len(MAGIC), len(MAGIC) + spec.KPL_DIGEST - 1))]
    if how == "cut":
        return blob[: draw(st.integers(len(MAGIC) + spec.KPL_DIGEST, len(blob) - 1))]
    if how == "malformed":
        return draw(st.sampled_from(malformed_aggregates()))
    at = draw(st.integers(0, len(MAGIC) - 1))
    return blob[:at] + bytes([blob[at] ^ 0x01]) + blob[at + 1 :]


# --- shards ------------------------------------------------------------------------------

SHARD_ID = "shardId-000000000000"
FIRST_SEQUENCE = 49590338271490256608559692538361571095921575989136588898
ARRIVALS_MS = [1_795_342_530_000, 1_795_345_199_000, 1_798_761_599_500]  # 2026-11-22, just before an hour, a year


@dataclass(frozen=True)
class Put:
    """One record as it sits in the shard. ``data`` is the base64 text Lambda delivers."""

    data: str
    partition_key: str
    sequence_number: str
    arrival_ms: int
    resend_of: int | None = None  # index of the put this one repeats

    @property
    def arrival(self) -> float:
        return self.arrival_ms / 1000


@dataclass
class Shard:
    """A shard's records in order, and each record's user records as the specification judges them."""

    puts: list[Put]
    max_record_bytes: int = spec.MAX_RECORD_BYTES
    users: list[list[spec.UserRecord]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.users = [spec.judge_kinesis(p.data, p.partition_key, self.max_record_bytes) for p in self.puts]

    def user_count(self, start: int = 0, end: int | None = None) -> int:
        return sum(len(u) for u in self.users[start:end])


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def lay_out(
    entries: list[tuple[str, str, int | None]],
    gaps: list[int],
    steps_ms: list[int],
    first_sequence: int = FIRST_SEQUENCE,
    first_arrival_ms: int = ARRIVALS_MS[0],
) -> list[Put]:
    """Sequence numbers and arrival times for (data, partition key, resend_of) entries, in shard order."""
    puts, sequence, arrival = [], first_sequence, first_arrival_ms
    for i, (data, key, resend_of) in enumerate(entries):
        sequence += gaps[i % len(gaps)] if i else 0
        arrival += steps_ms[i % len(steps_ms)] if i else 0
        puts.append(Put(data, key, str(sequence), arrival, resend_of))
    return puts


@st.composite
def kinesis_entry(draw: st.DrawFn, serial: int, max_bytes: int) -> tuple[str, str, int]:
    """One Kinesis record's base64 data and partition key; returns the next free serial too."""
    kind = draw(st.sampled_from(["plain"] * 6 + ["aggregate"] * 3 + ["damaged", "bad_base64"]))
    key = draw(partition_keys())
    if kind == "bad_base64":
        text = draw(st.sampled_from(["this is not base64!", "SGVsbG8", "SGVsbG8=====", "%%%", "SGVs\nbG8=", "é"]))
        return text, key, serial
    if kind == "plain":
        return b64(draw(record_data(serial, max_bytes))), key, serial + 1
    members = []
    for _ in range(draw(st.integers(1, 5))):
        # Now and then a member that looks aggregated: members are never de-aggregated again.
        member = MAGIC + b"{}" if draw(st.integers(0, 9)) == 0 else draw(record_data(serial, min(max_bytes, 8192)))
        members.append((draw(st.one_of(st.just(key), partition_keys())), member, draw(hash_keys())))
        serial += 1
    key, blob = aggregate(members)
    if kind == "damaged":
        blob = draw(damaged(blob))
    return b64(blob), key, serial


@st.composite
def shards(
    draw: st.DrawFn,
    max_puts: int = 10,
    max_record_bytes: int = spec.MAX_RECORD_BYTES,
    resends: int = 3,
    resend_reach: int = 100_000,
) -> Shard:
    """A shard: plain records, aggregates (some damaged), records that are not base64, and producer resends.

    A resend repeats an earlier record's data and partition key under a new sequence number,
    at most ``resend_reach`` user records after it (counting both), never a record whose
    verdict the specification leaves open.
    """
    entries: list[tuple[str, str, int | None]] = []
    serial = 0
    for _ in range(draw(st.integers(1, max_puts))):
        data, key, serial = draw(kinesis_entry(serial, max_record_bytes))
        entries.append((data, key, None))
    counts = [len(spec.judge_kinesis(d, k, max_record_bytes)) for d, k, _ in entries]
    settled = [
        all(u.verdict.kind != "either" for u in spec.judge_kinesis(d, k, max_record_bytes)) for d, k, _ in entries
    ]
    for _ in range(draw(st.integers(0, resends))):
        source = draw(st.integers(0, len(entries) - 1))
        at = draw(st.integers(source + 1, len(entries)))
        if not settled[source] or sum(counts[source:at]) + counts[source] > resend_reach:
            continue
        entries.insert(at, (*entries[source][:2], source))
        entries = [(d, k, r if r is None or r < at else r + 1) for d, k, r in entries]
        counts.insert(at, counts[source])
        settled.insert(at, True)
    # A later resend may have landed between an earlier one and its original: drop any now out of reach.
    while out := [i for i, (_, _, r) in enumerate(entries) if r is not None and sum(counts[r : i + 1]) > resend_reach]:
        del entries[out[0]], counts[out[0]]
        entries = [(d, k, r if r is None or r < out[0] else r - 1) for d, k, r in entries]
    gaps = draw(st.lists(st.sampled_from([1, 2, 10**20, 987654321]), min_size=1, max_size=3))
    steps = draw(st.lists(st.integers(0, 1500), min_size=1, max_size=3))
    first_arrival = draw(st.sampled_from(ARRIVALS_MS))
    return Shard(lay_out(entries, gaps, steps, first_arrival_ms=first_arrival), max_record_bytes)


# --- delivery ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    """How the event source mapping and S3 behave while a shard drains.

    ``failing_puts`` and ``crashing_puts`` are 1-based PutObject call numbers (lake, quarantine
    and dedupe state writes alike): the first are answered with SlowDown, at the second the
    function dies (a timeout). ``lost_responses`` are invocation numbers whose response Lambda
    never receives, so it delivers the batch again.
    """

    batch_sizes: tuple[int, ...] = (10_000,)
    bisect: bool = True
    failing_puts: frozenset[int] = frozenset()
    crashing_puts: frozenset[int] = frozenset()
    lost_responses: frozenset[int] = frozenset()


def deliveries(faults: bool = True) -> st.SearchStrategy[Delivery]:
    calls = st.integers(1, 40)
    return st.builds(
        Delivery,
        batch_sizes=st.lists(st.sampled_from([1, 2, 3, 5, 8, 10_000]), min_size=1, max_size=4).map(tuple),
        bisect=st.booleans(),
        failing_puts=st.frozensets(calls, max_size=8) if faults else st.just(frozenset()),
        crashing_puts=st.frozensets(calls, max_size=2) if faults else st.just(frozenset()),
        lost_responses=st.frozensets(st.integers(1, 12), max_size=2) if faults else st.just(frozenset()),
    )
