"""The S3 code sync's nightly reconciliation: objects per second and S3 calls per object.

Under moto in this process (as ``make local`` runs it): a backlog of new objects in bucket1/code
is reconciled into an empty bucket2/code, then an unchanged tree is reconciled again. The calls
are counted by botocore's own event hooks, so the figures say what a run costs in S3 requests
wherever it runs; objects per second is the embedded AWS's, with the parallel look-ups and
copies (``s3sync.WORKERS``) and with one worker, in the same run.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from bench.report import Compared, Result, Section


def _tree(s3: Any, bucket: str, objects: int) -> None:
    for i in range(objects):
        s3.put_object(
            Bucket=bucket,
            Key=f"code/pkg{i % 20}/module_{i}.py",
            Body=f"print({i})\n".encode(),
            ContentType="text/x-python",
            Metadata={"build": str(i % 7)},
            **({"Tagging": "team=a"} if i % 3 == 0 else {}),
        )


# What one S3 request costs in time from a Lambda function in the bucket's Region, roughly; moto in
# this process answers in a fraction of that and under one lock, which would hide what parallel
# requests buy. Each request waits this long first.
REQUEST_LATENCY_S = 0.010


def run(objects: int = 600) -> Section:
    """Reconcile ``objects`` new objects, then the same tree unchanged, counting calls and time."""
    import boto3
    from moto import mock_aws

    from tributary import s3sync

    section = Section("7. S3 code sync reconciliation")
    figures: dict[str, dict[str, Any]] = {}
    with mock_aws():
        s3 = boto3.client("s3", region_name="eu-west-1")
        calls: Counter[str] = Counter()

        def count(model: Any, **_: Any) -> None:
            calls.update([model.name])
            time.sleep(REQUEST_LATENCY_S)

        s3.meta.events.register("before-call.s3.*", count)
        for workers in (s3sync.WORKERS, 1):
            source, target = f"bench-code-one-{workers}", f"bench-code-two-{workers}"
            for bucket in (source, target):
                s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
            _tree(s3, source, objects)
            prefixes = s3sync.Prefixes(source, target)
            saved, s3sync.WORKERS = s3sync.WORKERS, workers
            try:
                for run_name in ("new", "unchanged"):
                    calls.clear()
                    started = time.perf_counter()
                    outcome, _ = s3sync.reconcile(s3, prefixes)
                    seconds = time.perf_counter() - started
                    figures[f"{run_name}/{workers}"] = {
                        "objects_per_s": objects / seconds,
                        "calls_per_object": sum(calls.values()) / objects,
                        "calls": dict(calls),
                    }
                    if outcome.failed or not s3sync.compare(s3, prefixes)["equal"]:
                        raise AssertionError(f"the benchmark's reconcile did not converge: {outcome.as_dict()}")
            finally:
                s3sync.WORKERS = saved
    parallel, serial = figures[f"new/{s3sync.WORKERS}"], figures["new/1"]
    unchanged = figures[f"unchanged/{s3sync.WORKERS}"]
    section.results = [
        Result(
            "new objects per second",
            parallel["objects_per_s"],
            "objects/s",
            (Compared("one worker", serial["objects_per_s"], "objects/s"),),
            ">= 100",
            f"{objects} new objects, {s3sync.WORKERS} workers, {REQUEST_LATENCY_S * 1000:.0f} ms added to "
            "each request of the embedded AWS",
        ),
        Result(
            "parallel / one worker",
            parallel["objects_per_s"] / serial["objects_per_s"],
            "x",
            (),
            ">= 3",
            "the same backlog, the same run",
        ),
        Result(
            "S3 calls per new object",
            parallel["calls_per_object"],
            "calls",
            (),
            "<= 3.1",
            "HEAD and GetObjectTagging of the source, CopyObject; the listings are shared",
        ),
        Result(
            "S3 calls per unchanged object",
            unchanged["calls_per_object"],
            "calls",
            (),
            "<= 4.1",
            "HEAD and GetObjectTagging on both sides, to compare what a copy carries",
        ),
    ]
    section.detail = figures
    return section
