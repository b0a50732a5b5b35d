"""DynamoDB, SQS and SNS events captured from AWS (tests/events/powertools/) through the applier.

The DynamoDB stream samples must decode exactly (keys, images, sequence numbers, times as they
are in the file), travel through a fan-out message unchanged, and leave the replica equal to the
source. The SQS and SNS samples are not changes, so the fan-out consumer must refuse them; with a
change message in their place, the message must come out of each delivery shape as it went in.
"""

from __future__ import annotations

import copy
import json

import boto3
import pytest

from tests.conftest import EVENTS, load_event
from tests.layer.test_replica import sqs_allows
from tributary import ddb, replica

STREAM_SAMPLES = ["powertools/dynamoStreamEvent.json", "powertools/dynamoStreamTumblingWindowEvent.json"]
# Each stream sample's table after its records, keyed by Id (None: deleted).
FINAL = {
    "powertools/dynamoStreamEvent.json": {"Id": {"N": "101"}, "Message": {"S": "This item has changed"}},
    "powertools/dynamoStreamTumblingWindowEvent.json": None,
}
TABLE = "replica"


@pytest.fixture
def table(aws):
    client = boto3.client("dynamodb")
    client.create_table(
        TableName=TABLE,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "Id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "Id", "AttributeType": "N"}],
    )
    return client


def test_every_dynamodb_sample_is_here():
    assert sorted(str(p.relative_to(EVENTS)) for p in (EVENTS / "powertools").glob("dynamo*.json")) == sorted(
        [*STREAM_SAMPLES, "powertools/dynamoStreamLambdaInvocationEvent.json"]
    )


@pytest.mark.parametrize("name", STREAM_SAMPLES)
def test_stream_samples_decode_exactly(name):
    for record in load_event(name)["Records"]:
        stream = record["dynamodb"]
        change = replica.from_stream_record(record)
        assert change.event_id == record["eventID"]
        assert change.event_name == record["eventName"]
        assert change.source_arn == record["eventSourceARN"]
        assert change.version == int(stream["SequenceNumber"])
        assert change.changed_at == stream.get("ApproximateCreationDateTime")
        # No sample holds binary, so the SDK's form is the event's form, key for key.
        assert change.keys == stream["Keys"]
        assert change.new_image == (None if record["eventName"] == "REMOVE" else stream["NewImage"])
        message = replica.to_message(change)
        assert sqs_allows(message)
        assert replica.from_message(message) == change


@pytest.mark.parametrize("name", STREAM_SAMPLES)
@pytest.mark.parametrize("path", ["direct", "fanout"])
def test_stream_samples_leave_the_replica_equal_to_the_source(table, name, path):
    records = load_event(name)["Records"]
    for record in [*reversed(records), *records]:  # out of order, then every record again
        change = replica.from_stream_record(record)
        if path == "fanout":
            change = replica.from_message(replica.to_message(change))
        replica.apply(change, table, TABLE, now=1_700_000_000.0)
    stored = table.get_item(TableName=TABLE, Key={"Id": {"N": "101"}})["Item"]
    assert replica.user_view(stored) == FINAL[name]
    last = records[-1]["dynamodb"]
    assert stored[replica.VERSION] == replica.encode_version(int(last["SequenceNumber"]))
    # The samples' last records carry no ApproximateCreationDateTime: no time is made up for them.
    assert "ApproximateCreationDateTime" not in last
    assert replica.CHANGED_AT not in stored


def test_the_first_sample_records_time_is_kept(table):
    first = load_event("powertools/dynamoStreamEvent.json")["Records"][0]
    replica.apply(replica.from_stream_record(first), table, TABLE)
    stored = table.get_item(TableName=TABLE, Key={"Id": {"N": "101"}})["Item"]
    assert stored[replica.CHANGED_AT] == {"N": "1693997155.0"}


def test_the_on_failure_record_is_no_change_but_its_sequence_numbers_are_versions():
    """What Lambda sends the on-failure destination of a DynamoDB stream mapping."""
    event = load_event("powertools/dynamoStreamLambdaInvocationEvent.json")
    with pytest.raises(replica.ChangeError) as caught:
        replica.from_stream_record(event)
    assert caught.value.reason == "bad_record"
    batch = event["DDBStreamBatchInfo"]
    for sequence in (batch["startSequenceNumber"], batch["endSequenceNumber"]):
        assert 21 <= len(sequence) <= 40
        assert replica.encode_version(int(sequence)) == {"S": sequence.zfill(40)}


def sns_message(record):
    return json.loads(record["body"])["Message"]


# Where each SQS or SNS sample carries a message, as (read it, write it) for one record.
CARRIERS = {
    "powertools/sqsEvent.json": (lambda r: r["body"], lambda r, m: r.__setitem__("body", m)),
    "powertools/snsSqsEvent.json": (
        sns_message,
        lambda r, m: r.__setitem__("body", json.dumps({**json.loads(r["body"]), "Message": m}, indent=2)),
    ),
    "powertools/snsEvent.json": (lambda r: r["Sns"]["Message"], lambda r, m: r["Sns"].__setitem__("Message", m)),
}


@pytest.mark.parametrize("name", CARRIERS)
def test_messages_that_are_not_changes_are_refused(name):
    read, _ = CARRIERS[name]
    for record in load_event(name)["Records"]:
        with pytest.raises(replica.ChangeError) as caught:
            replica.from_message(read(record))
        assert caught.value.reason == "bad_message"


@pytest.mark.parametrize("name", CARRIERS)
def test_a_change_comes_out_of_every_delivery_shape_as_it_went_in(name):
    read, write = CARRIERS[name]
    keys = {"pk": {"S": "\ufffe"}}
    image = {
        **keys,
        "s": {"S": "\uffff\x00\U0001f600"},
        "n": {"N": "100000000000000000000000000000000000000"},
        "b": {"B": b"\xff"},
    }
    change = replica.Change("e", "INSERT", keys, image, 10**39 + 7, None, "arn")
    event = copy.deepcopy(load_event(name))
    for record in event["Records"]:
        write(record, replica.to_message(change))
    delivered = json.loads(json.dumps(event, ensure_ascii=False))
    for record in delivered["Records"]:
        body = read(record)
        assert sqs_allows(body)
        assert replica.from_message(body) == change
        assert ddb.from_item(replica.from_message(body).new_image)["n"] == 10**38
