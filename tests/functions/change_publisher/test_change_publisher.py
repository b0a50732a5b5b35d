"""change_publisher: SNS's PublishBatch limits, poison parked, failures checkpointed, every record accounted for.

The handler runs under moto with ``tests.doubles.sns.SnsLimits`` on its SNS client, so a call SNS
would refuse is refused here too (moto alone takes it).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError
from hypothesis import given, settings
from hypothesis import strategies as st

from change_publisher import handler
from change_publisher.publish import MAX_BYTES, Batch, CheckpointError, PublishEntry, calls, park, publish, read, settle
from stack.events import dynamodb_event, dynamodb_stream_record
from tests.doubles.sns import CallFault, EntryFault, SnsLimits, check, entry_bytes
from tests.examples import examples
from tributary import aws, ddb, parking, replica

TABLE = "table1"


def change(pk: str, seq: int | str, size: int = 0, event_name: str = "INSERT", table: str = TABLE) -> dict:
    image = {"pk": pk, "sk": "s", **({"payload": "x" * size} if size else {})}
    return dynamodb_stream_record(
        event_name,
        ddb.to_item({"pk": pk, "sk": "s"}, "base64"),
        str(seq),
        new_image=ddb.to_item(image, "base64"),
        stream_arn=f"arn:aws:dynamodb:eu-west-1:123456789012:table/{table}/stream/2026",
    )


def reserved(seq: int | str) -> dict:
    record = change("p", seq)
    record["dynamodb"]["NewImage"][replica.VERSION] = {"N": "1"}
    return record


def unnamed() -> dict:
    record = change("u", 0)
    del record["dynamodb"]["SequenceNumber"]
    return record


@pytest.fixture
def stack(aws, monkeypatch):
    sns, sqs = aws_clients()
    topic = sns.create_topic(Name="changes")["TopicArn"]
    changes = sqs.create_queue(QueueName="changes")["QueueUrl"]
    changes_arn = sqs.get_queue_attributes(QueueUrl=changes, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=changes_arn,
        Attributes={
            "RawMessageDelivery": "true",
            "FilterPolicy": json.dumps({"table": [TABLE]}),
            "FilterPolicyScope": "MessageAttributes",
        },
    )
    parked = sqs.create_queue(QueueName="table-failures")["QueueUrl"]
    for key, value in {
        "TOPIC_ARN": topic,
        "SOURCE_TABLE": TABLE,
        "PARKED_QUEUE_URL": parked,
        "AWS_LAMBDA_FUNCTION_NAME": "tributary-change-publisher",
    }.items():
        monkeypatch.setenv(key, value)
    return {"sqs": sqs, "changes": changes, "parked": parked, "limits": SnsLimits(sns)}


def aws_clients() -> tuple[Any, Any]:
    # The handler's own clients, so that the limits apply to what it calls.
    return aws.client("sns"), aws.client("sqs")


def drain(stack, queue: str) -> list[dict]:
    out = []
    while got := stack["sqs"].receive_message(QueueUrl=stack[queue], MaxNumberOfMessages=10).get("Messages"):
        out += [json.loads(m["Body"]) for m in got]
        stack["sqs"].delete_message_batch(
            QueueUrl=stack[queue],
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)],
        )
    return out


def invoke(records: list[dict], capsys) -> tuple[dict, dict, dict, list[dict]]:
    """The response, the batch log line, the metrics and the "parked" log lines of one invocation."""
    capsys.readouterr()
    response = handler.handle(dynamodb_event(records), None)
    batch, emf, parked = lines(capsys)
    return response, batch, emf, parked


def lines(capsys) -> tuple[dict, dict, list[dict]]:
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    batch = next(line for line in out if line.get("message") == "batch")
    emf = next(line for line in out if "_aws" in line)
    return batch, emf, [line for line in out if line.get("message") == "parked"]


def counts(batch: dict) -> tuple[int, int, int, int]:
    return batch["received"], batch["published"], batch["parked"], batch["retried"]


# --- SNS's limits -----------------------------------------------------------------------------


def test_ten_changes_of_40_kb_publish_in_calls_within_the_batch_limit(stack, capsys):
    records = [change(f"k{i}", 100 + i, size=40_000) for i in range(10)]
    response, batch, emf, _ = invoke(records, capsys)
    assert response == {"batchItemFailures": []}
    assert stack["limits"].refused == []
    assert len(stack["limits"].calls) > 1
    assert all(sum(entry_bytes(e) for e in call) <= MAX_BYTES for call in stack["limits"].calls)
    assert sorted(m["keys"]["pk"]["S"] for m in drain(stack, "changes")) == sorted(f"k{i}" for i in range(10))
    assert counts(batch) == (10, 10, 0, 0)
    assert emf["ChangesPublished"] == 10


def test_a_change_too_big_for_one_message_travels_by_reference(stack, capsys):
    records = [change("big", 5, size=261_000), change("small", 6)]
    response, batch, _, _ = invoke(records, capsys)
    assert response == {"batchItemFailures": []}
    assert counts(batch) == (2, 2, 0, 0)
    by_key = {m["keys"]["pk"]["S"]: m for m in drain(stack, "changes")}
    assert by_key["big"]["fetchFromSource"] is True
    assert by_key["big"]["newImage"] is None
    assert "fetchFromSource" not in by_key["small"]


def test_the_reference_threshold_leaves_room_for_the_attributes(monkeypatch):
    # Whatever replica's threshold, a message and its attributes stay within SNS's limit.
    monkeypatch.setattr(replica, "MAX_MESSAGE_BYTES", 10**6)
    table = "t" * 255
    probe = read([change("k", 1, size=250_000, table=table)], table).entries[0]
    body = len(probe.message.encode()) - 250_000  # the message without its payload
    exact = MAX_BYTES - (probe.size - len(probe.message.encode())) - body  # payload that fills the limit exactly
    at_limit = read([change("k", 1, size=exact, table=table)], table).entries[0]
    assert at_limit.size == MAX_BYTES
    assert "fetchFromSource" not in at_limit.message
    over = read([change("k", 1, size=exact + 1, table=table)], table).entries[0]
    assert json.loads(over.message)["fetchFromSource"] is True
    check([{"Id": "0", "Message": e.message, "MessageAttributes": e.attributes} for e in (at_limit,)])


# --- SNS failures: logged, counted, checkpointed -----------------------------------------------


def test_an_sns_error_is_logged_counted_and_checkpointed(stack, capsys):
    stack["limits"].faults.extend([None, CallFault("Throttled", "Rate exceeded", 429)])
    records = [change(f"k{i}", 100 + i) for i in range(15)]
    response, batch, emf, _ = invoke(records, capsys)
    assert response == {"batchItemFailures": [{"itemIdentifier": "110"}]}
    assert counts(batch) == (15, 10, 0, 5)
    assert batch["checkpoint"] == "110"
    assert (batch["publish_error_code"], batch["publish_error"]) == ("Throttled", "Rate exceeded")
    assert batch["level"] == "WARNING"
    assert (emf["ChangesPublished"], emf["ChangesRetried"], emf["PublishErrors"]) == (10, 5, 1)
    assert len(drain(stack, "changes")) == 10


def test_a_failed_entry_checkpoints_at_it_and_nothing_behind_it_is_sent_or_counted(stack, capsys):
    stack["limits"].faults.extend([None, EntryFault(("2",), "InternalError", "Internal error")])
    records = [change(f"k{i}", 100 + i) for i in range(25)]
    response, batch, emf, _ = invoke(records, capsys)
    assert response == {"batchItemFailures": [{"itemIdentifier": "112"}]}
    assert len(stack["limits"].calls) == 2  # the third call would only be sent again on the retry
    assert counts(batch) == (25, 12, 0, 13)
    assert (batch["publish_error_code"], batch["publish_error"]) == ("InternalError", "Internal error")
    assert emf["PublishErrors"] == 1


def test_a_clean_batch_reports_no_error(stack, capsys):
    response, batch, emf, _ = invoke([change("a", 1), change("b", 2, event_name="MODIFY")], capsys)
    assert response == {"batchItemFailures": []}
    assert (batch["level"], batch["checkpoint"], batch["publish_error_code"], batch["parking_error_code"]) == (
        "INFO",
        None,
        "",
        "",
    )
    assert {
        k: emf[k]
        for k in (
            "ChangesReceived",
            "ChangesPublished",
            "ChangesParked",
            "ChangesRetried",
            "PublishErrors",
            "ParkingErrors",
            "AccountingMismatch",
        )
    } == {
        "ChangesReceived": 2,
        "ChangesPublished": 2,
        "ChangesParked": 0,
        "ChangesRetried": 0,
        "PublishErrors": 0,
        "ParkingErrors": 0,
        "AccountingMismatch": 0,
    }


# --- poison: parked, never holding back the changes behind it -----------------------------------


def test_a_poison_change_is_parked_and_the_changes_behind_it_publish(stack, capsys):
    not_a_change = change("n", 13, event_name="UPSERT")
    records = [change("a", 10), reserved(11), change("b", 12), not_a_change, change("c", 14)]
    response, batch, emf, parked_lines = invoke(records, capsys)
    assert response == {"batchItemFailures": []}
    assert sorted(m["keys"]["pk"]["S"] for m in drain(stack, "changes")) == ["a", "b", "c"]
    parked = drain(stack, "parked")
    assert [(p["reason"], p["record"]) for p in parked] == [
        ("reserved_attribute", records[1]),
        ("bad_event", not_a_change),
    ]
    assert all(
        p["format"] == parking.FORMAT
        and p["function"] == "tributary-change-publisher"
        and p["sourceArn"] == records[0]["eventSourceARN"]
        for p in parked
    )
    assert replica.VERSION in parked[0]["detail"]
    assert [(line["sequence_number"], line["reason"]) for line in parked_lines] == [
        ("11", "reserved_attribute"),
        ("13", "bad_event"),
    ]
    assert counts(batch) == (5, 3, 2, 0)
    assert emf["ChangesParked"] == 2


def test_a_change_of_another_table_is_parked(stack, capsys):
    other = change("o", 11, table="other")
    response, batch, _, _ = invoke([change("a", 10), other, change("b", 12)], capsys)
    assert response == {"batchItemFailures": []}
    parked = drain(stack, "parked")
    assert [(p["reason"], p["sourceArn"]) for p in parked] == [("wrong_source", other["eventSourceARN"])]
    assert sorted(m["keys"]["pk"]["S"] for m in drain(stack, "changes")) == ["a", "b"]
    assert counts(batch) == (3, 2, 1, 0)


def test_a_record_without_a_sequence_number_is_parked_not_a_function_error(stack, capsys):
    records = [change("a", 10), unnamed(), change("b", 12)]
    response, batch, _, _ = invoke(records, capsys)
    assert response == {"batchItemFailures": []}
    assert [(p["reason"], p["record"]) for p in drain(stack, "parked")] == [("bad_record", records[1])]
    assert sorted(m["keys"]["pk"]["S"] for m in drain(stack, "changes")) == ["a", "b"]
    assert counts(batch) == (3, 2, 1, 0)


@pytest.mark.parametrize(
    ("malformed", "reason"),
    [
        (None, "bad_record"),
        ("text", "bad_record"),
        ({"eventName": "INSERT", "dynamodb": None}, "bad_record"),
        ({"eventName": "INSERT", "dynamodb": {"SequenceNumber": "11"}}, "no_new_image"),
        ({"eventName": "REMOVE", "dynamodb": {"SequenceNumber": "11"}}, "bad_record"),
    ],
)
def test_any_malformed_record_is_parked(stack, capsys, malformed, reason):
    response, batch, _, _ = invoke([change("a", 10), malformed, change("b", 12)], capsys)
    assert response == {"batchItemFailures": []}
    assert [p["reason"] for p in drain(stack, "parked")] == [reason]
    assert counts(batch) == (3, 2, 1, 0)


def test_a_parking_failure_checkpoints_at_the_poison(stack, capsys, monkeypatch):
    monkeypatch.setenv("PARKED_QUEUE_URL", stack["parked"] + "-missing")
    records = [change("a", 10), reserved(11), change("b", 12), change("c", 13)]
    response, batch, emf, parked_lines = invoke(records, capsys)
    assert response == {"batchItemFailures": [{"itemIdentifier": "11"}]}
    assert counts(batch) == (4, 1, 0, 3)  # b and c were sent, but are published again on the retry
    assert batch["parking_error_code"] == "AWS.SimpleQueueService.NonExistentQueue"
    assert "SendMessageBatch" in batch["parking_error"]
    assert parked_lines == []
    assert (emf["ParkingErrors"], emf["ChangesParked"], emf["PublishErrors"]) == (1, 0, 0)


def test_a_missing_parked_queue_setting_is_a_parking_failure(stack, capsys, monkeypatch):
    monkeypatch.delenv("PARKED_QUEUE_URL")
    response, batch, _, _ = invoke([change("a", 10), reserved(11)], capsys)
    assert response == {"batchItemFailures": [{"itemIdentifier": "11"}]}
    assert (batch["parking_error_code"], batch["parking_error"]) == ("ParkingError", "PARKED_QUEUE_URL is not set")


def test_a_parking_failure_of_an_unnamed_record_retries_from_the_record_before_it(stack, capsys, monkeypatch):
    monkeypatch.setenv("PARKED_QUEUE_URL", stack["parked"] + "-missing")
    response, batch, _, _ = invoke([change("a", 10), change("b", 11), unnamed(), change("c", 13)], capsys)
    assert response == {"batchItemFailures": [{"itemIdentifier": "11"}]}
    assert counts(batch) == (4, 1, 0, 3)


def test_a_parking_failure_of_a_first_unnamed_record_fails_the_invocation(stack, capsys, monkeypatch):
    monkeypatch.setenv("PARKED_QUEUE_URL", stack["parked"] + "-missing")
    capsys.readouterr()
    with pytest.raises(CheckpointError):
        handler.handle(dynamodb_event([unnamed(), change("a", 11)]), None)
    batch, _, _ = lines(capsys)
    assert counts(batch) == (2, 0, 0, 2)
    assert batch["checkpoint"] is None


def test_poison_behind_an_unpublished_change_waits_for_the_retry(stack, capsys):
    stack["limits"].faults.append(CallFault("InternalError", "Internal error", 500))
    response, batch, emf, _ = invoke([change("a", 10), reserved(11), change("b", 12)], capsys)
    assert response == {"batchItemFailures": [{"itemIdentifier": "10"}]}
    assert drain(stack, "parked") == []  # parked on the retry, once
    assert counts(batch) == (3, 0, 0, 3)
    assert emf["ChangesParked"] == 0


# --- the accounting, for any batch and any failure ---------------------------------------------

kinds = st.sampled_from(["small", "big", "huge", "reserved", "unnamed", "not_a_change"])


def build(kind: str, position: int) -> Any:
    seq = 1000 + position
    return {
        "small": lambda: change(f"k{position}", seq),
        "big": lambda: change(f"k{position}", seq, size=60_000),
        "huge": lambda: change(f"k{position}", seq, size=300_000),
        "reserved": lambda: reserved(seq),
        "unnamed": unnamed,
        "not_a_change": lambda: {"eventName": "INSERT"},
    }[kind]()


@settings(max_examples=examples(150), deadline=None)
@given(
    st.lists(kinds, max_size=30),
    st.lists(st.one_of(st.none(), st.just("throttle"), st.integers(0, 9)), max_size=6),
    st.booleans(),
)
def test_every_record_is_published_parked_or_retried_exactly_once(kinds_drawn, faults, parking_fails):
    records = [build(kind, i) for i, kind in enumerate(kinds_drawn)]
    batch = read(records, TABLE)
    published: list[str] = []
    parked: list[dict] = []
    script = iter(faults)

    def publish_batch(request):
        check(request)  # SNS's limits, as the double enforces them
        fault = next(script, None)
        if fault == "throttle":
            raise ClientError({"Error": {"Code": "Throttled", "Message": "Rate exceeded"}}, "PublishBatch")
        failed = [e["Id"] for e in request if fault is not None and e["Id"] == str(fault)]
        published.extend(e["Message"] for e in request if e["Id"] not in failed)
        return {
            "Successful": [{"Id": e["Id"], "MessageId": "m"} for e in request if e["Id"] not in failed],
            "Failed": [{"Id": i, "Code": "InternalError", "SenderFault": False} for i in failed],
        }

    def send(bodies):
        if parking_fails:
            raise parking.ParkingError("SQS refused 1 parked message(s): InternalError: boom")
        parked.extend(json.loads(body) for body in bodies)
        return len(bodies)

    published_progress = publish(batch.entries, publish_batch)
    due = batch.poison_before(published_progress.stopped_at)
    outcome = settle(batch, published_progress, park(due, "change_publisher", send))
    assert outcome.received == len(records) == outcome.published + outcome.parked + outcome.retried
    assert outcome.balanced
    checkpoint_index = outcome.received - outcome.retried
    assert_settled(batch, records, checkpoint_index, outcome.checkpoint, published, parked)
    if outcome.retried:
        assert outcome.checkpoint is not None or outcome.whole_batch
        assert outcome.publish_error is not None or outcome.parking_error is not None
    else:
        assert outcome.checkpoint is None
        assert not outcome.whole_batch


def assert_settled(
    batch: Batch, records: list, checkpoint_index: int, checkpoint: str | None, published: list[str], parked: list[dict]
) -> None:
    """Everything before the retry point reached SNS or the parked queue; the checkpoint names the retry point."""
    if checkpoint is not None:
        assert batch.identifiers[checkpoint_index] == checkpoint
    messages = {e.position: e.message for e in batch.entries}
    parked_records = [p["record"] for p in parked]
    for position in range(checkpoint_index):
        if position in messages:
            assert messages[position] in published
        else:
            assert json.loads(json.dumps(records[position])) in parked_records


def test_calls_pack_by_count_and_by_bytes_in_order():
    def entry(position: int, size: int) -> PublishEntry:
        return PublishEntry(position, "x", {}, size)

    exact = [entry(i, MAX_BYTES // 4) for i in range(4)]  # four of 65,536 bytes: the limit exactly
    assert [[e.position for e in call] for call in calls(exact)] == [[0, 1, 2, 3]]
    over = [*exact, entry(4, 1)]
    assert [[e.position for e in call] for call in calls(over)] == [[0, 1, 2, 3], [4]]
    small = [entry(i, 10) for i in range(23)]
    assert [len(call) for call in calls(small)] == [10, 10, 3]
    assert [e.position for call in calls(small) for e in call] == list(range(23))


def test_a_change_too_big_for_sns_even_by_reference_is_poison():
    keys = ddb.to_item({"pk": "k" * MAX_BYTES, "sk": "s"}, "base64")
    record = dynamodb_stream_record("REMOVE", keys, "7")
    batch = read([record], TABLE)
    assert batch.entries == []
    assert [(p.reason, p.record) for p in batch.poison] == [("message_too_large", record)]
