"""``make local KEEP=1`` prints exports that a new shell can paste and use as they are."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from types import SimpleNamespace

from local.__main__ import print_exports


def test_the_printed_exports_are_enough_for_boto3_and_the_cli(capsys):
    resources = {"lake_bucket": SimpleNamespace(name="lake"), "events_stream": SimpleNamespace(name="events")}
    stack = SimpleNamespace(
        aws_env={
            "AWS_ENDPOINT_URL": "http://127.0.0.1:1",
            "AWS_REGION": "eu-west-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
        },
        topology=SimpleNamespace(resource=resources.__getitem__),
    )
    print_exports(stack)
    exports = dict(re.findall(r"^\s*export (\w+)=(\S+)$", capsys.readouterr().out, re.MULTILINE))
    # A shell with nothing of AWS but what was printed.
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")} | exports
    probe = "import boto3; c = boto3.client('kinesis'); print(c.meta.region_name, c.meta.endpoint_url)"
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["eu-west-1", "http://127.0.0.1:1"]
