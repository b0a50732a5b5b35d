"""Event source mapping for SQS (standard and FIFO), with Lambda's documented semantics.

Messages are received in batches (up to ``batch_size``, or what arrived within the
batching window) and stay invisible for the queue's visibility timeout while the
function runs. After the invocation the mapping deletes the messages that succeeded:
all of them on success; with ``ReportBatchItemFailures``, all but the message ids the
function reported (a malformed report fails the whole batch); none on a function
error. Undeleted messages come back after the visibility timeout, and the queue's
redrive policy moves a message to its dead-letter queue after ``maxReceiveCount``
receives. FIFO queues deliver one message group in order (SQS holds back a group
while one of its messages is in flight).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from local.functions import Invocation


@dataclass(frozen=True)
class QueueSettings:
    batch_size: int = 10
    window_s: float = 0.0
    report_batch_item_failures: bool = True

    @classmethod
    def from_mapping(cls, mapping: dict[str, Any]) -> QueueSettings:
        """The settings of an event source mapping as Lambda's GetEventSourceMapping returns it."""
        return cls(
            batch_size=mapping.get("BatchSize", 10),
            window_s=mapping.get("MaximumBatchingWindowInSeconds", 0),
            report_batch_item_failures="ReportBatchItemFailures" in mapping.get("FunctionResponseTypes", []),
        )


def sqs_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    """The event Lambda sends for a batch of SQS messages."""
    records = []
    for m in messages:
        attributes = dict(m.get("Attributes", {}))
        records.append(
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": {
                    k: attributes[k]
                    for k in (
                        "ApproximateReceiveCount",
                        "SentTimestamp",
                        "SenderId",
                        "ApproximateFirstReceiveTimestamp",
                        "SequenceNumber",
                        "MessageGroupId",
                        "MessageDeduplicationId",
                    )
                    if k in attributes
                },
                "messageAttributes": {
                    name: {
                        "stringValue": value.get("StringValue"),
                        "binaryValue": value.get("BinaryValue"),
                        "stringListValues": [],
                        "binaryListValues": [],
                        "dataType": value["DataType"],
                    }
                    for name, value in m.get("MessageAttributes", {}).items()
                },
                "md5OfBody": m.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
        )
    return {"Records": records}


def succeeded(invocation: Invocation, message_ids: list[str], report_item_failures: bool) -> set[str]:
    """The message ids to delete after an invocation."""
    if invocation.function_error:
        return set()
    payload = invocation.payload
    if not report_item_failures or payload is None or payload == {}:
        return set(message_ids)
    if not isinstance(payload, dict):
        return set()
    failures = payload.get("batchItemFailures")
    if failures is None or failures == []:
        return set(message_ids)
    if not isinstance(failures, list):
        return set()
    failed = set()
    for item in failures:
        identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not isinstance(identifier, str) or identifier not in message_ids:
            return set()
        failed.add(identifier)
    return set(message_ids) - failed


class QueueMapping:
    """Polls one queue and invokes the function until stopped."""

    def __init__(
        self,
        name: str,
        sqs: Any,
        queue_url: str,
        queue_arn: str,
        region: str,
        settings: QueueSettings,
        invoke: Callable[[dict[str, Any]], Invocation],
        duplicate: Callable[[], bool] = lambda: False,
        poll_interval_s: float = 0.05,
        pollers: int = 1,
    ) -> None:
        self.name = name
        self.sqs = sqs
        self.queue_url = queue_url
        self.queue_arn = queue_arn
        self.region = region
        self.settings = settings
        self.invoke_event = invoke
        self.duplicate = duplicate
        self.poll_interval_s = poll_interval_s
        self.pollers = pollers
        self.stats = {
            "invocations": 0,
            "messages_delivered": 0,
            "messages_deleted": 0,
            "partial_failures": 0,
            "function_errors": 0,
            "duplicate_deliveries": 0,
        }
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._idle = [False] * pollers

    def _receive(self) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        started = time.monotonic()
        while len(messages) < self.settings.batch_size and not self._stop.is_set():
            response = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=min(10, self.settings.batch_size - len(messages)),
                WaitTimeSeconds=0,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            got = response.get("Messages", [])
            messages.extend(got)
            if not got and (not messages or time.monotonic() - started >= self.settings.window_s):
                break
            if not got:
                time.sleep(min(self.poll_interval_s, self.settings.window_s))
        return messages

    def poll_once(self) -> int:
        """Receive one batch, invoke, delete what succeeded; the number of messages handled."""
        messages = self._receive()
        if not messages:
            return 0
        event = sqs_event(messages, self.queue_arn, self.region)
        ids = [m["MessageId"] for m in messages]
        invocation = self.invoke_event(event)
        done = succeeded(invocation, ids, self.settings.report_batch_item_failures)
        if done and self.duplicate():
            with self._lock:
                self.stats["duplicate_deliveries"] += 1
            self.invoke_event(event)
        handles = {m["MessageId"]: m["ReceiptHandle"] for m in messages}
        entries = [{"Id": str(i), "ReceiptHandle": handles[mid]} for i, mid in enumerate(sorted(done))]
        for start in range(0, len(entries), 10):
            self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=entries[start : start + 10])
        with self._lock:
            self.stats["invocations"] += 1
            self.stats["messages_delivered"] += len(messages)
            self.stats["messages_deleted"] += len(done)
            if invocation.function_error:
                self.stats["function_errors"] += 1
            elif len(done) < len(messages):
                self.stats["partial_failures"] += 1
        return len(messages)

    def _run(self, index: int) -> None:
        while not self._stop.is_set():
            try:
                handled = self.poll_once()
            except Exception:  # a refused call: poll again shortly, as the service does
                handled = 0
            self._idle[index] = handled == 0
            if not handled:
                self._stop.wait(self.poll_interval_s)

    def start(self) -> QueueMapping:
        for index in range(self.pollers):
            thread = threading.Thread(target=self._run, args=(index,), name=f"{self.name}-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def idle(self) -> bool:
        """No poller found work last time, and no message is waiting or in flight."""
        if not all(self._idle):
            return False
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        waiting = int(attributes["ApproximateNumberOfMessages"])
        return waiting + int(attributes["ApproximateNumberOfMessagesNotVisible"]) == 0

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=300)
