"""Shared fixtures: fake AWS credentials everywhere, moto as the AWS of the tests."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

EVENTS = Path(__file__).parent / "events"
REGION = "eu-west-1"

# No test may reach a real AWS account, whatever the machine's environment holds.
for _name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL"):
    os.environ.pop(_name, None)
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        # In-process DynamoDB Streams calls need this with current botocore.
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
        "AWS_XRAY_SDK_ENABLED": "false",
    }
)


if os.environ.get("TRIBUTARY_EXAMPLES") == "few":  # make unit: see tests/examples.py
    from hypothesis import settings

    settings.register_profile("few", max_examples=10)
    settings.load_profile("few")


def load_event(name: str) -> dict[str, Any]:
    """A test event from tests/events/, shaped like the AWS documentation's examples."""
    return json.loads((EVENTS / name).read_text())


@contextlib.contextmanager
def embedded_aws() -> Iterator[None]:
    """moto, with the layer's cached clients pointed at it. moto clears boto3's default
    session on entry; the one put back reuses the service models the process already
    parsed, so that a test's first client costs milliseconds, not a parse of botocore's data."""
    import boto3
    from moto import mock_aws

    from tributary import aws as clients

    with mock_aws():
        clients.reset()
        boto3.DEFAULT_SESSION = clients.new_session()
        yield
    clients.reset()


@pytest.fixture
def aws() -> Iterator[None]:
    """moto for the duration of a test."""
    with embedded_aws():
        yield


_applies = None


def pytest_itemcollected(item: pytest.Item) -> None:
    """Mark the tests that run the applied stack ``stack`` (``-m stack``, ``-m "not stack"``)."""
    if "applied_stacks" in getattr(item, "fixturenames", ()):
        item.add_marker(pytest.mark.stack)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """Start the applies the collected tests need in the background, and run those tests last,
    after everything that does not wait for an apply. Last of the hooks, so that only the tests
    ``-k`` and ``-m`` leave start an apply."""
    global _applies
    from tests import applied

    names = applied.needed(items)
    if names and not config.option.collectonly:
        _applies = applied.Applies()
        _applies.start(names)
        items.sort(key=lambda item: "applied_stacks" in getattr(item, "fixturenames", ()))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _applies is not None:
        _applies.stop()


@pytest.fixture(scope="session")
def applied_stacks() -> Any:
    """The root stack as ``terraform apply`` made it, per variable set (tests/applied.py)."""
    assert _applies is not None
    return _applies
