"""The process the benchmarks run in: a Lambda-like environment that cannot reach AWS."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REGION = "us-east-1"


def sandbox_variables() -> dict[str, str]:
    """Fake credentials and a region: every S3 call is answered in memory, none may leave."""
    return {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_XRAY_SDK_ENABLED": "false",
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def prepare() -> None:
    """Give this process the stream processor's environment (the functions and the layer are
    installed in the dev environment, as packages of the repository)."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL"):
        os.environ.pop(name, None)
    os.environ.update(sandbox_variables())
    from bench import processor

    os.environ.update(processor.function_environment())
