"""A small IAM policy evaluator: one policy document, one request.

It follows AWS's documented evaluation logic for the parts the stack's policies use
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html):

- a statement applies when its ``Action`` (or ``NotAction``), its ``Resource`` (or
  ``NotResource``), its ``Principal`` if it has one, and every one of its ``Condition`` blocks
  match the request;
- an applying ``Deny`` wins over any ``Allow``; with no applying statement the answer is
  neither (``None``): an implicit deny, unless another policy allows;
- actions match case-insensitively, resources case-sensitively, both with ``*`` and ``?``;
- condition operators: the ``String*``, ``Numeric*``, ``Date*``, ``Bool``, ``Arn*`` and
  ``Null`` families, each with ``...IfExists``, and the ``ForAnyValue:``/``ForAllValues:``
  set qualifiers. Values within one key are ORed, keys and operators within a block ANDed.
  A key the request lacks fails a positive operator and satisfies a negated one (``StringNotLike``),
  as the documentation says; ``...IfExists`` makes it satisfy either.
  ``${aws:...}`` policy variables in resources and condition values are not expanded.
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

ALLOW, DENY = "Allow", "Deny"


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _wildcard(pattern: str, value: str, case_sensitive: bool) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, 0 if case_sensitive else re.IGNORECASE | re.DOTALL) is not None


def action_matches(patterns: Iterable[str], action: str) -> bool:
    return any(_wildcard(p, action, case_sensitive=False) for p in patterns)


def resource_matches(patterns: Iterable[str], resource: str) -> bool:
    return any(_wildcard(p, resource, case_sensitive=True) for p in patterns)


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _date(value: Any) -> datetime.datetime | None:
    if isinstance(value, int | float) or (isinstance(value, str) and value.isdigit()):
        return datetime.datetime.fromtimestamp(float(value), datetime.UTC)
    try:
        parsed = datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)


def _compare(kind: str, op: str, policy_value: Any, request_value: Any) -> bool:
    """One policy value against one request value, for an operator without its qualifiers."""
    if kind == "String":
        p, r = str(policy_value), str(request_value)
        return {
            "Equals": r == p,
            "NotEquals": r != p,
            "EqualsIgnoreCase": r.lower() == p.lower(),
            "NotEqualsIgnoreCase": r.lower() != p.lower(),
            "Like": _wildcard(p, r, True),
            "NotLike": not _wildcard(p, r, True),
        }[op]
    if kind == "Arn":
        p, r = str(policy_value), str(request_value)
        like = _wildcard(p, r, True)
        return {"Equals": like, "Like": like, "NotEquals": not like, "NotLike": not like}[op]
    if kind == "Bool":
        return str(request_value).lower() == str(policy_value).lower()
    converted = _number if kind == "Numeric" else _date
    bound, value = converted(policy_value), converted(request_value)
    if bound is None or value is None:
        return False
    return {
        "Equals": value == bound,
        "NotEquals": value != bound,
        "LessThan": value < bound,  # type: ignore[operator]  # both numbers or both dates
        "LessThanEquals": value <= bound,  # type: ignore[operator]
        "GreaterThan": value > bound,  # type: ignore[operator]
        "GreaterThanEquals": value >= bound,  # type: ignore[operator]
    }[op]


_OPERATOR = re.compile(r"^(?:(ForAnyValue|ForAllValues):)?(String|Numeric|Date|Bool|Arn|Binary|Null)(\w*?)(IfExists)?$")
_NEGATED = {"NotEquals", "NotEqualsIgnoreCase", "NotLike"}
_OPS = {
    "String": {"Equals", "NotEquals", "EqualsIgnoreCase", "NotEqualsIgnoreCase", "Like", "NotLike"},
    "Arn": {"Equals", "NotEquals", "Like", "NotLike"},
    "Numeric": {"Equals", "NotEquals", "LessThan", "LessThanEquals", "GreaterThan", "GreaterThanEquals"},
    "Date": {"Equals", "NotEquals", "LessThan", "LessThanEquals", "GreaterThan", "GreaterThanEquals"},
    "Bool": {"Equals"},
    "Binary": {"Equals"},
    "Null": {""},
}


def condition_matches(operator: str, key: str, values: Any, context: Mapping[str, Any]) -> bool:
    """One ``operator: {key: values}`` entry of a Condition block against the request's context."""
    parsed = _OPERATOR.match(operator)
    if parsed is None:
        raise ValueError(f"condition operator {operator!r} is not supported")
    qualifier, kind, op, if_exists = parsed.groups()
    op = op or ("Equals" if kind in ("Bool", "Binary") else "")
    if op not in _OPS[kind]:
        raise ValueError(f"condition operator {operator!r} is not supported")
    present = {k.lower(): v for k, v in context.items()}
    request = present.get(key.lower())
    policy_values = [str(v).lower() if isinstance(v, bool) else v for v in _list(values)]
    if kind == "Null":
        return any((request is None) == (str(v).lower() == "true") for v in policy_values)
    if request is None:
        # ForAllValues over no values is true, and a negated operator holds for an absent key.
        return bool(if_exists) or qualifier == "ForAllValues" or (op in _NEGATED and qualifier is None)
    requests = _list(request)
    if kind == "Binary":
        kind, op = "String", "Equals"

    def one(value: Any) -> bool:
        tests = [_compare(kind, op, p, value) for p in policy_values]
        # A negated operator holds when the value equals none of the policy's values.
        return all(tests) if op in _NEGATED else any(tests)

    if qualifier == "ForAllValues":
        return all(one(v) for v in requests)
    return any(one(v) for v in requests)


def _principal_matches(principal: Any, caller: Mapping[str, list[str]] | None) -> bool:
    if principal == "*":
        return True
    if caller is None:
        return False
    for kind, identifiers in (principal or {}).items():
        wanted = _list(identifiers)
        if "*" in wanted or set(wanted) & set(caller.get(kind, [])):
            return True
    return False


def _exempt(not_principal: Any, caller: Mapping[str, list[str]] | None) -> bool:
    """Whether ``NotPrincipal`` leaves the caller out: every name the caller goes by must be
    listed, so an assumed role is left out only when its session, its role and its account are
    (caller ``{"AWS": [role, session], "Account": [...]}``, any one account form sufficing)."""
    if not_principal == "*":
        return True
    if caller is None:
        return False
    listed = {kind: set(_list(ids)) for kind, ids in (not_principal or {}).items()}
    for kind, identities in caller.items():
        if kind == "Account":
            if identities and not set(identities) & listed.get("AWS", set()):
                return False
        elif identities and not set(identities) <= listed.get(kind, set()):
            return False
    return any(caller.values())


def statement_applies(
    statement: Mapping[str, Any],
    action: str,
    resource: str,
    context: Mapping[str, Any],
    caller: Mapping[str, list[str]] | None = None,
) -> bool:
    if "Action" in statement and not action_matches(_list(statement["Action"]), action):
        return False
    if "NotAction" in statement and action_matches(_list(statement["NotAction"]), action):
        return False
    if "Resource" in statement and not resource_matches(_list(statement["Resource"]), resource):
        return False
    if "NotResource" in statement and resource_matches(_list(statement["NotResource"]), resource):
        return False
    if "Principal" in statement and not _principal_matches(statement["Principal"], caller):
        return False
    if "NotPrincipal" in statement and _exempt(statement["NotPrincipal"], caller):
        return False
    return all(
        condition_matches(operator, key, values, context)
        for operator, block in statement.get("Condition", {}).items()
        for key, values in block.items()
    )


def evaluate(
    documents: Iterable[str | Mapping[str, Any]],
    action: str,
    resource: str,
    context: Mapping[str, Any] | None = None,
    caller: Mapping[str, list[str]] | None = None,
) -> str | None:
    """``"Deny"`` if any applying statement denies, else ``"Allow"`` if one allows, else ``None``.

    ``caller`` is the requester as resource policies name principals, e.g. ``{"AWS": [role_arn],
    "Service": [...]}``; identity policies have no ``Principal`` and ignore it."""
    context = context or {}
    allowed = False
    for document in documents:
        policy = json.loads(document) if isinstance(document, str) else document
        for statement in _list(policy.get("Statement")):
            if statement_applies(statement, action, resource, context, caller):
                if statement.get("Effect") == DENY:
                    return DENY
                allowed = allowed or statement.get("Effect") == ALLOW
    return ALLOW if allowed else None


__all__ = ["ALLOW", "DENY", "action_matches", "condition_matches", "evaluate", "resource_matches", "statement_applies"]
