from __future__ import annotations

import base64
from decimal import Decimal

import pytest
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.dynamodb import plain
from tests.examples import examples
from tributary import ddb

numbers = st.one_of(
    st.integers(min_value=-(10**37), max_value=10**37),
    st.decimals(allow_nan=False, allow_infinity=False, places=None).filter(
        lambda d: d.is_finite() and (d == 0 or -100 < d.adjusted() < 100) and len(d.as_tuple().digits) <= 38
    ),
)
texts = st.text(max_size=20)
binaries = st.binary(max_size=20)
scalars = st.one_of(st.none(), st.booleans(), texts, numbers, binaries)
sets = st.one_of(
    st.frozensets(texts, min_size=1, max_size=5).map(set),
    st.frozensets(st.integers(-(10**20), 10**20), min_size=1, max_size=5).map(lambda s: {Decimal(v) for v in s}),
    st.frozensets(binaries, min_size=1, max_size=5).map(set),
)
values = st.recursive(
    st.one_of(scalars, sets),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(texts, inner, max_size=4)),
    max_leaves=20,
)
items = st.dictionaries(st.text(min_size=1, max_size=10), values, min_size=1, max_size=6)


def _norm_av(av):
    """One AttributeValue with binary as bytes and set members sorted, for comparison."""
    ((tag, value),) = av.items()
    if tag == "M":
        return {"M": {k: _norm_av(v) for k, v in value.items()}}
    if tag == "L":
        return {"L": [_norm_av(v) for v in value]}
    if tag == "B":
        return {"B": bytes(value)}
    if tag == "BS":
        return {"BS": sorted(bytes(v) for v in value)}
    if tag in ("SS", "NS"):
        return {tag: sorted(value)}
    return av


@settings(max_examples=examples(300), deadline=None)
@given(items)
def test_serialize_matches_boto3(item):
    ours = ddb.to_item(item)
    theirs = {k: TypeSerializer().serialize(v) for k, v in item.items()}
    assert {k: _norm_av(v) for k, v in ours.items()} == {k: _norm_av(v) for k, v in theirs.items()}


@settings(max_examples=examples(300), deadline=None)
@given(items)
def test_deserialize_matches_boto3_and_round_trips(item):
    wire = {k: TypeSerializer().serialize(v) for k, v in item.items()}
    ours = ddb.from_item(wire)
    theirs = {k: plain(TypeDeserializer().deserialize(v)) for k, v in wire.items()}
    assert ours == theirs
    assert ddb.from_item(ddb.to_item(ours)) == ours


@settings(max_examples=examples(200), deadline=None)
@given(items)
def test_json_form_round_trips_binary_as_base64(item):
    json_form = ddb.to_item(item, binary="base64")
    assert ddb.from_item(json_form) == ddb.from_item(ddb.to_item(item))


@settings(max_examples=examples(200), deadline=None)
@given(items)
def test_canonical_form_ignores_key_order(item):
    reordered = dict(reversed(list(item.items())))
    assert ddb.canonical_item(item) == ddb.canonical_item(reordered)
    assert ddb.item_digest(item) == ddb.item_digest(reordered)


def test_numbers_are_exact():
    value = Decimal("12345678901234567890123456789012345678")
    av = ddb.to_attribute_value(value)
    assert av == {"N": "12345678901234567890123456789012345678"}
    assert ddb.from_attribute_value(av) == value
    assert ddb.from_attribute_value({"N": "0.1"}) == Decimal("0.1")


def test_every_type_from_a_stream_image():
    image = {
        "s": {"S": "text"},
        "n": {"N": "-12.50"},
        "b": {"B": base64.b64encode(b"\x00\xff").decode()},
        "t": {"BOOL": True},
        "z": {"NULL": True},
        "m": {"M": {"inner": {"L": [{"N": "1"}, {"S": "x"}]}}},
        "ss": {"SS": ["a", "b"]},
        "ns": {"NS": ["1", "2.5"]},
        "bs": {"BS": [base64.b64encode(b"a").decode(), base64.b64encode(b"b").decode()]},
    }
    assert ddb.from_item(image) == {
        "s": "text",
        "n": Decimal("-12.50"),
        "b": b"\x00\xff",
        "t": True,
        "z": None,
        "m": {"inner": [Decimal(1), "x"]},
        "ss": {"a", "b"},
        "ns": {Decimal(1), Decimal("2.5")},
        "bs": {b"a", b"b"},
    }


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (1.5, "float is not exact"),
        (set(), "empty set"),
        ({1, "a"}, "only strings"),
        (Decimal("1e200"), "out of DynamoDB's range"),
        (Decimal("NaN"), "range or precision|not finite"),
        (object(), "unsupported type"),
    ],
)
def test_values_dynamodb_cannot_store_are_refused(value, message):
    with pytest.raises(ddb.AttributeValueError, match=message):
        ddb.to_attribute_value(value)


@pytest.mark.parametrize(
    "av",
    [{"X": "1"}, {"S": "a", "N": "1"}, {"N": "one"}, {"B": "not base64!"}, {}],
)
def test_malformed_attribute_values_are_refused(av):
    with pytest.raises(ddb.AttributeValueError):
        ddb.from_attribute_value(av)


def test_canonical_numbers_equal_as_dynamodb_stores_them():
    assert ddb.canonical_item({"n": Decimal("1.50")}) == ddb.canonical_item({"n": Decimal("1.5")})
    assert ddb.canonical_item({"n": Decimal("1.5")}) != ddb.canonical_item({"n": "1.5"})


# DynamoDB's Number (Developer Guide, "Supported data types and naming rules"): zero, or up to 38
# significant digits with a magnitude from 1E-130 to 9.9999999999999999999999999999999999999E+125,
# either sign; leading and trailing zeros are not significant.
STORABLE = [
    "12345678901234567890123456789012345678",  # 38 significant digits
    "100000000000000000000000000000000000000",  # 1E+38 as streams write it: 39 characters, 1 significant digit
    "110111111111111110000000000000000000000",  # from a real stream image
    "1234567890123456789012345678901234567800",  # 38 significant digits in 40 characters
    "-99999999999999999999999999999999999990000000000",
    "1.0000000000000000000000000000000000000000",  # trailing zeros after the point are not significant
    "-1.2345678901234567890123456789012345678000",
    "9.9999999999999999999999999999999999999E+125",  # the largest magnitude
    "-9.9999999999999999999999999999999999999E+125",
    "99999999999999999999999999999999999999E+88",  # the same number, another notation
    "1E-130",  # the smallest magnitude
    "-1E-130",
    "0.0000000001E-120",
    "1.2345678901234567890123456789012345678E-130",  # 38 digits at the smallest magnitude
    "1e5",
    "1E5",
    "1e+5",
    "1E+005",
    "12.5e-3",
    "-17.4E37",
    "+3",
    ".123",
    "0001.23",
    "1.50",
]
ZEROS = ["0", "-0", "0.000", "0E+1000", "-0E-1000", "000"]
NOT_STORABLE = [
    "123456789012345678901234567890123456789",  # 39 significant digits
    "-1234567890123456789012345678901234567890",
    "1.23456789012345678901234567890123456789",
    "1000000000000000000000000000000000000001",  # 40 significant digits, 40 characters
    "1E+126",  # just above the largest magnitude
    "-1E+126",
    "10E+125",
    "99999999999999999999999999999999999999E+89",
    "1E-131",  # just below the smallest magnitude
    "-1E-131",
    "0.9E-130",
    "9.9999999999999999999999999999999999999E-131",
]


@pytest.mark.parametrize("text", STORABLE)
def test_numbers_dynamodb_stores_are_written_exactly_as_given(text):
    number = Decimal(text)
    written = ddb.to_attribute_value(number)
    assert written == {"N": str(number)}
    assert Decimal(written["N"]).as_tuple() == number.as_tuple()  # nothing rounded, not even a zero dropped
    # As a stream image holds them, through the decoder and back.
    copied = ddb.to_item(ddb.from_item({"n": {"N": text}, "ns": {"NS": [text, "7"]}}))
    assert copied["n"] == written
    assert sorted(copied["ns"]["NS"]) == sorted([str(number), "7"])


@pytest.mark.parametrize("text", ZEROS)
def test_every_zero_is_written_as_0(text):
    assert ddb.to_attribute_value(Decimal(text)) == {"N": "0"}


@pytest.mark.parametrize("text", NOT_STORABLE)
def test_numbers_dynamodb_refuses_are_refused_never_rounded(text):
    with pytest.raises(ddb.AttributeValueError, match=r"significant digits|out of DynamoDB's range"):
        ddb.to_attribute_value(Decimal(text))


@pytest.mark.parametrize(
    ("value", "written"),
    [(10**38, "1" + "0" * 38), (-(10**125) * 9, "-9" + "0" * 125), (10**37 * 12345, "12345" + "0" * 37), (0, "0")],
)
def test_integers_are_judged_by_their_significant_digits(value, written):
    assert ddb.to_attribute_value(value) == {"N": written}


@pytest.mark.parametrize(
    "value", [10**38 + 1, 10**126, -(10**126), 10**5000], ids=["39-digits", "1E+126", "-1E+126", "1E+5000"]
)
def test_integers_dynamodb_refuses_are_refused(value):
    with pytest.raises(ddb.AttributeValueError):
        ddb.to_attribute_value(value)


@pytest.mark.parametrize("text", ["NaN", "-NaN", "sNaN", "Infinity", "-Infinity"])
def test_numbers_that_are_not_finite_are_refused(text):
    with pytest.raises(ddb.AttributeValueError, match="not finite"):
        ddb.to_attribute_value(Decimal(text))


def test_digest_of_an_item_with_a_number_written_in_full():
    item = ddb.from_item(
        {
            "pk": {"S": "a"},
            "n": {"N": "110111111111111110000000000000000000000"},
            "ns": {"NS": ["100000000000000000000000000000000000000", "1." + "0" * 40]},
        }
    )
    same = {"pk": "a", "n": Decimal("1.1011111111111111E+38"), "ns": {Decimal("1E+38"), Decimal(1)}}
    assert ddb.item_digest(item) == ddb.item_digest(same)
    assert ddb.item_digest(item) != ddb.item_digest({**same, "n": Decimal("1.1011111111111112E+38")})
    assert ddb.canonical_item({"z": Decimal("-0")}) == ddb.canonical_item({"z": Decimal("0E+1000")})
