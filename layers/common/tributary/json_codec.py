"""The JSON codec every function uses, so the choice of library lives in one place."""

from __future__ import annotations

import json
from typing import Any

_DECODER = json.JSONDecoder()
_COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
_CANONICAL = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), sort_keys=True, allow_nan=False
)


class JsonError(ValueError):
    """The bytes are not one JSON document."""


def loads(data: bytes | str) -> Any:
    """Parse one JSON document; raise JsonError on anything else (bad UTF-8, trailing data)."""
    try:
        text = data.decode("utf-8") if isinstance(data, (bytes, bytearray, memoryview)) else data
        return json.loads(text)
    except UnicodeDecodeError as exc:
        raise JsonError(f"not UTF-8: {exc.reason} at byte {exc.start}") from None
    except json.JSONDecodeError as exc:
        raise JsonError(f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise JsonError("not JSON: nested too deeply") from None


def dumps(obj: Any) -> bytes:
    """Compact UTF-8 JSON; NaN and infinities are refused."""
    return _COMPACT.encode(obj).encode("utf-8")


def canonical(obj: Any) -> bytes:
    """The canonical form used for hashing and comparison: sorted keys, no spaces, UTF-8."""
    return _CANONICAL.encode(obj).encode("utf-8")
