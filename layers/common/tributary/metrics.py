"""CloudWatch metrics in the Embedded Metric Format: one log line per flush, no API call."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from typing import IO

from tributary import json_codec

NAMESPACE = "tributary"


def emf_line(
    metrics: Mapping[str, float],
    dimensions: Mapping[str, str],
    unit: str = "Count",
    namespace: str = NAMESPACE,
    timestamp_ms: int | None = None,
) -> bytes:
    """One EMF document holding every metric of a batch under one set of dimensions."""
    document = {
        "_aws": {
            "Timestamp": timestamp_ms if timestamp_ms is not None else int(time.time() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": namespace,
                    "Dimensions": [sorted(dimensions)],
                    "Metrics": [{"Name": name, "Unit": unit} for name in sorted(metrics)],
                }
            ],
        },
        **dict(dimensions),
        **dict(metrics),
    }
    return json_codec.dumps(document)


def emit(
    metrics: Mapping[str, float],
    dimensions: Mapping[str, str],
    unit: str = "Count",
    stream: IO[str] | None = None,
) -> None:
    """Write one EMF line to stdout, where Lambda's log agent turns it into metrics."""
    out = stream or sys.stdout
    out.write(emf_line(metrics, dimensions, unit).decode("utf-8") + "\n")
    out.flush()


def publish(counts: Mapping[str, float], function: str, stream: IO[str] | None = None) -> None:
    """A function's counts for one invocation, under its ``Function`` dimension: the deployed
    name (``AWS_LAMBDA_FUNCTION_NAME``), or ``function`` off Lambda. Name each metric in full
    at the call, so that the names the alarms watch can be found in the code."""
    emit(counts, {"Function": os.environ.get("AWS_LAMBDA_FUNCTION_NAME", function)}, stream=stream)
