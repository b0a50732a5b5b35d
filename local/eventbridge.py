"""EventBridge rule delivery to Lambda and CodeBuild targets.

moto stores rules and targets and delivers only to SQS. ``EventBus`` reads the rules and
targets from the embedded AWS (so what runs is what ``terraform apply`` made), matches
an event against each rule's pattern with moto's own EventBridge pattern matcher, and
delivers it to each target as EventBridge does: a Lambda function is invoked
asynchronously (Lambda retries a failed asynchronous invocation twice), a CodeBuild
project gets a StartBuild. Scheduled rules fire on request (``fire_schedule``) with the
``Scheduled Event`` EventBridge sends, since a local run does not wait for a cron.

A target call that fails follows the target's ``RetryPolicy`` (EventBridge's default
without one: 185 attempts within 24 hours): a retriable error (HTTP 429 or 5xx, such as a
throttle) is retried with exponential backoff and jitter until either limit is reached; any
other error (a 4xx, such as CodeBuild refusing a start while the project's concurrent build
limit is reached) is not retried. Either way the event then goes to the target's
``DeadLetterConfig`` queue, with the attributes EventBridge adds (``RULE_ARN``,
``TARGET_ARN``, ``ERROR_CODE``, ``ERROR_MESSAGE``, ``EXHAUSTED_RETRY_CONDITION``,
``RETRY_ATTEMPTS``), or is dropped without one. Backoff starts at ``retry_base_s``, which
tests shorten.
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import boto3
from moto.events.models import EventPattern

DEFAULT_RETRY_POLICY = {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86400}


class TargetError(Exception):
    """A failed target call, as the target's service answered it."""

    def __init__(self, code: str, message: str, status: int) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


def http_status(exc: Exception) -> int | None:
    """The HTTP status of a failed AWS call (a TargetError, a local service's own error, or a
    botocore ClientError); None for anything else."""
    status = getattr(exc, "status", None)
    if status is None and hasattr(exc, "response"):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return status


def retriable(status: int) -> bool:
    """EventBridge retries throttles and server errors, not other client errors."""
    return status == 429 or status >= 500


class EventBus:
    """The default event bus's rules, delivered to function and build targets."""

    def __init__(
        self,
        events: Any,
        invoke_async: Callable[[str, dict[str, Any]], Any],
        start_build: Callable[[str, str], Any],
        functions: dict[str, str],
        region: str,
        account_id: str,
        sqs: Any = None,
        retry_base_s: float = 1.0,
    ) -> None:
        self.events = events
        self.invoke_async = invoke_async
        self.start_build = start_build
        self.functions = functions  # function ARN -> function (directory) name
        self.region = region
        self.account_id = account_id
        self.retry_base_s = retry_base_s
        self._sqs = sqs
        self.stats: Counter = Counter()
        # One row per delivery: rule, target, (for functions, when done) the invocation, and
        # each failed call's error code.
        self.deliveries: list[dict[str, Any]] = []
        self._inflight = 0
        self._lock = threading.Lock()

    def rules(self) -> list[dict[str, Any]]:
        return self.events.list_rules()["Rules"]

    def put_event(self, event: dict[str, Any]) -> list[str]:
        """Deliver one event to the targets of every enabled rule whose pattern matches;
        returns the names of those rules."""
        matched = []
        for rule in self.rules():
            if rule.get("State") != "ENABLED" or "EventPattern" not in rule:
                continue
            if EventPattern.load(rule["EventPattern"]).matches_event(event):
                matched.append(rule["Name"])
                self._deliver(rule, event)
        self.stats["events"] += 1
        self.stats["matched"] += bool(matched)
        return matched

    def fire_schedule(self, rule_name: str) -> dict[str, Any]:
        """Deliver a scheduled rule's event now."""
        rule = self.events.describe_rule(Name=rule_name)
        if "ScheduleExpression" not in rule:
            raise ValueError(f"rule {rule_name} has no schedule")
        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": self.account_id,
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "region": self.region,
            "resources": [rule["Arn"]],
            "detail": {},
        }
        self._deliver(rule, event)
        self.stats["scheduled"] += 1
        return event

    def idle(self) -> bool:
        """Nothing in flight: no function invocation running, no retry waiting."""
        with self._lock:
            return self._inflight == 0

    def _deliver(self, rule: dict[str, Any], event: dict[str, Any]) -> None:
        for target in self.events.list_targets_by_rule(Rule=rule["Name"])["Targets"]:
            payload = json.loads(target["Input"]) if "Input" in target else event
            service = target["Arn"].split(":")[2]
            if service not in ("lambda", "codebuild"):
                raise ValueError(f"rule {rule['Name']}: targets of {service} are not delivered locally")
            delivery: dict[str, Any] = {"rule": rule["Name"], "target": target["Arn"], "result": None, "errors": []}
            self.deliveries.append(delivery)
            self._attempt(delivery, rule, target, payload, 0, time.monotonic())

    def _call(
        self, delivery: dict[str, Any], rule: dict[str, Any], target: dict[str, Any], payload: dict[str, Any]
    ) -> None:
        """One call of the target; raises when it fails."""
        arn = target["Arn"]
        if arn.split(":")[2] == "lambda":
            if arn not in self.functions:
                raise TargetError("ResourceNotFoundException", f"Function not found: {arn}", 404)
            self._async(delivery, self.invoke_async, self.functions[arn], payload)
            self.stats["lambda"] += 1
        else:
            delivery["result"] = self.start_build(arn.rsplit("/", 1)[1], f"rule/{rule['Name']}")
            self.stats["codebuild"] += 1

    def _attempt(
        self,
        delivery: dict[str, Any],
        rule: dict[str, Any],
        target: dict[str, Any],
        payload: dict[str, Any],
        retries: int,
        first_s: float,
    ) -> None:
        try:
            self._call(delivery, rule, target, payload)
            return
        except Exception as exc:
            status = http_status(exc)
            if status is None:
                raise  # not an answer of the target's service: a fault of this runtime
            error = exc
        code = getattr(error, "code", None) or getattr(error, "response", {}).get("Error", {}).get("Code", "")
        delivery["errors"].append(code)
        self.stats["failed_calls"] += 1
        if not retriable(status):
            self._dead_letter(rule, target, payload, code, str(error), None, retries)
            return
        policy = {**DEFAULT_RETRY_POLICY, **target.get("RetryPolicy", {})}
        delay = self.retry_base_s * min(2**retries, 60) * random.uniform(0.5, 1.0)
        if retries >= policy["MaximumRetryAttempts"]:
            self._dead_letter(rule, target, payload, code, str(error), "MaximumRetryAttempts", retries)
        elif time.monotonic() + delay - first_s > policy["MaximumEventAgeInSeconds"]:
            self._dead_letter(rule, target, payload, code, str(error), "MaximumEventAgeInSeconds", retries)
        else:
            self._later(delay, self._attempt, delivery, rule, target, payload, retries + 1, first_s)

    def _dead_letter(
        self,
        rule: dict[str, Any],
        target: dict[str, Any],
        payload: dict[str, Any],
        code: str,
        message: str,
        exhausted: str | None,
        retries: int,
    ) -> None:
        queue_arn = target.get("DeadLetterConfig", {}).get("Arn")
        if queue_arn is None:
            self.stats["dropped"] += 1
            return
        attributes = {
            "RULE_ARN": rule["Arn"],
            "TARGET_ARN": target["Arn"],
            "ERROR_CODE": code,
            "ERROR_MESSAGE": message,
            "RETRY_ATTEMPTS": str(retries),
        }
        if exhausted:
            attributes["EXHAUSTED_RETRY_CONDITION"] = exhausted
        if self._sqs is None:
            self._sqs = boto3.client("sqs", region_name=self.region)
        try:
            _, _, _, _, account, name = queue_arn.split(":")
            url = self._sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
            self._sqs.send_message(
                QueueUrl=url,
                MessageBody=json.dumps(payload),
                MessageAttributes={
                    key: {"DataType": "String", "StringValue": value} for key, value in attributes.items()
                },
            )
        except Exception:  # metric InvocationsFailedToBeSentToDlq: the event is lost
            self.stats["failed_to_dead_letter"] += 1
            return
        self.stats["dead_lettered"] += 1

    def _later(self, delay_s: float, function: Callable[..., Any], *args: Any) -> None:
        def run() -> None:
            try:
                function(*args)
            finally:
                with self._lock:
                    self._inflight -= 1

        with self._lock:
            self._inflight += 1
        timer = threading.Timer(delay_s, run)
        timer.daemon = True
        timer.start()

    def _async(self, delivery: dict[str, Any], function: Callable[..., Any], *args: Any) -> None:
        def run() -> None:
            try:
                delivery["result"] = function(*args)
            finally:
                with self._lock:
                    self._inflight -= 1

        with self._lock:
            self._inflight += 1
        threading.Thread(target=run, name="eventbridge-delivery", daemon=True).start()
