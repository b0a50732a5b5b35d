from __future__ import annotations

import json

import pytest

from tests.conftest import EVENTS
from tests.events import generate


@pytest.mark.parametrize("name", sorted(generate.FIXTURES))
def test_generated_fixtures_match_their_builders(name):
    on_disk = json.loads((EVENTS / name).read_text())
    assert on_disk == generate.FIXTURES[name](), f"run `python -m tests.events.generate` to refresh {name}"


def test_builder_matches_the_documented_kinesis_event_shape():
    documented = json.loads((EVENTS / "kinesis.json").read_text())["Records"][0]
    built = generate.aggregated()["Records"][0]
    assert set(built) == set(documented)
    assert set(built["kinesis"]) == set(documented["kinesis"])


def test_builder_matches_the_documented_http_api_event_shape():
    from stack.events import http_api_event

    documented = json.loads((EVENTS / "http-api-post.json").read_text())
    built = http_api_event("POST /v1/records", "[]", {"content-type": "application/json"})
    assert set(built) == set(documented)
    assert set(built["requestContext"]) <= set(documented["requestContext"])
    assert set(built["requestContext"]["http"]) == set(documented["requestContext"]["http"])
