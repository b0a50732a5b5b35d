"""Smoke test of a deployed stack, run after every apply (`make smoke ENV=<env>`).

1. A record POSTed to the HTTP ingest endpoint (signed with SigV4, as producers sign) must
   appear in the lake under its event time's partition.
2. An item written to table1 must appear in table2 with the same attributes, and its
   deletion must reach table2 as a tombstone.

The stack's names come from `terraform output -json` for the environment. Exit 0 when both
hold within the time limit, 1 otherwise, 3 when Terraform, its provider or AWS credentials
are missing (with the sentence `make plan` prints).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from tributary import ddb, lake, replica

LAKE_PREFIX = "events"
Post = Callable[[bytes], tuple[int, dict[str, Any]]]


class SmokeError(Exception):
    """One check did not hold; the message says which and what was seen."""


def smoke_record(run_id: str) -> dict[str, Any]:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return {
        "id": f"smoke-{run_id}",
        "type": "tributary.smoke",
        "source": "tools/smoke",
        "time": now,
        "payload": {"run": run_id},
    }


def record_reaches_the_lake(
    post: Post, s3: Any, bucket: str, run_id: str, timeout_s: float = 300, poll_s: float = 5
) -> dict[str, Any]:
    """POST one record; wait until an object in its partition holds it. Returns what was seen."""
    record = smoke_record(run_id)
    started = time.monotonic()
    status, body = post(json.dumps([record]).encode())
    if status != 200 or body.get("accepted") != 1:
        raise SmokeError(f"the ingest endpoint answered {status} {body}")
    prefix = lake.partition_prefix(LAKE_PREFIX, record["time"])
    seen: set[str] = set()
    while time.monotonic() - started < timeout_s:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                if item["Key"] in seen:
                    continue
                seen.add(item["Key"])
                data = lake.decompress_object(item["Key"], s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())
                if any(line.get("id") == record["id"] for line in lake.decode_ndjson(data)):
                    return {"key": item["Key"], "seconds": round(time.monotonic() - started, 1)}
        time.sleep(poll_s)
    raise SmokeError(
        f"record {record['id']} is not in s3://{bucket}/{prefix} after {timeout_s:.0f}s ({len(seen)} objects read)"
    )


def change_reaches_table2(
    dynamodb: Any, table1: str, table2: str, run_id: str, timeout_s: float = 300, poll_s: float = 2
) -> dict[str, Any]:
    """Write an item to table1 and wait for it in table2; delete it and wait for the tombstone."""
    item = {"pk": f"smoke#{run_id}", "sk": "smoke", "run": run_id, "count": 1}
    key = ddb.to_item({"pk": item["pk"], "sk": item["sk"]})
    started = time.monotonic()
    dynamodb.put_item(TableName=table1, Item=ddb.to_item(item))

    def replica_item() -> dict[str, Any] | None:
        found = dynamodb.get_item(TableName=table2, Key=key, ConsistentRead=True).get("Item")
        return ddb.from_item(found) if found else None

    copied = _wait(lambda: (r := replica_item()) is not None and replica.user_view(r) == item, timeout_s, poll_s)
    if copied is None:
        raise SmokeError(f"{item['pk']} did not reach {table2} within {timeout_s:.0f}s (saw {replica_item()})")
    dynamodb.delete_item(TableName=table1, Key=key)
    deleted = _wait(lambda: (r := replica_item()) is not None and replica.user_view(r) is None, timeout_s, poll_s)
    if deleted is None:
        raise SmokeError(f"the deletion of {item['pk']} did not reach {table2} within {timeout_s:.0f}s")
    return {"copied_s": round(copied - started, 1), "deleted_s": round(deleted - started, 1)}


def _wait(condition: Callable[[], bool], timeout_s: float, poll_s: float) -> float | None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return time.monotonic()
        time.sleep(poll_s)
    return None


def signed_post(url: str, session: Any) -> Post:
    """POST to an IAM-authorised HTTP API, signed with SigV4 for execute-api."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    def post(body: bytes) -> tuple[int, dict[str, Any]]:
        request = AWSRequest(method="POST", url=url, data=body, headers={"Content-Type": "application/json"})
        SigV4Auth(session.get_credentials().get_frozen_credentials(), "execute-api", session.region_name).add_auth(
            request
        )
        prepared = urllib.request.Request(url, data=body, method="POST", headers=dict(request.headers.items()))
        try:
            with urllib.request.urlopen(prepared, timeout=30) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")

    return post


def stack_outputs(env: str) -> dict[str, Any]:
    """`terraform output -json` of the environment's state."""
    from tools import deploy

    paths, binary = deploy.preflight(env, need_zips=False)
    deploy.init(binary, paths)
    result = deploy.terraform(binary, "output", "-json")
    if result.returncode != 0:
        raise deploy.StopError("terraform output failed: " + result.stderr.strip(), status=1)
    return {name: value["value"] for name, value in json.loads(result.stdout).items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make smoke", description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", required=True)
    parser.add_argument("--timeout", type=float, default=300)
    args = parser.parse_args(argv)
    import boto3

    from tools import deploy

    try:
        outputs = stack_outputs(args.env)
    except deploy.StopError as stop:
        print(f"make smoke: {stop}", file=sys.stderr)
        return stop.status
    session = boto3.session.Session()
    run_id = uuid.uuid4().hex[:12]
    try:
        lake_seen = record_reaches_the_lake(
            signed_post(outputs["ingest_endpoint"], session),
            session.client("s3"),
            outputs["lake_bucket"],
            run_id,
            args.timeout,
        )
        print(
            f"stream → lake: record smoke-{run_id} in s3://{outputs['lake_bucket']}/{lake_seen['key']} "
            f"after {lake_seen['seconds']}s"
        )
        tables = change_reaches_table2(
            session.client("dynamodb"), outputs["table1_name"], outputs["table2_name"], run_id, args.timeout
        )
        print(f"table → table: copied after {tables['copied_s']}s, deletion after {tables['deleted_s']}s")
    except SmokeError as error:
        print(f"make smoke: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
