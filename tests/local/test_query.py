"""`make query`: SQL over a running embedded AWS's lake, through the catalog's tables."""

from __future__ import annotations

import json

import boto3
import pytest

from local import query
from local.server import EmbeddedAws
from tests.lake_writer import create_bucket, envelope, land

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "eu-west-1"}


@pytest.fixture
def kept(tmp_path, monkeypatch):
    """What `make local KEEP=1` leaves: an embedded AWS and dist/local/endpoint.json naming it."""
    with EmbeddedAws() as server:
        environment = {"AWS_ENDPOINT_URL": server.endpoint, **CREDENTIALS}
        endpoint_file = tmp_path / "endpoint.json"
        endpoint_file.write_text(json.dumps({"environment": environment, "lake_bucket": "tributary-lake-test"}))
        monkeypatch.setattr(query, "ENDPOINT_FILE", endpoint_file)
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        s3 = boto3.session.Session().client("s3")
        create_bucket(s3)
        yield s3


def test_make_query_answers_from_the_kept_stack(kept, capsys):
    land(kept, [envelope(f"r{i}", "2026-12-03T10:15:00Z") for i in range(7)])
    land(kept, [envelope(f"q{i}", "2026-12-03T11:15:00Z") for i in range(3)])
    assert query.main(["SELECT dt, hour, count(*) AS records FROM events GROUP BY 1, 2 ORDER BY 1, 2"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["dt", "hour", "records"]
    assert [line.split() for line in out[2:4]] == [["2026-12-03", "10", "7"], ["2026-12-03", "11", "3"]]
    assert out[4].startswith("(2 rows;")


def test_every_saved_query_runs(kept, capsys):
    land(kept, [envelope("r1", "2026-12-03T10:15:00Z")])
    for name in query.saved_queries():
        assert query.main(["--saved", name]) == 0, name
    capsys.readouterr()


def test_sql_duckdb_refuses_is_a_clear_error(kept, capsys):
    assert query.main(["SELECT nothing FROM nowhere"]) == 1
    assert "query failed:" in capsys.readouterr().err


def test_without_a_kept_stack_it_says_how_to_start_one(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(query, "ENDPOINT_FILE", tmp_path / "absent.json")
    assert query.main(["SELECT 1"]) == 2
    assert "make local KEEP=1" in capsys.readouterr().out
