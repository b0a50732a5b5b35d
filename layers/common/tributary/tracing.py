"""Tracing behind one small interface: ``init()`` once, ``phase(name)`` around each step.

The implementation is the AWS X-Ray SDK. ``init`` patches boto3 so every AWS call
becomes a subsegment; ``phase`` opens a subsegment per processing phase. Outside
Lambda, or with no trace header, a missing segment is ignored instead of raising,
so the same code runs in tests and in the local runtime. ``AWS_XRAY_SDK_ENABLED=false``
turns tracing off. Nothing here touches the network at import time.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterator
from typing import Any

_initialised = False
_lock = threading.Lock()


def init() -> None:
    """Configure the recorder and patch boto3; safe to call on every invocation."""
    global _initialised
    if _initialised:
        return
    with _lock:
        if _initialised:
            return
        from aws_xray_sdk.core import patch, xray_recorder

        # Without a segment (no Lambda trace header), record nothing rather than fail.
        xray_recorder.configure(
            context_missing=os.environ.get("AWS_XRAY_CONTEXT_MISSING", "IGNORE_ERROR"),
            service=os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "tributary"),
        )
        logging.getLogger("aws_xray_sdk").setLevel(logging.WARNING)
        patch(["boto3", "botocore"])
        _initialised = True


@contextlib.contextmanager
def phase(name: str, **annotations: Any) -> Iterator[None]:
    """A subsegment named ``name`` around a block, annotated with the given values."""
    from aws_xray_sdk.core import xray_recorder

    with xray_recorder.in_subsegment(name) as subsegment:
        if subsegment is not None:
            for key, value in annotations.items():
                subsegment.put_annotation(key, value)
        yield
