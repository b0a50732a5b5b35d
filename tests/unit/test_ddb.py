from __future__ import annotations

import base64
from decimal import Decimal

import pytest
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.dynamodb import plain
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


@settings(max_examples=300, deadline=None)
@given(items)
def test_serialize_matches_boto3(item):
    ours = ddb.to_item(item)
    theirs = {k: TypeSerializer().serialize(v) for k, v in item.items()}
    assert {k: _norm_av(v) for k, v in ours.items()} == {k: _norm_av(v) for k, v in theirs.items()}


@settings(max_examples=300, deadline=None)
@given(items)
def test_deserialize_matches_boto3_and_round_trips(item):
    wire = {k: TypeSerializer().serialize(v) for k, v in item.items()}
    ours = ddb.from_item(wire)
    theirs = {k: plain(TypeDeserializer().deserialize(v)) for k, v in wire.items()}
    assert ours == theirs
    assert ddb.from_item(ddb.to_item(ours)) == ours


@settings(max_examples=200, deadline=None)
@given(items)
def test_json_form_round_trips_binary_as_base64(item):
    json_form = ddb.to_item(item, binary="base64")
    assert ddb.from_item(json_form) == ddb.from_item(ddb.to_item(item))


@settings(max_examples=200, deadline=None)
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
