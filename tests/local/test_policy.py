"""local/policy.py against AWS's documented policy evaluation logic, case by case
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html and
reference_policies_elements_condition_operators.html)."""

from __future__ import annotations

import json

import pytest

from local import policy

BUCKET = "arn:aws:s3:::lake"


def doc(*statements: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action: str | list[str], resource: str | list[str] = "*", **extra: object) -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action: str | list[str], resource: str | list[str] = "*", **extra: object) -> dict:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def test_no_applying_statement_is_an_implicit_deny():
    assert policy.evaluate([doc(allow("s3:GetObject", f"{BUCKET}/*"))], "s3:PutObject", f"{BUCKET}/a") is None


def test_an_explicit_deny_wins_over_any_allow_in_any_policy():
    documents = [doc(allow("s3:*")), doc(deny("s3:DeleteObject", f"{BUCKET}/*"))]
    assert policy.evaluate(documents, "s3:DeleteObject", f"{BUCKET}/k") == policy.DENY
    assert policy.evaluate(documents, "s3:GetObject", f"{BUCKET}/k") == policy.ALLOW


@pytest.mark.parametrize(
    ("pattern", "action", "matches"),
    [
        ("s3:Get*", "s3:GetObject", True),
        ("s3:get*", "s3:GetObject", True),  # actions are case-insensitive
        ("s3:*Object", "s3:DeleteObject", True),
        ("s3:?etObject", "s3:GetObject", True),
        ("s3:Get*", "s3:PutObject", False),
        ("*", "kinesis:PutRecords", True),
        ("sqs:SendMessage", "sqs:SendMessageBatch", False),
    ],
)
def test_action_wildcards(pattern, action, matches):
    assert policy.action_matches([pattern], action) is matches


@pytest.mark.parametrize(
    ("pattern", "resource", "matches"),
    [
        (f"{BUCKET}/code/*", f"{BUCKET}/code/a/b.txt", True),  # * crosses "/" in a resource
        (f"{BUCKET}/code/*", f"{BUCKET}/Code/a", False),  # resources are case-sensitive
        (f"{BUCKET}/code/*", BUCKET, False),
        (
            "arn:aws:dynamodb:eu-west-1:123456789012:table/t1/stream/*",
            "arn:aws:dynamodb:eu-west-1:123456789012:table/t1/stream/2026-12-02T00:00:00.000",
            True,
        ),
        ("arn:aws:dynamodb:*:*:table/t1", "arn:aws:dynamodb:eu-west-1:123456789012:table/t1", True),
        ("arn:aws:dynamodb:*:*:table/t1", "arn:aws:dynamodb:eu-west-1:123456789012:table/t10", False),
    ],
)
def test_resource_wildcards(pattern, resource, matches):
    assert policy.resource_matches([pattern], resource) is matches


def test_not_action_and_not_resource_invert_the_match():
    documents = [doc({"Effect": "Allow", "NotAction": "s3:DeleteObject", "NotResource": f"{BUCKET}/secret/*"})]
    assert policy.evaluate(documents, "s3:GetObject", f"{BUCKET}/a") == policy.ALLOW
    assert policy.evaluate(documents, "s3:DeleteObject", f"{BUCKET}/a") is None
    assert policy.evaluate(documents, "s3:GetObject", f"{BUCKET}/secret/a") is None


def test_the_tls_only_bucket_policy_denies_only_plain_http():
    tls_only = doc(
        deny(
            "s3:*",
            [BUCKET, f"{BUCKET}/*"],
            Principal={"AWS": "*"},
            Condition={"Bool": {"aws:SecureTransport": "false"}},
        ),
        deny("s3:*", [BUCKET, f"{BUCKET}/*"], Principal="*", Condition={"NumericLessThan": {"s3:TlsVersion": "1.2"}}),
    )
    caller = {"AWS": ["arn:aws:iam::123456789012:role/fn"]}
    over_tls = {"aws:SecureTransport": "true", "s3:TlsVersion": "1.3"}
    assert policy.evaluate([tls_only], "s3:PutObject", f"{BUCKET}/k", over_tls, caller) is None
    assert (
        policy.evaluate(
            [tls_only], "s3:PutObject", f"{BUCKET}/k", {"aws:SecureTransport": "false", "s3:TlsVersion": "1.3"}, caller
        )
        == policy.DENY
    )
    assert (
        policy.evaluate(
            [tls_only], "s3:PutObject", f"{BUCKET}/k", {"aws:SecureTransport": "true", "s3:TlsVersion": "1.1"}, caller
        )
        == policy.DENY
    )


def test_s3_prefix_condition_on_list_bucket():
    documents = [doc(allow("s3:ListBucket", BUCKET, Condition={"StringLike": {"s3:prefix": ["code/*", "code"]}}))]
    assert policy.evaluate(documents, "s3:ListBucket", BUCKET, {"s3:prefix": "code/a/"}) == policy.ALLOW
    assert policy.evaluate(documents, "s3:ListBucket", BUCKET, {"s3:prefix": "code"}) == policy.ALLOW
    assert policy.evaluate(documents, "s3:ListBucket", BUCKET, {"s3:prefix": "events/"}) is None
    # A listing without a prefix (and a HEAD, which carries none) lacks the key: StringLike fails.
    assert policy.evaluate(documents, "s3:ListBucket", BUCKET, {}) is None


@pytest.mark.parametrize(
    ("operator", "policy_value", "request_value", "holds"),
    [
        ("StringEquals", "abc", "abc", True),
        ("StringEquals", "abc", "ABC", False),
        ("StringEqualsIgnoreCase", "abc", "ABC", True),
        ("StringNotEquals", "abc", "abd", True),
        ("StringNotEquals", ["a", "b"], "b", False),  # negated: the value equals none of them
        ("StringLike", "code/*", "code/x", True),
        ("StringNotLike", "code/*", "code/x", False),
        ("NumericLessThan", "1.2", "1.1", True),
        ("NumericLessThan", "1.2", "1.2", False),
        ("NumericGreaterThanEquals", "10", "10", True),
        ("NumericEquals", "10", "ten", False),
        ("DateLessThan", "2026-12-31T00:00:00Z", "2026-12-02T10:00:00Z", True),
        ("DateGreaterThan", "2026-12-31T00:00:00Z", "2026-12-02T10:00:00Z", False),
        ("Bool", "true", "true", True),
        ("Bool", "true", "false", False),
        ("ArnLike", "arn:aws:sqs:*:123456789012:q-*", "arn:aws:sqs:eu-west-1:123456789012:q-1", True),
        ("ArnEquals", "arn:aws:sns:eu-west-1:123456789012:t", "arn:aws:sns:eu-west-1:123456789012:u", False),
        ("ArnNotEquals", "arn:aws:sns:eu-west-1:123456789012:t", "arn:aws:sns:eu-west-1:123456789012:u", True),
    ],
)
def test_condition_operators(operator, policy_value, request_value, holds):
    assert policy.condition_matches(operator, "k", policy_value, {"k": request_value}) is holds


@pytest.mark.parametrize(
    ("operator", "holds"),
    [
        ("StringEquals", False),
        ("StringLike", False),
        ("NumericLessThan", False),
        ("Bool", False),
        ("StringEqualsIfExists", True),
        ("NumericLessThanIfExists", True),
        # "If the key is not present and the condition is negated, the condition is true."
        ("StringNotEquals", True),
        ("StringNotLike", True),
        ("ArnNotLike", True),
        ("ForAnyValue:StringEquals", False),
        ("ForAllValues:StringEquals", True),
    ],
)
def test_a_key_missing_from_the_request(operator, holds):
    assert policy.condition_matches(operator, "aws:SourceArn", "x", {}) is holds


def test_null_checks_whether_the_key_is_there():
    assert policy.condition_matches("Null", "aws:TokenIssueTime", "true", {}) is True
    assert policy.condition_matches("Null", "aws:TokenIssueTime", "true", {"aws:TokenIssueTime": "t"}) is False
    assert policy.condition_matches("Null", "aws:TokenIssueTime", "false", {"aws:TokenIssueTime": "t"}) is True


def test_set_qualifiers_over_multivalued_keys():
    context = {"aws:TagKeys": ["team", "cost"]}
    assert policy.condition_matches("ForAnyValue:StringEquals", "aws:TagKeys", ["cost"], context) is True
    assert policy.condition_matches("ForAllValues:StringEquals", "aws:TagKeys", ["cost"], context) is False
    assert policy.condition_matches("ForAllValues:StringEquals", "aws:TagKeys", ["cost", "team"], context) is True


def test_condition_keys_are_case_insensitive_and_blocks_and_their_entries():
    statement = allow(
        "sqs:SendMessage",
        "*",
        Condition={
            "ArnEquals": {"aws:SourceArn": "arn:aws:sns:eu-west-1:123456789012:t"},
            "StringEquals": {"aws:SourceAccount": "123456789012"},
        },
    )
    good = {"AWS:SourceArn": "arn:aws:sns:eu-west-1:123456789012:t", "aws:sourceaccount": "123456789012"}
    assert policy.evaluate([doc(statement)], "sqs:SendMessage", "q", good) == policy.ALLOW
    assert policy.evaluate([doc(statement)], "sqs:SendMessage", "q", {**good, "aws:sourceaccount": "1"}) is None


def test_principals_of_resource_policies():
    statement = allow("sqs:SendMessage", "*", Principal={"Service": "sns.amazonaws.com"})
    assert (
        policy.evaluate([json.dumps(doc(statement))], "sqs:SendMessage", "q", caller={"Service": ["sns.amazonaws.com"]})
        == policy.ALLOW
    )
    assert (
        policy.evaluate([doc(statement)], "sqs:SendMessage", "q", caller={"AWS": ["arn:aws:iam::123456789012:role/x"]})
        is None
    )


def test_an_unknown_operator_is_an_error_not_a_silent_match():
    with pytest.raises(ValueError, match="not supported"):
        policy.condition_matches("StringSoundsLike", "k", "v", {"k": "v"})


def test_not_principal_leaves_out_an_assumed_role_only_when_its_session_role_and_account_are_listed():
    role = "arn:aws:iam::123456789012:role/fn-role"
    session = "arn:aws:sts::123456789012:assumed-role/fn-role/fn"
    caller = {"AWS": [role, session], "Account": ["arn:aws:iam::123456789012:root", "123456789012"]}

    def deny_all_but(*listed):
        return {
            "Statement": [{"Effect": "Deny", "NotPrincipal": {"AWS": list(listed)}, "Action": "s3:*", "Resource": "*"}]
        }

    assert (
        policy.evaluate(
            [deny_all_but(role, "arn:aws:iam::123456789012:root")], "s3:GetObject", "arn:aws:s3:::b/k", caller=caller
        )
        == policy.DENY
    )  # the request is the session's, which is not listed
    assert (
        policy.evaluate(
            [deny_all_but(role, session, "arn:aws:iam::123456789012:root")],
            "s3:GetObject",
            "arn:aws:s3:::b/k",
            caller=caller,
        )
        is None
    )
    without_account = deny_all_but(role, session)
    assert policy.evaluate([without_account], "s3:GetObject", "arn:aws:s3:::b/k", caller=caller) == policy.DENY
