"""The AttributeValue codec against two references, over DynamoDB's whole legal domain.

1. DynamoDB's own rule for numbers, written here from the Developer Guide ("Supported data types
   and naming rules", Number) on the text alone, without Decimal: zero, or at most 38 significant
   digits with a magnitude from 1E-130 to 9.9999999999999999999999999999999999999E+125, either
   sign; leading and trailing zeros are not significant.
2. boto3's ``TypeSerializer`` and ``TypeDeserializer``, which agree with DynamoDB on every value
   except the numbers listed in ``BOTO3_DEPARTURES``. Each departure is checked to happen exactly
   where it is said to: a test fails if boto3 agrees with DynamoDB on a number said to depart, or
   departs on one not listed.

The domain: any Unicode string (U+FFFE, U+FFFF, controls and astral characters included; empty
where DynamoDB allows it, which is everywhere but keys), numbers of up to 38 significant digits
across the whole exponent range written in many notations, any binary (empty too), the three
kinds of set (never empty; empty strings and binary allowed inside, as the Developer Guide says),
and lists and maps nested to DynamoDB's limit of 32 levels (the top-level attribute is level 1).
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.dynamodb import plain
from tests.examples import examples
from tributary import ddb, json_codec

# --- DynamoDB's rule, from the text ------------------------------------------------------------

# Every spelling DynamoDB is known to accept ("+3", ".123", "0001.23", "1e+5", "-17.4E37", "0e1000");
# "NaN", "Infinity" and spaces it refuses.
_SYNTAX = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def dynamodb_number(text: str) -> tuple[str, str, int] | None:
    """(sign, significant digits, power of ten of the first of them) of a number DynamoDB stores,
    ("", "", 0) for zero, None for a text DynamoDB refuses."""
    if _SYNTAX.fullmatch(text) is None:
        return None
    mantissa, _, exponent = text.lower().partition("e")
    sign = "-" if mantissa.startswith("-") else ""
    whole, _, fraction = mantissa.lstrip("+-").partition(".")
    digits = whole + fraction
    significant = digits.lstrip("0").rstrip("0")
    if not significant:
        return ("", "", 0)
    leading_zeros = len(digits) - len(digits.lstrip("0"))
    power = len(whole) - leading_zeros - 1 + int(exponent or "0")
    if len(significant) > 38 or not -130 <= power <= 125:
        return None
    return sign, significant, power


# --- Where boto3 departs from it -------------------------------------------------------------

# boto3 checks numbers with one decimal context, DYNAMODB_CONTEXT = Context(Emin=-128, Emax=126,
# prec=38, traps=[Clamped, Overflow, Inexact, Rounded, Underflow]), in TypeSerializer and in
# TypeDeserializer alike. That context is not DynamoDB's rule:
BOTO3_DEPARTURES = {
    # prec=38 with Rounded trapped counts every written digit, trailing zeros included. boto3
    # refuses 1E+38 written out in full as DynamoDB's streams write it (39 characters, one
    # significant digit), and its TypeDeserializer raises decimal.Rounded on such a number read
    # from DynamoDB (boto/boto3#2500, boto/boto3#4693).
    "refuses trailing zeros": False,
    # A zero's exponent is clamped into the context's range, and Clamped is trapped: boto3 refuses
    # 0E+1000, a zero DynamoDB accepts.
    "refuses zeros with a large exponent": False,
    # Emin=-128 makes magnitudes below 1E-128 subnormal: a digit below 1E-165 would be rounded
    # away, and Underflow is trapped, so boto3 refuses numbers DynamoDB stores, such as 38
    # significant digits at 1E-130.
    "refuses small numbers with many digits": False,
    # Emax=126 lets 1E+126 to 9.99...E+126 through; DynamoDB refuses them (overflow).
    "accepts magnitudes up to 1E+127": True,
    # Subnormal numbers are not trapped when exact: 1E-165 to below 1E-130 go through; DynamoDB
    # refuses them (underflow).
    "accepts magnitudes down to 1E-165": True,
    # TypeSerializer's test for numbers that are not finite compares the text with "Infinity" and
    # "NaN" only, so it writes -Infinity, -NaN and sNaN, none of which DynamoDB takes.
    "accepts other spellings of NaN and Infinity": True,
}


def boto3_departure(number: Decimal) -> str | None:
    """The departure that applies to ``number``, or None where boto3 decides as DynamoDB does."""
    if not number.is_finite():
        return "accepts other spellings of NaN and Infinity" if number.is_signed() or number.is_snan() else None
    _, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)
    if number.is_zero():
        return None if -165 <= exponent <= 126 else "refuses zeros with a large exponent"
    if dynamodb_number(str(number)) is not None:
        if len(digits) > 38:
            return "refuses trailing zeros"
        if exponent < -165:
            return "refuses small numbers with many digits"
        return None
    if len(digits) <= 38 and exponent >= -165 and 125 < number.adjusted() <= 126:
        return "accepts magnitudes up to 1E+127"
    if len(digits) <= 38 and exponent >= -165 and number.adjusted() < -130:
        return "accepts magnitudes down to 1E-165"
    return None


def boto3_accepts(number: Decimal) -> bool:
    try:
        TypeSerializer().serialize(number)
    except Exception:
        return False
    return True


# --- Numbers in many notations -----------------------------------------------------------------


@st.composite
def number_texts(draw, significant: tuple[int, int] = (1, 38), power: tuple[int, int] = (-130, 125)) -> str:
    """A number's text: its significant digits, padded with zeros that are not, in a notation."""
    count = draw(st.integers(*significant))
    first = draw(st.sampled_from("123456789"))
    middle = draw(st.text("0123456789", min_size=max(count - 2, 0), max_size=max(count - 2, 0)))
    last = draw(st.sampled_from("123456789")) if count > 1 else ""
    digits = first + middle + last + "0" * draw(st.integers(0, 45))
    exp10 = draw(st.integers(*power))
    sign = draw(st.sampled_from(["", "-", "+"]))
    notation = draw(st.sampled_from(["positional", "scientific", "integer", "fraction"]))
    if notation == "positional":
        point = exp10 + 1
        if point <= 0:
            body = "0." + "0" * -point + digits
        elif point >= len(digits):
            body = digits + "0" * (point - len(digits))
        else:
            body = digits[:point] + "." + digits[point:]
        return sign + "0" * draw(st.integers(0, 3)) + body
    if notation == "scientific":
        body, exponent = digits[0] + ("." + digits[1:] if len(digits) > 1 else ""), exp10
    elif notation == "integer":
        body, exponent = digits, exp10 - (len(digits) - 1)
    else:
        body, exponent = "." + digits, exp10 + 1
    mark = draw(st.sampled_from(["e", "E"]))
    plus = draw(st.sampled_from(["", "+"])) if exponent >= 0 else "-"
    padded = str(abs(exponent)).zfill(draw(st.integers(1, 4)))
    return f"{sign}{body}{mark}{plus}{padded}"


zero_texts = st.sampled_from(
    ["0", "-0", "+0", "0.000", ".0", "000", "0E+1000", "-0e-1000", "0.00E5", "0E+126", "0E-165", "0E+127", "0E-166"]
)
# Just inside DynamoDB's limits and just outside them (39 or 40 significant digits, magnitudes
# past 1E+125 and below 1E-130), in every notation.
any_number_texts = st.one_of(
    number_texts(),
    number_texts((37, 40), (-135, 130)),
    zero_texts,
    st.sampled_from(["NaN", "-NaN", "sNaN", "Infinity", "-Infinity"]),
)
legal_numbers = st.one_of(number_texts(), zero_texts).map(Decimal)


@settings(max_examples=examples(3000), deadline=None)
@given(any_number_texts)
def test_numbers_follow_dynamodbs_rule(text):
    expected = dynamodb_number(text)
    number = Decimal(text)
    try:
        written = ddb.to_attribute_value(number)
    except ddb.AttributeValueError:
        assert expected is None, f"{text} is a number DynamoDB stores"
        return
    assert expected is not None, f"{text} is a number DynamoDB refuses"
    assert dynamodb_number(written["N"]) == expected
    assert written["N"] == ("0" if number.is_zero() else str(number))  # as given: never rounded
    assert ddb.from_attribute_value({"N": text}) == number


@settings(max_examples=examples(3000), deadline=None)
@given(any_number_texts)
def test_boto3_decides_as_dynamodb_but_where_listed(text):
    number = Decimal(text)
    departure = boto3_departure(number)
    dynamodb_accepts = number.is_finite() and dynamodb_number(text) is not None
    if departure is None:
        assert boto3_accepts(number) == dynamodb_accepts
    else:
        assert boto3_accepts(number) == BOTO3_DEPARTURES[departure] != dynamodb_accepts


@pytest.mark.parametrize(
    ("text", "departure"),
    [
        ("100000000000000000000000000000000000000", "refuses trailing zeros"),
        ("110111111111111110000000000000000000000", "refuses trailing zeros"),
        ("1." + "0" * 40, "refuses trailing zeros"),
        ("0E+1000", "refuses zeros with a large exponent"),
        ("1.2345678901234567890123456789012345678E-130", "refuses small numbers with many digits"),
        ("1E+126", "accepts magnitudes up to 1E+127"),
        ("1E-131", "accepts magnitudes down to 1E-165"),
        ("-Infinity", "accepts other spellings of NaN and Infinity"),
        ("-NaN", "accepts other spellings of NaN and Infinity"),
    ],
)
def test_each_departure_of_boto3_and_what_the_codec_does_instead(text, departure):
    number = Decimal(text)
    assert boto3_departure(number) == departure
    assert boto3_accepts(number) == BOTO3_DEPARTURES[departure]
    if BOTO3_DEPARTURES[departure]:
        with pytest.raises(ddb.AttributeValueError):
            ddb.to_attribute_value(number)
    else:
        assert ddb.to_attribute_value(number) == {"N": "0" if number.is_zero() else text}
    if departure == "refuses trailing zeros":
        with pytest.raises(Exception, match="Rounded"):
            TypeDeserializer().deserialize({"N": text})
        assert ddb.from_attribute_value({"N": text}) == number


# --- Whole values against boto3 ------------------------------------------------------------------


class Boto3Serializer(TypeSerializer):
    """boto3's serializer, with DynamoDB's rule for the numbers boto3 is listed as refusing."""

    def _serialize_n(self, value: Any) -> str:
        if boto3_departure(Decimal(value)) is None:
            return super()._serialize_n(value)
        return str(value)


class Boto3Deserializer(TypeDeserializer):
    """boto3's deserializer, reading the numbers it is listed as refusing exactly as written."""

    def _deserialize_n(self, value: str) -> Decimal:
        if boto3_departure(Decimal(value)) is None:
            return super()._deserialize_n(value)
        return Decimal(value)


SPECIAL = ["", "\ufffe", "\uffff", "\U0010ffff", "\U0001f600", "\x00", "\x7f", "\u2028", "\ud7ff", "\ue000"]
texts = st.one_of(st.text(st.characters(exclude_categories=["Cs"]), max_size=8), st.sampled_from(SPECIAL))
names = texts.filter(bool)  # attribute names and map keys are at least one character
binaries = st.binary(max_size=8)
numbers = st.one_of(legal_numbers, st.integers(-(10**38) + 1, 10**38 - 1))
scalars = st.one_of(st.none(), st.booleans(), texts, numbers, binaries)
sets = st.one_of(
    st.frozensets(texts, min_size=1, max_size=4).map(set),
    st.frozensets(numbers, min_size=1, max_size=4).map(set),
    st.frozensets(binaries, min_size=1, max_size=4).map(set),
)
MAX_LEVELS = 32


@st.composite
def deep(draw) -> Any:
    """A scalar or set at the bottom of lists and maps, at most MAX_LEVELS levels in all."""
    value = draw(st.one_of(scalars, sets))
    for _ in range(draw(st.integers(1, MAX_LEVELS - 1))):
        value = [value] if draw(st.booleans()) else {draw(names): value}
    return value


values = st.one_of(
    deep(),
    st.recursive(
        st.one_of(scalars, sets),
        lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(names, inner, max_size=4)),
        max_leaves=12,
    ),
)
items = st.dictionaries(names, values, min_size=1, max_size=5)


def levels(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max(map(levels, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(levels, value), default=0)
    return 1


def comparable(av: dict[str, Any]) -> Any:
    """An AttributeValue with binary as bytes, sets sorted and zeros spelled "0" (ddb writes every
    zero so; boto3 keeps the spelling it was given)."""
    ((tag, value),) = av.items()
    if tag == "M":
        return {"M": {k: comparable(v) for k, v in value.items()}}
    if tag == "L":
        return {"L": [comparable(v) for v in value]}
    if tag == "N":
        return {"N": "0" if Decimal(value).is_zero() else value}
    if tag == "NS":
        return {"NS": sorted("0" if Decimal(v).is_zero() else v for v in value)}
    if tag == "B":
        return {"B": bytes(value)}
    if tag in ("SS", "BS"):
        return {tag: sorted(bytes(v) if tag == "BS" else v for v in value)}
    return av


def comparable_item(item: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {name: comparable(av) for name, av in item.items()}


def as_read(value: Any) -> Any:
    """A value as the codec reads it back: integers are Decimals, tuples lists."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, dict):
        return {k: as_read(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [as_read(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return {as_read(v) for v in value}
    return value


def same_numbers(a: Any, b: Any) -> bool:
    """Equal, and every nonzero number with the very digits and exponent (nothing rounded)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_numbers(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same_numbers(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, Decimal):
        return a == b and (a.is_zero() or a.as_tuple() == b.as_tuple())
    return a == b


@settings(max_examples=examples(400), deadline=None)
@given(items)
def test_serializer_writes_what_boto3_writes(item):
    assert max(map(levels, item.values())) <= MAX_LEVELS
    theirs = {name: Boto3Serializer().serialize(value) for name, value in item.items()}
    assert comparable_item(ddb.to_item(item)) == comparable_item(theirs)


@settings(max_examples=examples(400), deadline=None)
@given(items)
def test_deserializer_reads_what_boto3_reads_and_round_trips(item):
    wire = ddb.to_item(item)
    ours = ddb.from_item(wire)
    theirs = {name: plain(Boto3Deserializer().deserialize(av)) for name, av in wire.items()}
    assert same_numbers(ours, theirs)
    assert same_numbers(ours, as_read(item))
    assert comparable_item(ddb.to_item(ours)) == comparable_item(wire)


@settings(max_examples=examples(300), deadline=None)
@given(items)
def test_the_json_form_round_trips_through_json(item):
    wire = ddb.to_item(item, binary="base64")
    read = ddb.from_item(json_codec.loads(json_codec.dumps(wire)))
    assert same_numbers(read, as_read(item))


def test_nesting_to_dynamodbs_limit_and_every_kind_of_empty_value():
    value: Any = {"SS": {"", "\ufffe"}, "BS": {b"", b"\x00"}, "S": "", "B": b"", "NS": {Decimal("1E+38"), 0}}
    for level in range(MAX_LEVELS - 2):
        value = [value] if level % 2 else {"\uffff": value}
    item = {"top": value}
    assert levels(value) == MAX_LEVELS
    wire = ddb.to_item(item)
    assert ddb.from_item(wire) == item
    assert comparable_item(wire) == comparable_item({k: Boto3Serializer().serialize(v) for k, v in item.items()})
    assert ddb.from_item(ddb.to_item(item, binary="base64")) == item
