"""The JSON codec every function uses, so the choice of library lives in one place.

orjson (compiled, shipped in the layer for Lambda's platform) does the work when it is
importable; the standard library does it otherwise, or when ``TRIBUTARY_JSON=json``.
Both backends accept and refuse the same documents and give the same values: orjson is
only trusted where it agrees with the standard library, and anything else it meets
(a parse error, an integer beyond 64 bits, NaN, a non-string key) is handed to the
standard library, which either reads it exactly or says precisely why not. Written
documents hold the same values either way; a few floats are spelled differently
(orjson writes 1e-7 where the standard library writes 1e-07).

Reading is strict to I-JSON (RFC 7493) by default: NaN and the infinities (which Python's
json reads), numbers beyond a double's range (1e400), integers of more than 4,300 digits,
lone surrogate escapes ("\\ud800", which no UTF-8 writer can write back) and nesting
deeper than ``MAX_DEPTH`` levels are refused with a ``JsonError`` whose ``reason`` is ``not_json`` or
``bad_unicode``. Whatever ``loads`` returns, ``dumps`` can write.
"""

from __future__ import annotations

import json
import math
import os
import re
from typing import Any

try:
    if os.environ.get("TRIBUTARY_JSON", "").lower() == "json":
        raise ImportError("the standard library was asked for")
    import orjson as _orjson
except ImportError:
    _orjson = None  # type: ignore[assignment]

BACKEND = "orjson" if _orjson is not None else "json"
if _orjson is not None:
    _fast_loads, _fast_dumps, _DecodeError = _orjson.loads, _orjson.dumps, _orjson.JSONDecodeError

_COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
_CANONICAL = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True, allow_nan=False)
# What the standard library would refuse to write, orjson must not write either.
_OPTIONS = (_orjson.OPT_PASSTHROUGH_DATETIME | _orjson.OPT_PASSTHROUGH_DATACLASS) if _orjson else 0
_LINE = (_OPTIONS | _orjson.OPT_APPEND_NEWLINE) if _orjson else 0
# orjson reads an integer beyond 64 bits as a float, losing digits. Only a run of 19 or more
# digits can be one; such documents go to the standard library, which keeps every digit.
# One pass maps every digit to "0" and every opening bracket to "[", so the same copy also
# counts how deep the document could be.
_SCAN = bytes(0x30 if 0x30 <= b <= 0x39 else 0x5B if b in (0x5B, 0x7B) else 0x20 for b in range(256))
_LONG_RUN = b"0" * 19
# Deeper documents are refused whichever Python reads them: 3.11's parser gives up near 1,000
# levels, 3.13's near 20,000, and writing one back recurses as deep again.
MAX_DEPTH = 512


# Only a \\u escape in the range D800-DFFF can put a lone surrogate into a parsed string.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


class JsonError(ValueError):
    """The bytes are not one I-JSON document; ``reason`` is ``not_json`` or ``bad_unicode``."""

    def __init__(self, detail: str, reason: str = "not_json") -> None:
        super().__init__(detail)
        self.reason = reason


def _constant(name: str) -> Any:
    raise JsonError(f"not JSON: {name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise JsonError(f"not JSON: the number {text[:40]} is beyond the range of a double")
    return value


_STRICT = json.JSONDecoder(parse_constant=_constant, parse_float=_finite)
_LENIENT = json.JSONDecoder()


def _stdlib_loads(data: bytes | bytearray | memoryview | str, strict: bool) -> Any:
    if strict and isinstance(data, str):
        _check_text(data)  # a str may hold a lone surrogate itself, not only as an escape
    try:
        text = data if isinstance(data, str) else str(data, "utf-8")
        value = (_STRICT if strict else _LENIENT).decode(text)
    except UnicodeDecodeError as exc:
        raise JsonError(f"not UTF-8: {exc.reason} at byte {exc.start}") from None
    except json.JSONDecodeError as exc:
        raise JsonError(f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise JsonError("not JSON: nested too deeply") from None
    except JsonError:
        raise
    except ValueError as exc:  # an integer beyond the interpreter's digit limit
        raise JsonError(f"not JSON: {str(exc)[:120]}") from None
    if strict and _SURROGATE_ESCAPE.search(text) is not None:
        check(value)
    elif strict and text.count("[") + text.count("{") > MAX_DEPTH:
        _check_depth(value)
    return value


def loads(data: bytes | str, strict: bool = True) -> Any:
    """Parse one JSON document; raise JsonError on anything else (bad UTF-8, trailing data, not I-JSON).

    ``strict=False`` reads what Python's json reads (NaN, lone surrogates), for callers that
    judge the parts of a document one by one with ``check``.
    """
    if _orjson is not None:
        try:
            raw = data if type(data) is bytes else data.encode("utf-8") if isinstance(data, str) else bytes(data)
            scan = raw.translate(_SCAN)
            if scan.rfind(_LONG_RUN) < 0:
                # orjson refuses NaN, infinities and lone surrogates itself.
                value = _fast_loads(raw)
                if strict and scan.count(b"[") > MAX_DEPTH:
                    _check_depth(value)
                return value
        except (_DecodeError, UnicodeEncodeError):
            pass  # the standard library reads it or says precisely why not
    return _stdlib_loads(data, strict)


def check(value: Any) -> None:
    """Raise JsonError if a parsed value holds what I-JSON refuses: NaN, infinities, lone surrogates,
    or nesting deeper than ``MAX_DEPTH``."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            _check_text(item)
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise JsonError(f"not JSON: {item!r} is not a JSON number")
        elif isinstance(item, (dict, list)):
            if depth > MAX_DEPTH:
                raise JsonError(f"not JSON: nested more than {MAX_DEPTH} levels deep")
            if isinstance(item, dict):
                for key, child in item.items():
                    if isinstance(key, str):
                        _check_text(key)
                    stack.append((child, depth + 1))
            else:
                stack.extend((child, depth + 1) for child in item)


def _check_depth(value: Any) -> None:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise JsonError(f"not JSON: nested more than {MAX_DEPTH} levels deep")
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values() if isinstance(child, (dict, list)))
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item if isinstance(child, (dict, list)))


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise JsonError(
            f"lone surrogate U+{ord(text[exc.start]):04X} in a string: not Unicode text", "bad_unicode"
        ) from None


def printable(text: str, limit: int = 200) -> str:
    """``text`` cut to ``limit`` characters, lone surrogates written as escapes: safe in any UTF-8 output."""
    return text[:limit].encode("utf-8", "backslashreplace").decode("utf-8")


def _encode(obj: Any, option: int, suffix: bytes) -> bytes:
    if _orjson is not None:
        try:
            out = _fast_dumps(obj, option=option)
        except TypeError:
            pass  # a big integer, a non-string key, a lone surrogate: the standard library decides
        else:
            # orjson writes NaN and infinities as null; only a document with a null can hide one.
            # (rfind: in CPython it scans these documents several times faster than ``in``.)
            if out.rfind(b"null") >= 0:
                _COMPACT.encode(obj)
            return out
    return _COMPACT.encode(obj).encode("utf-8") + suffix


def dumps(obj: Any) -> bytes:
    """Compact UTF-8 JSON; NaN and infinities are refused."""
    return _encode(obj, _OPTIONS, b"")


def dumps_line(obj: Any) -> bytes:
    """``dumps`` and a newline: one NDJSON line, written in one piece rather than copied to add it."""
    return _encode(obj, _LINE, b"\n")


def canonical(obj: Any) -> bytes:
    """The canonical form used for hashing and comparison: sorted keys, no spaces, UTF-8.

    Always the standard library's: a hash must not change with the backend (the two
    spell some floats differently, 1e-07 and 1e-7).
    """
    return _CANONICAL.encode(obj).encode("utf-8")
