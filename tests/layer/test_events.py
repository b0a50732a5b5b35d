"""The layer's typed views of SQS, SNS and S3 events, read against AWS's own samples."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import load_event
from tributary import events


def test_every_sqs_sample_record_reads_as_a_message():
    for name in ("powertools/sqsEvent.json", "powertools/s3SqsEvent.json", "powertools/snsSqsEvent.json"):
        event = load_event(name)
        assert events.is_sqs_event(event), name
        messages = [events.SqsMessage.from_record(r) for r in event["Records"]]
        assert [m.message_id for m in messages] == [r["messageId"] for r in event["Records"]]
        assert all(m.body == r["body"] for m, r in zip(messages, event["Records"], strict=True))
        assert all(m.event_source_arn.startswith("arn:aws:sqs:") for m in messages)


@pytest.mark.parametrize(
    "record",
    [None, [], {"eventSource": "aws:sns"}, {"eventSource": "aws:sqs", "body": "x"}, {"eventSource": "aws:sqs"}],
)
def test_what_is_not_an_sqs_record_is_named(record):
    with pytest.raises(events.EventShapeError):
        events.SqsMessage.from_record(record)


def test_an_sqs_event_is_a_non_empty_list_of_sqs_records_only():
    assert not events.is_sqs_event({"Records": []})
    assert not events.is_sqs_event(load_event("powertools/s3Event.json"))
    assert not events.is_sqs_event({"Records": [*load_event("powertools/sqsEvent.json")["Records"], {}]})
    assert not events.is_sqs_event("Records")


def test_the_sns_envelope_in_an_sqs_body_is_unwrapped():
    record = load_event("powertools/snsSqsEvent.json")["Records"][0]
    envelope = json.loads(record["body"])
    notification = events.sns_body(record["body"])
    assert notification is not None
    assert notification.message == envelope["Message"]
    assert notification.topic_arn == envelope["TopicArn"]
    assert notification.message_id == envelope["MessageId"]


def test_an_sns_event_record_holds_an_envelope_of_its_own_shape():
    sns = load_event("powertools/snsEvent.json")["Records"][0]["Sns"]
    notification = events.sns_notification(sns)
    assert notification is not None
    assert (notification.message, notification.topic_arn) == (sns["Message"], sns["TopicArn"])


@pytest.mark.parametrize(
    "body",
    [
        '{"format": "tributary.change/v1", "eventName": "INSERT"}',  # raw delivery: the message itself
        '{"Type": "SubscriptionConfirmation", "Message": "confirm"}',
        '{"Type": "Notification"}',
        "not json",
        '{"Type": ',
        "",
        "[1, 2]",
    ],
)
def test_a_body_that_is_not_an_envelope_is_left_as_it_is(body):
    assert events.sns_body(body) is None


def test_an_envelope_sns_could_not_have_sent_is_refused():
    with pytest.raises(events.EventShapeError, match="not a string"):
        events.sns_body(json.dumps({"Type": "Notification", "Message": {"nested": True}}))


@given(st.text())
def test_any_message_text_survives_the_envelope(message):
    body = json.dumps(
        {"Type": "Notification", "MessageId": "m", "TopicArn": "arn:aws:sns:eu-west-1:1:t", "Message": message}
    )
    notification = events.sns_body(body)
    assert notification is not None
    assert notification.message == message


def test_s3_notification_samples_read_with_their_keys_decoded():
    for name in ("powertools/s3Event.json", "powertools/s3EventDeleteObject.json", "powertools/s3EventGlacier.json"):
        message = load_event(name)
        objects = events.s3_notification(message)
        assert [o.bucket for o in objects] == [r["s3"]["bucket"]["name"] for r in message["Records"]]
        assert [o.event_name for o in objects] == [r["eventName"] for r in message["Records"]]
    record = load_event("powertools/s3Event.json")["Records"][0]
    record["s3"]["object"]["key"] = "code/file+001-%C3%BC.py"
    assert events.s3_notification({"Records": [record]})[0].key == "code/file 001-ü.py"


@pytest.mark.parametrize(
    "name",
    [
        "powertools/s3EventBridgeNotificationObjectCreatedEvent.json",
        "powertools/s3EventBridgeNotificationObjectDeletedEvent.json",
        "powertools/s3EventBridgeNotificationObjectExpiredEvent.json",
        "powertools/s3EventBridgeNotificationObjectRestoreCompletedEvent.json",
    ],
)
def test_s3_events_through_eventbridge_read_as_one_object(name):
    message = load_event(name)
    found = events.s3_eventbridge(message)
    assert found.bucket == message["detail"]["bucket"]["name"]
    assert found.event_name == message["detail-type"]


@pytest.mark.parametrize(
    "message",
    [
        {"Records": "x"},
        {"Records": [{"eventSource": "aws:sqs"}]},
        {"Records": [{"eventSource": "aws:s3", "s3": {"bucket": {}}}]},
        {"Records": [{"eventSource": "aws:s3", "s3": {"bucket": {"name": "b"}, "object": {"key": 7}}}]},
    ],
)
def test_what_is_not_an_s3_notification_is_named(message):
    with pytest.raises(events.EventShapeError):
        events.s3_notification(message)
