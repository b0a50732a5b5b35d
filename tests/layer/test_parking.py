"""Parking refused changes in SQS (tributary.parking), under moto, within SendMessageBatch's limits.

moto 5.2.5 counts message and call sizes in characters against 1 MiB (SQS's newest maximum);
the stack's queues keep SQS's default MaximumMessageSize of 262,144 bytes, which the queues
here are created with. Every call is recorded, so the tests check the limits in UTF-8 bytes
themselves: at most 10 entries, and at most 262,144 bytes per message and per call.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from stack.events import dynamodb_stream_record
from tributary import ddb, parking, replica

LIMIT = 262_144


class Recording:
    """An SQS client that records every SendMessageBatch call and can fail entries SQS-side once."""

    def __init__(self, client: Any, fail_ids_once: tuple[str, ...] = (), sender_fault: bool = False) -> None:
        self.client = client
        self.calls: list[list[dict[str, Any]]] = []
        self.fail_ids_once = set(fail_ids_once)
        self.sender_fault = sender_fault

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
        self.calls.append(Entries)
        failing = [e for e in Entries if e["Id"] in self.fail_ids_once]
        passing = [e for e in Entries if e["Id"] not in self.fail_ids_once]
        response = self.client.send_message_batch(QueueUrl=QueueUrl, Entries=passing) if passing else {}
        if failing:
            if not self.sender_fault:
                self.fail_ids_once.clear()
            response.setdefault("Failed", []).extend(
                {"Id": e["Id"], "SenderFault": self.sender_fault, "Code": "InternalError", "Message": "try again"}
                for e in failing
            )
        return response


@pytest.fixture
def queue(aws):
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName="table-failures", Attributes={"MaximumMessageSize": str(LIMIT)})["QueueUrl"]
    return sqs, url


def drain(sqs, url) -> list[dict[str, Any]]:
    out = []
    while got := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]).get(
        "Messages"
    ):
        out += got
        sqs.delete_message_batch(
            QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)]
        )
    return out


def call_bytes(entries: list[dict[str, Any]]) -> int:
    return sum(parking.size(parking.Message(e["MessageBody"], e.get("MessageAttributes", {}))) for e in entries)


def record(seq: str, payload: str) -> dict[str, Any]:
    keys = ddb.to_item({"pk": "k", "sk": "s"}, "base64")
    return dynamodb_stream_record("INSERT", keys, seq, new_image={**keys, "payload": {"S": payload}})


def test_batches_stay_within_ten_entries_and_256_kib_in_utf8_bytes(queue):
    sqs, url = queue
    spy = Recording(sqs)
    # Parked bodies of about 100 KB (ASCII), and dead letters of non-ASCII text counted in bytes.
    bodies: list[str | parking.Message] = [
        parking.message(parking.Parked("reserved_attribute", "d", record(str(i), "x" * 100_000)), "fn")
        for i in range(5)
    ]
    bodies += [parking.Message("é" * 60_000) for _ in range(4)]  # 120,000 bytes each, 60,000 characters
    bodies += [f"small {i}" for i in range(23)]
    assert parking.park(spy, url, bodies) == len(bodies)
    assert all(len(call) <= 10 for call in spy.calls)
    assert all(call_bytes(call) <= LIMIT for call in spy.calls), [call_bytes(c) for c in spy.calls]
    assert sorted(m["Body"] for m in drain(sqs, url)) == sorted(b if isinstance(b, str) else b.body for b in bodies)


def test_a_record_too_big_for_one_message_keeps_its_keys_and_sequence_number(queue):
    sqs, url = queue
    # An item of 400 KB whose strings SQS could not carry as they are, and which grow when escaped.
    big = record("4421584500000000017450439091", "\uffff\ufffe\x01\x1f😀é" * 40_000)
    body = parking.message(
        parking.Parked("item_too_large", "over 400 KB", big, big["eventSourceARN"]), "table_sync", now=1.5
    )
    assert body.isascii()
    assert len(body) <= LIMIT
    assert parking.park(sqs, url, [body]) == 1
    parked = json.loads(drain(sqs, url)[0]["Body"])
    assert parked["format"] == parking.FORMAT
    assert parked["images_dropped"] is True
    assert (parked["reason"], parked["function"], parked["parkedAt"]) == ("item_too_large", "table_sync", 1.5)
    assert parked["record"]["dynamodb"]["Keys"] == big["dynamodb"]["Keys"]
    assert parked["record"]["dynamodb"]["SequenceNumber"] == "4421584500000000017450439091"
    assert "NewImage" not in parked["record"]["dynamodb"]


def test_a_record_that_fits_travels_whole_and_survives_the_round_trip(queue):
    sqs, url = queue
    odd = record("7", "\uffff\x00 tab\t😀")
    assert parking.park(sqs, url, [parking.message(parking.Parked("bad_record", "d", odd), "fn")]) == 1
    assert json.loads(drain(sqs, url)[0]["Body"])["record"] == odd


def test_a_message_over_the_limit_is_refused_before_anything_is_sent(queue):
    sqs, url = queue
    spy = Recording(sqs)
    with pytest.raises(parking.ParkingError, match="over SQS's 262144 bytes"):
        parking.park(spy, url, ["fits", parking.Message("é" * 140_000)])  # 280,000 bytes
    assert spy.calls == []
    assert drain(sqs, url) == []


def test_sqs_errors_are_parking_errors(queue):
    sqs, url = queue
    with pytest.raises(parking.ParkingError, match="SendMessageBatch failed"):
        parking.park(sqs, url.rsplit("/", 1)[0] + "/no-such-queue", ["a"])


def test_entries_sqs_fails_on_its_side_are_sent_again(queue, monkeypatch):
    sqs, url = queue
    monkeypatch.setattr(parking.time, "sleep", lambda s: None)
    spy = Recording(sqs, fail_ids_once=("1",))
    assert parking.park(spy, url, ["a", "b", "c"]) == 3
    assert [[e["MessageBody"] for e in call] for call in spy.calls] == [["a", "b", "c"], ["b"]]
    assert sorted(m["Body"] for m in drain(sqs, url)) == ["a", "b", "c"]


def test_entries_refused_for_what_they_are_raise_without_a_retry(queue):
    sqs, url = queue
    spy = Recording(sqs, fail_ids_once=("0",), sender_fault=True)
    with pytest.raises(parking.ParkingError, match="SQS refused 1 parked message"):
        parking.park(spy, url, ["a", "b"])
    assert len(spy.calls) == 1


def test_a_dead_letter_keeps_the_body_and_says_why_in_attributes(queue):
    sqs, url = queue
    original = {
        "table": {"DataType": "String", "StringValue": "t1"},
        "tributary.reason": {"DataType": "String", "StringValue": "an older reason"},
    }
    letter = parking.dead_letter("not a change \uffff", "bad_message", "détail 😀", "change_applier", original, now=2.0)
    assert parking.park(sqs, url, [letter]) == 1
    got = drain(sqs, url)[0]
    assert got["Body"] == "not a change \uffff"
    attributes = {k: v["StringValue"] for k, v in got["MessageAttributes"].items()}
    assert attributes == {
        "table": "t1",
        "tributary.reason": "bad_message",
        "tributary.detail": "d\\xe9tail \\U0001f600",  # SQS's character set, whatever the text
        "tributary.function": "change_applier",
        "tributary.parked_at": "2.000",
    }


def test_a_dead_letter_keeps_at_most_ten_attributes_its_own_first():
    original = {f"a{i}": {"DataType": "String", "StringValue": "v"} for i in range(9)}
    letter = parking.dead_letter("b", "r", "", "f", original)
    assert len(letter.attributes) == 10
    assert {"tributary.reason", "tributary.detail", "tributary.function", "tributary.parked_at"} <= set(
        letter.attributes
    )
    assert letter.attributes["tributary.detail"]["StringValue"] == "-"  # SQS refuses an empty value


def test_what_is_refused_and_what_is_retried():
    reserved = replica.ChangeError("reserved_attribute", "attributes ['_tributary_x']")
    assert parking.refusal(reserved) == ("reserved_attribute", "attributes ['_tributary_x']")
    too_big = ClientError(
        {"Error": {"Code": "ValidationException", "Message": "Item size has exceeded the maximum allowed size"}},
        "PutItem",
    )
    assert parking.refusal(too_big)[0] == "item_too_large"
    for transient in (
        ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}}, "PutItem"),
        ClientError({"Error": {"Code": "InternalServerError", "Message": "oops"}}, "PutItem"),
        ClientError({"Error": {"Code": "ValidationException", "Message": "Type mismatch for key"}}, "PutItem"),
        TimeoutError("read timeout"),
    ):
        assert parking.refusal(transient) is None


@pytest.mark.parametrize(
    ("arn", "table"),
    [
        ("arn:aws:dynamodb:eu-west-1:123456789012:table/table1/stream/2026-11-22T00:00:00.000", "table1"),
        ("arn:aws:dynamodb:eu-west-1:123456789012:table/table1", "table1"),
        ("arn:aws:dynamodb:eu-west-1:123456789012:table/other/stream/2026-11-22T00:00:00.000", "other"),
        ("eventsource_arn", None),
        ("arn:aws:sqs:eu-west-1:123456789012:table1", None),
        ("", None),
    ],
)
def test_the_source_table_of_an_arn(arn, table):
    assert parking.source_table(arn) == table
    if table == "table1":
        parking.check_source(arn, "table1")
    else:
        with pytest.raises(replica.ChangeError) as refused:
            parking.check_source(arn, "table1")
        assert refused.value.reason == "wrong_source"
