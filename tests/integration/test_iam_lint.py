"""`make iam-lint` as part of the suite: every policy statement of the applied stack passes the
static check against AWS's IAM definitions (``tools/iam_lint.py``).

`make test` runs it here, on the apply the suite makes anyway (in the background, beside the
other tests), rather than in `make lint`, where it would wait for an apply of its own.
"""

from __future__ import annotations

import json

import pytest

from tools import iam_lint

pytestmark = pytest.mark.build


def test_every_policy_statement_of_the_applied_stack_passes_the_iam_definitions(applied_stacks):
    state = applied_stacks.directory("default") / "terraform-state" / "terraform" / "terraform.tfstate"
    named = list(iam_lint.documents(json.loads(state.read_text())))
    kinds = {part for where, _ in named for part in where.split(".") if part.startswith("aws_")}
    # Role, trust, bucket, queue, topic and key policies are all read.
    assert {"aws_iam_role_policy", "aws_iam_role", "aws_s3_bucket_policy", "aws_kms_key"} <= kinds, kinds
    count, problems = iam_lint.check(named)
    assert count > 50
    assert problems == [], "\n".join(str(p) for p in problems)
