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
