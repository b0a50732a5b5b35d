"""DynamoDB AttributeValue <-> Python values, exact for every type.

Python side: str, Decimal (numbers, never float), bytes, bool, None, dict, list,
and sets of str, Decimal or bytes. AttributeValue side: the low-level form boto3
clients send and return (binary as bytes) or, with ``binary="base64"``, the JSON
form Lambda receives in DynamoDB stream events (binary as base64 text).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Set
from decimal import Context, Decimal, DecimalException
from typing import Any, Literal

from tributary import json_codec

AttributeValue = dict[str, Any]
Item = dict[str, Any]

# DynamoDB's Number (Developer Guide, "Supported data types and naming rules"): zero, or at most
# 38 significant digits with a magnitude from 1E-130 to 9.9999999999999999999999999999999999999E+125,
# either sign. Leading and trailing zeros are not significant (DynamoDB trims them), so the rule is
# on the value, not on how long it is written: streams write 1E+38 as a 39-digit integer. A number
# outside the rule is refused, never rounded into it. (boto3's DYNAMODB_CONTEXT differs from this
# rule in both directions; tests/layer/test_ddb_reference.py lists where and why.)
MAX_SIGNIFICANT_DIGITS = 38
MIN_EXPONENT = -130  # of the leading digit: 1E-130 is the smallest magnitude
MAX_EXPONENT = 125  # 9.99...E+125 is the largest


class AttributeValueError(ValueError):
    """A value that DynamoDB cannot store, or an AttributeValue that is malformed."""


def _binary(value: Any) -> bytes:
    if isinstance(value, str):
        return base64.b64decode(value, validate=True)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    # boto3's Binary wrapper
    inner = getattr(value, "value", None)
    if isinstance(inner, (bytes, bytearray)):
        return bytes(inner)
    raise AttributeValueError(f"binary value of type {type(value).__name__}")


def _decode_av(av: Mapping[str, Any]) -> Any:
    # Called once for every value of every image: the cheapest way to the one key, and the
    # types in the order stream images hold them most.
    if len(av) != 1:
        raise AttributeValueError(f"an AttributeValue has exactly one type key, got {sorted(av)}")
    (tag,) = av
    value = av[tag]
    if tag == "S":
        return value
    if tag == "N":
        return Decimal(value)
    if tag == "M":
        return {k: _decode_av(v) for k, v in value.items()}
    if tag == "BOOL":
        return value
    if tag == "L":
        return [_decode_av(v) for v in value]
    if tag == "NULL":
        return None
    if tag == "B":
        return _binary(value)
    if tag == "SS":
        return set(value)
    if tag == "NS":
        return {Decimal(v) for v in value}
    if tag == "BS":
        return {_binary(v) for v in value}
    raise AttributeValueError(f"unknown AttributeValue type {tag!r}")


def from_attribute_value(av: Mapping[str, Any]) -> Any:
    """One AttributeValue to its Python value (numbers as exact Decimal, binary as bytes)."""
    try:
        return _decode_av(av)
    except (DecimalException, ValueError, TypeError, AttributeError) as exc:
        raise _malformed(exc) from None


def from_item(image: Mapping[str, Mapping[str, Any]]) -> Item:
    """A DynamoDB item (or stream image) to a dict of Python values."""
    try:
        return {name: _decode_av(av) for name, av in image.items()}
    except (DecimalException, ValueError, TypeError, AttributeError) as exc:
        raise _malformed(exc) from None


def _malformed(exc: Exception) -> AttributeValueError:
    if isinstance(exc, AttributeValueError):
        return exc
    return AttributeValueError(f"malformed AttributeValue: {exc}")


def number_text(value: int | Decimal) -> str:
    """The N text of a number DynamoDB can store, exactly as given; AttributeValueError otherwise."""
    number = value if isinstance(value, Decimal) else Decimal(value)
    if not number.is_finite():
        raise AttributeValueError(f"number {number} is not finite")
    if number.is_zero():
        # Every zero is the same number to DynamoDB (-0, 0.00, 0E+1000); "0" is the one spelling
        # that no reader takes for anything else.
        return "0"
    digits = number.as_tuple().digits
    significant = len(digits) if digits[-1] else len(bytes(digits).rstrip(b"\0"))
    if significant > MAX_SIGNIFICANT_DIGITS:
        raise AttributeValueError(
            f"number {_shown(number)} has {significant} significant digits; DynamoDB stores at most "
            f"{MAX_SIGNIFICANT_DIGITS}"
        )
    if not MIN_EXPONENT <= number.adjusted() <= MAX_EXPONENT:
        raise AttributeValueError(
            f"number {_shown(number)} is out of DynamoDB's range (a magnitude from 1E-130 to 9.99...E+125)"
        )
    return str(number)


def _shown(number: Decimal) -> str:
    text = str(number)
    return text if len(text) <= 60 else f"{text[:57]}..."


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, Decimal)) and not isinstance(value, bool)


def _encode(value: Any, b64: bool) -> AttributeValue:
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, str):
        return {"S": value}
    if _is_number(value):
        return {"N": number_text(value)}
    if isinstance(value, float):
        raise AttributeValueError("float is not exact; use Decimal for DynamoDB numbers")
    if isinstance(value, (bytes, bytearray, memoryview)) or (
        hasattr(value, "value") and isinstance(value.value, (bytes, bytearray))
    ):
        raw = _binary(value)
        return {"B": base64.b64encode(raw).decode("ascii") if b64 else raw}
    if isinstance(value, Mapping):
        return {"M": {_key(k): _encode(v, b64) for k, v in value.items()}}
    if isinstance(value, Set):
        return _encode_set(value, b64)
    if isinstance(value, (list, tuple)):
        return {"L": [_encode(v, b64) for v in value]}
    raise AttributeValueError(f"unsupported type {type(value).__name__}")


def _key(name: Any) -> str:
    if not isinstance(name, str):
        raise AttributeValueError(f"map keys are strings, got {type(name).__name__}")
    return name


def _encode_set(value: Set[Any], b64: bool) -> AttributeValue:
    if not value:
        raise AttributeValueError("DynamoDB cannot store an empty set")
    members = list(value)
    if all(_is_number(m) for m in members):
        return {"NS": [number_text(m) for m in members]}
    if all(isinstance(m, str) for m in members):
        return {"SS": members}
    if all(isinstance(m, (bytes, bytearray)) or hasattr(m, "value") for m in members):
        raws = [_binary(m) for m in members]
        return {"BS": [base64.b64encode(r).decode("ascii") for r in raws] if b64 else raws}
    raise AttributeValueError("a set holds only strings, only numbers or only binary values")


def to_attribute_value(value: Any, binary: Literal["bytes", "base64"] = "bytes") -> AttributeValue:
    """One Python value to its AttributeValue; binary as bytes (boto3) or base64 text (JSON events)."""
    return _encode(value, binary == "base64")


def to_item(item: Mapping[str, Any], binary: Literal["bytes", "base64"] = "bytes") -> dict[str, AttributeValue]:
    """A dict of Python values to a DynamoDB item."""
    b64 = binary == "base64"
    return {_key(name): _encode(value, b64) for name, value in item.items()}


def canonical_item(item: Mapping[str, Any]) -> bytes:
    """Canonical bytes of an item of Python values: equal items give equal bytes, whatever the order."""
    encoded = to_item(item, binary="base64")
    return json_codec.canonical({name: _canonical_av(av) for name, av in encoded.items()})


# Exact for every number to_item writes (at most 38 significant digits, exponents far inside).
_NORMALIZE = Context(prec=MAX_SIGNIFICANT_DIGITS, Emax=999_999, Emin=-999_999)


def _canonical_number(text: str) -> str:
    # DynamoDB stores 1.50, 1.5 and 15E-1 as the same number; so does the canonical form.
    return str(Decimal(text).normalize(_NORMALIZE))


def _canonical_av(av: AttributeValue) -> AttributeValue:
    ((tag, value),) = av.items()
    if tag == "M":
        return {"M": {k: _canonical_av(v) for k, v in value.items()}}
    if tag == "L":
        return {"L": [_canonical_av(v) for v in value]}
    if tag == "N":
        return {"N": _canonical_number(value)}
    if tag == "NS":
        return {"NS": sorted(_canonical_number(v) for v in value)}
    if tag in ("SS", "BS"):
        return {tag: sorted(value)}
    return av


def item_digest(item: Mapping[str, Any]) -> str:
    """A SHA-256 of the canonical form, for drift checks between tables."""
    return hashlib.sha256(canonical_item(item)).hexdigest()
