"""EventBridge rule delivery to Lambda and CodeBuild targets.

moto stores rules and targets and delivers only to SQS. ``EventBus`` reads the rules and
targets from the embedded AWS (so what runs is what ``topology.create`` put there), matches
an event against each rule's pattern with moto's own EventBridge pattern matcher, and
delivers it to each target as EventBridge does: a Lambda function is invoked
asynchronously (Lambda retries a failed asynchronous invocation twice), a CodeBuild
project gets a StartBuild. Scheduled rules fire on request (``fire_schedule``) with the
``Scheduled Event`` EventBridge sends, since a local run does not wait for a cron.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

from moto.events.models import EventPattern


class EventBus:
    """The default event bus's rules, delivered to function and build targets."""

    def __init__(self, events: Any, invoke_async: Callable[[str, dict[str, Any]], Any],
                 start_build: Callable[[str, str], Any], functions: dict[str, str], region: str,
                 account_id: str) -> None:
        self.events = events
        self.invoke_async = invoke_async
        self.start_build = start_build
        self.functions = functions  # function ARN -> function (directory) name
        self.region = region
        self.account_id = account_id
        self.stats: Counter = Counter()
        # One row per delivery: rule, target and (for functions, when done) the invocation.
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
            "version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event", "source": "aws.events",
            "account": self.account_id, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "region": self.region, "resources": [rule["Arn"]], "detail": {},
        }
        self._deliver(rule, event)
        self.stats["scheduled"] += 1
        return event

    def idle(self) -> bool:
        with self._lock:
            return self._inflight == 0

    def _deliver(self, rule: dict[str, Any], event: dict[str, Any]) -> None:
        for target in self.events.list_targets_by_rule(Rule=rule["Name"])["Targets"]:
            payload = json.loads(target["Input"]) if "Input" in target else event
            arn = target["Arn"]
            service = arn.split(":")[2]
            delivery: dict[str, Any] = {"rule": rule["Name"], "target": arn, "result": None}
            self.deliveries.append(delivery)
            if service == "lambda":
                self._async(delivery, self.invoke_async, self.functions[arn], payload)
                self.stats["lambda"] += 1
            elif service == "codebuild":
                delivery["result"] = self.start_build(arn.rsplit("/", 1)[1], f"rule/{rule['Name']}")
                self.stats["codebuild"] += 1
            else:
                raise ValueError(f"rule {rule['Name']}: targets of {service} are not delivered locally")

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
