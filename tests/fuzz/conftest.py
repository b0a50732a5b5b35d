"""Hypothesis profiles for the property tests of the whole stream processor, and their AWS.

``ci`` (the default) is deterministic and sized so this directory runs in well under a minute;
``fuzz`` (``HYPOTHESIS_PROFILE=fuzz``, what ``make fuzz`` runs) searches thousands of random
examples per test and keeps failures in the local example database (.hypothesis/).

Hypothesis fixes a test's settings when its module is imported, so the profile is loaded
only while this directory's modules are collected: the rest of the suite keeps its own.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator

import pytest
from hypothesis import HealthCheck, settings

from tests.conftest import embedded_aws

_SLOW_DATA = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example]

# "ci" is also the name of Hypothesis's built-in CI profile (derandomized, no deadline, no
# database): this one is that, with a size that keeps the directory to well under a minute.
settings.register_profile(
    "ci",
    settings.get_profile("ci"),
    max_examples=25,
    derandomize=True,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=_SLOW_DATA,
)
settings.register_profile(
    "fuzz",
    max_examples=2000,
    derandomize=False,
    deadline=None,
    print_blob=True,
    suppress_health_check=_SLOW_DATA,
)
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    if not isinstance(collector, pytest.Module):
        return (yield)
    previous = settings.get_current_profile_name()
    settings.load_profile(PROFILE)
    try:
        return (yield)
    finally:
        settings.load_profile(previous)


@pytest.fixture(scope="module")
def moto_s3() -> Iterator[None]:
    """moto for a whole module (one per example would cost more than the example), clients pointed at it."""
    with embedded_aws():
        yield
