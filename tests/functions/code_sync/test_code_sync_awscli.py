"""The code sync beside the real ``aws s3 sync --delete`` (awscli from PyPI), on the same trees.

Both run against the embedded AWS (moto's server): the CLI syncs bucket1/code into one bucket,
the reconciliation into another, and the two destinations are compared object by object
(key, bytes, content type, user metadata, tags). The differences are the intended ones,
listed in ``INTENDED``; everything else must be identical.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from local.server import EmbeddedAws
from tributary import s3sync

REGION = "eu-west-1"
SOURCE, BY_CLI, BY_SYNC = "tree-source", "tree-by-cli", "tree-by-sync"
AWS = Path(sys.executable).with_name("aws")

KEYS = [
    "code/plain.py",
    "code/dir with space/file name.txt",
    "code/plus+sign.txt",
    "code/percent%20literal.txt",
    "code/naïve-nfc.txt",
    "code/nai\u0308ve-nfd.txt",
    "code/emoji-\N{SNAKE}.py",
    "code/deep/a/b/c/d/e.txt",
    "code/equals=sign&amp.txt",
    "code/tilde~and'quote.txt",
    "code2/sibling-not-synced.txt",
    "code/#hash?query.txt",
]

# What the two are allowed to disagree on, and why.
INTENDED = {
    # A zero-byte "folder" object (a key ending in "/", as the S3 console creates): the CLI leaves
    # it out, the sync copies it like any object, so the prefixes list the same keys.
    "folder markers": "code/empty-folder/",
    # The CLI skips an object of the same size whose target copy is newer; the sync compares the
    # content (ETag) and copies it. Stricter, on purpose.
    "same size, other bytes, older source": "code/same-size.txt",
}


@pytest.fixture(scope="module")
def aws():
    if not AWS.exists() and shutil.which("aws") is None:
        pytest.fail("the AWS CLI is part of the dev environment (requirements/dev.in): run `make venv`")
    with EmbeddedAws() as embedded:
        yield embedded


def _client(endpoint: str):
    return boto3.client(
        "s3", region_name=REGION, endpoint_url=endpoint, aws_access_key_id="testing", aws_secret_access_key="testing"
    )


def _state(s3, bucket: str) -> dict[str, tuple]:
    out = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="code/"):
        for obj in page.get("Contents", []):
            head = s3.head_object(Bucket=bucket, Key=obj["Key"])
            tags = {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=bucket, Key=obj["Key"])["TagSet"]}
            body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
            metadata = {k: v for k, v in head.get("Metadata", {}).items() if k != s3sync.SOURCE_ETAG}
            out[obj["Key"]] = (body, head.get("ContentType"), metadata, tags)
    return out


def _cli_sync(endpoint: str, target: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    env.pop("AWS_ENDPOINT_URL", None)
    aws = str(AWS) if AWS.exists() else "aws"
    return subprocess.run(
        [
            aws,
            "s3",
            "sync",
            f"s3://{SOURCE}/code",
            f"s3://{target}/code",
            "--delete",
            "--endpoint-url",
            endpoint,
            "--no-progress",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_sync_matches_aws_s3_sync_delete_except_where_it_is_stricter(aws):
    s3 = _client(aws.endpoint)
    for bucket in (SOURCE, BY_CLI, BY_SYNC):
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    for i, key in enumerate(KEYS):
        s3.put_object(
            Bucket=SOURCE,
            Key=key,
            Body=f"content {i}".encode(),
            ContentType="text/plain",
            Metadata={"index": str(i)},
            Tagging=f"n={i}",
        )
    s3.put_object(Bucket=SOURCE, Key="code/empty-folder/", Body=b"")
    s3.put_object(Bucket=SOURCE, Key="code/same-size.txt", Body=b"AAAA")
    for target in (BY_CLI, BY_SYNC):  # stale objects the sync must delete, and a same-size copy made later
        s3.put_object(Bucket=target, Key="code/stale.txt", Body=b"old")
        s3.put_object(Bucket=target, Key="code/same-size.txt", Body=b"BBBB")
    s3.put_object(Bucket=BY_CLI, Key="code2/keep.txt", Body=b"outside the prefix")
    s3.put_object(Bucket=BY_SYNC, Key="code2/keep.txt", Body=b"outside the prefix")

    done = _cli_sync(aws.endpoint, BY_CLI)
    assert done.returncode == 0, done.stderr
    outcome, _ = s3sync.reconcile(s3, s3sync.Prefixes(SOURCE, BY_SYNC))
    assert not outcome.failed

    by_cli, by_sync, source = _state(s3, BY_CLI), _state(s3, BY_SYNC), _state(s3, SOURCE)
    stricter, marker = INTENDED["same size, other bytes, older source"], INTENDED["folder markers"]
    assert marker not in by_cli
    assert by_sync[marker] == source[marker]
    assert by_cli[stricter][0] == b"BBBB"  # the CLI kept the newer target copy of the same size
    assert by_sync[stricter] == source[stricter]  # the sync compared the content
    assert set(by_cli) | {marker} == set(by_sync) == set(source)
    for key in source:
        if key not in (stricter, marker):
            assert by_sync[key] == by_cli[key] == source[key], key
    # Outside the prefix nothing is touched by either.
    for target in (BY_CLI, BY_SYNC):
        assert s3.get_object(Bucket=target, Key="code2/keep.txt")["Body"].read() == b"outside the prefix"
