"""The JSON codec every function uses, so the choice of library lives in one place.

orjson (compiled, shipped in the layer for Lambda's platform) does the work when it is
importable; the standard library does it otherwise, or when ``TRIBUTARY_JSON=json``.
Both backends accept and refuse the same documents and give the same values: orjson is
only trusted where it agrees with the standard library, and anything else it meets
(a parse error, an integer beyond 64 bits, NaN, a non-string key) is handed to the
standard library, which either reads it exactly or says precisely why not. Written
documents hold the same values either way; a few floats are spelled differently
(orjson writes 1e-7 where the standard library writes 1e-07).
"""

from __future__ import annotations

import json
import os
from typing import Any

try:
    if os.environ.get("TRIBUTARY_JSON", "").lower() == "json":
        raise ImportError("the standard library was asked for")
    import orjson as _orjson
except ImportError:
    _orjson = None

BACKEND = "orjson" if _orjson is not None else "json"
if _orjson is not None:
    _fast_loads, _fast_dumps, _DecodeError = _orjson.loads, _orjson.dumps, _orjson.JSONDecodeError

_COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
_CANONICAL = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), sort_keys=True, allow_nan=False
)
# What the standard library would refuse to write, orjson must not write either.
_OPTIONS = (_orjson.OPT_PASSTHROUGH_DATETIME | _orjson.OPT_PASSTHROUGH_DATACLASS) if _orjson else 0
_LINE = (_OPTIONS | _orjson.OPT_APPEND_NEWLINE) if _orjson else 0
# orjson reads an integer beyond 64 bits as a float, losing digits. Only a run of 19 or more
# digits can be one; such documents go to the standard library, which keeps every digit.
_DIGITS = bytes(0x30 if 0x30 <= b <= 0x39 else 0x20 for b in range(256))
_LONG_RUN = b"0" * 19


class JsonError(ValueError):
    """The bytes are not one JSON document."""


def _stdlib_loads(data: bytes | bytearray | memoryview | str) -> Any:
    try:
        text = data.decode("utf-8") if isinstance(data, (bytes, bytearray, memoryview)) else data
        return json.loads(text)
    except UnicodeDecodeError as exc:
        raise JsonError(f"not UTF-8: {exc.reason} at byte {exc.start}") from None
    except json.JSONDecodeError as exc:
        raise JsonError(f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise JsonError("not JSON: nested too deeply") from None


def loads(data: bytes | str) -> Any:
    """Parse one JSON document; raise JsonError on anything else (bad UTF-8, trailing data)."""
    if _orjson is not None:
        try:
            raw = data if type(data) is bytes else data.encode("utf-8") if isinstance(data, str) else bytes(data)
            if raw.translate(_DIGITS).rfind(_LONG_RUN) < 0:
                return _fast_loads(raw)
        except (_DecodeError, UnicodeEncodeError):
            pass  # the standard library reads it (NaN, lone surrogates) or says why not
    return _stdlib_loads(data)


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
