"""`make smoke`'s checks, run against the local stack (the deployed functions' zips on the
embedded AWS): a record through the HTTP ingest function into the lake, and a change through
table1 into table2. The SigV4 signing of the real endpoint is checked against a local server."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import boto3
import pytest

from local.runtime import LocalStack
from stack.events import http_api_event
from tools import smoke

pytestmark = pytest.mark.build


@pytest.fixture(scope="module")
def stack(applied_stacks):
    with LocalStack(applied=applied_stacks.get("default")) as running:
        yield running


def local_post(stack: LocalStack):
    route = stack.topology.functions["ingest_api"].trigger.settings["route"]

    def post(body: bytes) -> tuple[int, dict]:
        invocation = stack.invoke(
            "ingest_api", http_api_event(route, body, headers={"content-type": "application/json"})
        )
        assert invocation.ok, invocation.error
        return invocation.payload["statusCode"], json.loads(invocation.payload["body"])

    return post


def test_a_record_posted_to_the_ingest_endpoint_reaches_the_lake(stack):
    bucket = stack.topology.resource("lake_bucket").name
    seen = smoke.record_reaches_the_lake(
        local_post(stack), stack.session.client("s3"), bucket, "run1", timeout_s=120, poll_s=0.5
    )
    assert seen["key"].startswith("events/dt=")


def test_each_local_function_has_the_memory_and_ephemeral_storage_terraform_gave_it(stack):
    from stack import declarations

    declared = declarations.load_all()
    for name, function in stack.functions.items():
        spec = declared[name]
        assert (function.memory_mb, function.ephemeral_storage_mb) == (spec.memory_mb, spec.ephemeral_storage_mb), name
    assert stack.functions["lake_compactor"].ephemeral_storage_mb == 4096


def test_a_change_to_table1_reaches_table2_and_so_does_its_deletion(stack):
    seen = smoke.change_reaches_table2(
        stack.session.client("dynamodb"),
        stack.topology.resource("table1").name,
        stack.topology.resource("table2").name,
        "run2",
        timeout_s=120,
        poll_s=0.3,
    )
    assert seen["deleted_s"] >= seen["copied_s"]


def test_a_rejected_record_fails_the_smoke_test(stack):
    def refuse(body: bytes) -> tuple[int, dict]:
        return 400, {"accepted": 0, "rejected": 1}

    with pytest.raises(smoke.SmokeError, match="answered 400"):
        smoke.record_reaches_the_lake(refuse, stack.session.client("s3"), "unused", "run3", timeout_s=1)


def test_a_record_that_never_arrives_fails_after_the_time_limit(stack):
    bucket = stack.topology.resource("lake_bucket").name
    with pytest.raises(smoke.SmokeError, match="is not in s3://"):
        smoke.record_reaches_the_lake(
            lambda body: (200, {"accepted": 1}),
            stack.session.client("s3"),
            bucket,
            "never-sent",
            timeout_s=1,
            poll_s=0.2,
        )


def test_the_real_endpoint_gets_a_sigv4_signed_post():
    received = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            received["headers"] = dict(self.headers)
            received["body"] = self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(207)
            self.end_headers()
            self.wfile.write(b'{"accepted": 0, "failed": 1}')

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        session = boto3.session.Session(
            aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret", region_name="eu-west-1"
        )
        post = smoke.signed_post(f"http://127.0.0.1:{server.server_port}/v1/records", session)
        status, body = post(b'[{"id": "x"}]')
    finally:
        server.shutdown()
    assert (status, body) == (207, {"accepted": 0, "failed": 1})
    assert received["body"] == b'[{"id": "x"}]'
    authorization = received["headers"]["Authorization"]
    assert authorization.startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/eu-west-1/execute-api/aws4_request" in authorization
    assert "X-Amz-Date" in received["headers"]
