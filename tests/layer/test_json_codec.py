"""The JSON codec gives the same answers with orjson and with the standard library alone."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.examples import examples
from tributary import json_codec

ROOT = Path(__file__).resolve().parents[2]
BACKENDS = ["orjson", "json"] if json_codec._orjson is not None else ["json"]


@pytest.fixture(params=BACKENDS)
def backend(request, monkeypatch):
    """Run the test with each backend: the layer's orjson, and the standard library forced."""
    if request.param == "json":
        monkeypatch.setattr(json_codec, "_orjson", None)
    return request.param


def both(call):
    """The outcome of ``call`` with orjson and with the standard library: a value or an exception type."""
    outcomes = []
    saved = json_codec._orjson
    for module in (saved, None):
        json_codec._orjson = module
        try:
            outcomes.append(("ok", call()))
        except (ValueError, TypeError) as exc:
            outcomes.append(("error", type(exc)))
        finally:
            json_codec._orjson = saved
    return outcomes


def same(a, b) -> bool:
    """Equal values of equal types (NaN equal to NaN, 1 not equal to 1.0)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def test_the_layer_ships_the_compiled_backend():
    expected = "orjson" if json_codec._orjson is not None else "json"
    assert expected == json_codec.BACKEND


def test_the_standard_library_can_be_asked_for():
    code = "from tributary import json_codec; print(json_codec.BACKEND, json_codec.dumps({'a': [1, 2.5]}).decode())"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(ROOT / "layers" / "common"), "TRIBUTARY_JSON": "json", "PATH": "/usr/bin:/bin"},
    ).stdout
    assert out.split() == ["json", '{"a":[1,2.5]}']


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (b'{"a": [1, 2.5, "x", null, true]}', {"a": [1, 2.5, "x", None, True]}),
        (b'{"big": 123456789012345678901234567890}', {"big": 123456789012345678901234567890}),
        (
            b'{"low": -9223372036854775809, "high": 18446744073709551616}',
            {"low": -9223372036854775809, "high": 18446744073709551616},
        ),
        (b'{"a": 1, "a": 2}', {"a": 2}),
        (b'"\\ud800"', "\ud800"),
        (b"  [1e400]\n", [math.inf]),
        ('{"é": "ü"}', {"é": "ü"}),
    ],
)
def test_loads_reads_what_the_standard_library_reads(backend, text, expected):
    assert same(json_codec.loads(text, strict=False), expected)


def test_a_lenient_read_takes_nan_as_the_standard_library_does(backend):
    assert math.isnan(json_codec.loads(b'{"x": NaN}', strict=False)["x"])


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (b"\xff\xfe", "not UTF-8"),
        (b'{"a": "\xed\xa0\x80"}', "not UTF-8"),
        (b'{"a": 1} trailing', "not JSON"),
        (b"\xef\xbb\xbf{}", "not JSON"),
        (b'{"a": "\x01"}', "not JSON"),
        (b"", "not JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    ],
)
def test_loads_says_why_not_in_the_same_words(backend, text, reason):
    with pytest.raises(json_codec.JsonError, match=reason):
        json_codec.loads(text)


def test_dumps_is_compact_utf8(backend):
    assert json_codec.dumps({"b": 1, "a": "é", "n": None}) == '{"b":1,"a":"é","n":null}'.encode()


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, {"x": [1, math.nan]}])
def test_dumps_refuses_nan_and_infinities(backend, value):
    with pytest.raises(ValueError, match="Out of range"):
        json_codec.dumps(value)


@pytest.mark.parametrize(
    "value",
    [{"big": 2**64}, {"neg": -(2**63) - 1}, {1: "int key"}, {"t": (1, 2)}, {"s": "null"}, {"n": [None, 1.5e-7]}],
)
def test_dumps_writes_what_the_standard_library_writes(backend, value):
    assert json.loads(json_codec.dumps(value)) == json.loads(json.dumps(value))


@pytest.mark.parametrize("value", [{"d": __import__("datetime").date(2026, 1, 1)}, {"s": {1, 2}}, {"x": "\ud800"}])
def test_dumps_refuses_what_the_standard_library_refuses(backend, value):
    with pytest.raises((TypeError, ValueError)):
        json_codec.dumps(value)


def test_canonical_is_the_same_bytes_with_either_backend(backend):
    value = {"b": 1, "a": {"d": 1e-7, "c": [2, "é"]}}
    assert json_codec.canonical(value) == b'{"a":{"c":[2,"\xc3\xa9"],"d":1e-07},"b":1}'


json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.text(),
        st.floats(),
        st.integers(),
        st.integers(min_value=-(2**70), max_value=2**70),
    ),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=15,
)


@settings(max_examples=examples(300), deadline=None)
@given(json_values)
def test_both_backends_write_the_same_values_or_refuse_alike(value):
    first, second = both(lambda: json_codec.dumps(value))
    assert first[0] == second[0]
    if first[0] == "ok":
        assert same(json.loads(first[1]), json.loads(second[1]))
        assert same(json_codec.loads(first[1]), json_codec.loads(second[1]))


# Any bytes, JSON documents, and JSON documents with a few bytes spliced in anywhere.
documents = st.one_of(
    st.binary(max_size=40),
    json_values.map(lambda v: json.dumps(v).encode("utf-8", "surrogatepass")),
    st.tuples(json_values, st.integers(0, 60), st.binary(max_size=3)).map(
        lambda t: (lambda doc: doc[: t[1]] + t[2] + doc[t[1] :])(json.dumps(t[0]).encode("utf-8", "surrogatepass"))
    ),
)


@settings(max_examples=examples(300), deadline=None)
@given(documents)
def test_both_backends_read_the_same_values_or_refuse_alike(data):
    first, second = both(lambda: json_codec.loads(data))
    assert first[0] == second[0], (data, first, second)
    if first[0] == "ok":
        assert same(first[1], second[1]), data


@settings(max_examples=examples(200), deadline=None)
@given(documents, st.sampled_from([bytearray, memoryview]))
def test_any_bytes_like_reads_as_its_bytes_do(data, wrap):
    """A bytearray or a memoryview (a slice of a larger buffer) reads, or is refused, exactly as
    the same bytes: with each backend, and with the standard library when orjson hands it on."""
    for expected, got in zip(
        both(lambda: json_codec.loads(data)), both(lambda: json_codec.loads(wrap(data))), strict=True
    ):
        assert expected[0] == got[0], (data, expected, got)
        if expected[0] == "ok":
            assert same(expected[1], got[1]), data


# --- I-JSON: what other parsers would refuse or read differently is refused, with its reason -------


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        (b'{"a": NaN}', "not_json"),
        (b'{"a": Infinity}', "not_json"),
        (b"[-Infinity]", "not_json"),
        (b'{"a": 1e400}', "not_json"),
        (b'{"a": -1e400}', "not_json"),
        (b'{"a": 1' + b"0" * 5000 + b"}", "not_json"),
        (b"[" * 100_000 + b"]" * 100_000, "not_json"),
        # Deep, but not too deep for 3.13's parser: refused by the limit, the same on every Python.
        (b"[" * 5000 + b"]" * 5000, "not_json"),
        (b"[" * 513 + b"]" * 513, "not_json"),
        (b'{"a":' * 513 + b"1" + b"}" * 513, "not_json"),
        (b'{"a": "\\ud800"}', "bad_unicode"),
        (b'{"\\udfff": 1}', "bad_unicode"),
        (b'["x\\ud83d"]', "bad_unicode"),
        (b"\xed\xa0\x80", "not_json"),  # a surrogate encoded as UTF-8 is not UTF-8
    ],
)
def test_documents_outside_i_json_are_refused_with_a_reason(backend, document, reason):
    with pytest.raises(json_codec.JsonError) as caught:
        json_codec.loads(document)
    assert caught.value.reason == reason
    str(caught.value).encode("utf-8")


def test_a_text_holding_a_lone_surrogate_itself_is_refused_unless_read_leniently(backend):
    # What json.loads makes of an event whose JSON says "\ud800": a str with the surrogate in it.
    text = json.loads('"{\\"a\\": \\"x\\ud800\\"}"')
    assert "\ud800" in text
    with pytest.raises(json_codec.JsonError) as caught:
        json_codec.loads(text)
    assert caught.value.reason == "bad_unicode"
    assert json_codec.loads(text, strict=False) == {"a": "x\ud800"}


@pytest.mark.parametrize(
    "document",
    [
        b'"\\ud83d\\ude00"',
        b'{"a": 1e308}',
        b'{"n": 1' + b"0" * 37 + b"}",
        b'{"a": 1, "a": 2}',
        b"[" * 512 + b"]" * 512,
        b"[" + b"[]," * 5000 + b"[]]",
    ],
)
def test_documents_within_i_json_are_read(backend, document):
    json_codec.loads(document)


def test_a_lenient_read_then_a_check_refuses_per_value():
    values = json_codec.loads(b'[{"a": 1}, {"a": NaN}, {"b": "\\ud800"}]', strict=False)
    json_codec.check(values[0])
    with pytest.raises(json_codec.JsonError) as nan:
        json_codec.check(values[1])
    with pytest.raises(json_codec.JsonError) as surrogate:
        json_codec.check(values[2])
    assert (nan.value.reason, surrogate.value.reason) == ("not_json", "bad_unicode")
