from __future__ import annotations

import pytest

from tributary import envelope

GOOD = {
    "id": "r-1",
    "type": "device.reading",
    "source": "device/sensor-0001",
    "time": "2026-11-22T10:15:30.123Z",
    "payload": {"temperature": 21.5},
}


def test_valid_record_is_returned_typed():
    record = envelope.validate(dict(GOOD))
    assert record == envelope.Envelope("r-1", "device.reading", "device/sensor-0001", GOOD["time"], GOOD["payload"])
    assert record.as_dict() == GOOD


def test_offsets_are_normalised_to_utc():
    record = envelope.validate({**GOOD, "time": "2026-11-22T01:15:30.5+02:00"})
    assert record.time == "2026-11-21T23:15:30.5Z"


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ([1, 2], "not_object"),
        ("text", "not_object"),
        ({k: v for k, v in GOOD.items() if k != "id"}, "missing_field"),
        ({**GOOD, "extra": 1}, "unknown_field"),
        ({**GOOD, "id": 7}, "bad_type"),
        ({**GOOD, "id": ""}, "empty_field"),
        ({**GOOD, "id": "x" * 129}, "too_long"),
        ({**GOOD, "payload": [1]}, "bad_type"),
        ({**GOOD, "time": "yesterday"}, "bad_time"),
        ({**GOOD, "time": "2026-11-22 10:15:30Z"}, "bad_time"),
        ({**GOOD, "time": "2026-11-22T10:15:30"}, "bad_time"),
        ({**GOOD, "time": "2026-02-30T10:15:30Z"}, "bad_time"),
        ({**GOOD, "time": "2026-11-22T24:00:00Z"}, "bad_time"),
        ({**GOOD, "time": 1732270530}, "bad_time"),
    ],
)
def test_invalid_records_say_why(record, reason):
    with pytest.raises(envelope.EnvelopeError) as caught:
        envelope.validate(record)
    assert caught.value.reason == reason
    assert caught.value.detail


# --- RFC 3339, as the RFC writes it and as producers in other languages send it ------------------


@pytest.mark.parametrize(
    ("sent", "normalised"),
    [
        # Go's time.RFC3339Nano, Java's Instant.toString(), .NET's "o" format: 7 to 9 digits.
        ("2026-11-22T10:15:30.1234567Z", "2026-11-22T10:15:30.1234567Z"),
        ("2026-11-22T10:15:30.123456789Z", "2026-11-22T10:15:30.123456789Z"),
        ("2026-11-22T12:15:30.123456789+02:00", "2026-11-22T10:15:30.123456789Z"),
        # RFC 3339 section 5.6: "T" and "Z" may be lowercase.
        ("2026-11-22t10:15:30z", "2026-11-22T10:15:30Z"),
        ("2026-11-22t10:15:30.5+00:00", "2026-11-22T10:15:30.5Z"),
        # RFC 3339 section 5.8's own examples, including its leap seconds.
        ("1985-04-12T23:20:50.52Z", "1985-04-12T23:20:50.52Z"),
        ("1996-12-19T16:39:57-08:00", "1996-12-20T00:39:57Z"),
        ("1990-12-31T23:59:60Z", "1990-12-31T23:59:59.999999999Z"),
        ("1990-12-31T15:59:60-08:00", "1990-12-31T23:59:59.999999999Z"),
        ("1937-01-01T12:00:27.87+00:20", "1937-01-01T11:40:27.87Z"),
        # "-00:00" is UTC with an unknown local offset.
        ("2026-11-22T10:15:30-00:00", "2026-11-22T10:15:30Z"),
        # The ends of the range, reached through an offset, and years before 1000 written in four digits.
        ("0001-01-01T00:59:59+00:59", "0001-01-01T00:00:59Z"),
        ("9999-12-31T22:59:59-01:00", "9999-12-31T23:59:59Z"),
        ("0999-03-01T00:30:00+01:00", "0999-02-28T23:30:00Z"),
    ],
)
def test_valid_rfc3339_times_are_accepted_and_normalised_to_utc(sent, normalised):
    assert envelope.validate({**GOOD, "time": sent}).time == normalised


@pytest.mark.parametrize(
    "sent",
    [
        # Offsets outside +-23:59.
        "2026-11-22T10:15:30+24:00",
        "2026-11-22T10:15:30+99:99",
        "2026-11-22T10:15:30-23:60",
        # Times that leave years 0001-9999 once the offset is applied.
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-01:00",
        # Digits that are not ASCII: Devanagari, full-width, Arabic-Indic.
        "2026-11-22T1\u0967:15:30Z",
        "\uff12\uff10\uff12\uff16-11-22T10:15:30Z",
        "2026-11-22T10:15:3\u0660Z",
        # A leap second anywhere but 23:59 UTC; ten fraction digits; no zone; a space for T.
        "2026-11-22T10:15:60Z",
        "1990-12-31T23:59:60+01:00",
        "2026-11-22T10:15:30.1234567890Z",
        "2026-11-22T10:15:30",
        "2026-11-22 10:15:30Z",
        "0000-01-01T00:00:00Z",
        "2026-11-22T10:15:30.Z",
        "2026-11-22T10:15:30Z\n",
    ],
)
def test_times_outside_rfc3339_or_the_utc_range_are_bad_time(sent):
    with pytest.raises(envelope.EnvelopeError) as caught:
        envelope.validate({**GOOD, "time": sent})
    assert caught.value.reason == "bad_time"
    assert caught.value.detail.encode("utf-8")


def test_details_of_refused_records_are_always_writable_text():
    # A lone surrogate in an unknown key must not make the reason itself unencodable.
    with pytest.raises(envelope.EnvelopeError) as caught:
        envelope.validate({**GOOD, "\ud800": 1})
    assert caught.value.reason == "unknown_field"
    caught.value.detail.encode("utf-8")
