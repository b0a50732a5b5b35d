"""Writes the generated Kinesis fixtures next to this file.

    .venv/bin/python -m tests.events.generate

The fixtures are built with the same builders the local runtime uses (stack/events.py);
tests/stack/test_fixtures.py fails if the files and this script disagree.
"""

from __future__ import annotations

import json
from pathlib import Path

from stack.events import StreamRecord, kinesis_event, kinesis_stream_arn
from tributary import json_codec, kpl

HERE = Path(__file__).parent
SHARD = "shardId-000000000001"
ARN = kinesis_stream_arn("tributary-dev-events", "eu-west-1")
ARRIVAL = 1_795_342_530.25


def envelope(i: int, hour: int = 10) -> dict:
    return {
        "id": f"r-{i}",
        "type": "device.reading",
        "source": f"iot/sensor-{i:05d}",
        "time": f"2026-11-22T{hour:02d}:15:{i % 60:02d}.000Z",
        "payload": {"device_id": f"sensor-{i:05d}", "temperature_c": 20 + i / 10},
    }


def aggregated() -> dict:
    """Two plain records around one KPL aggregate of three."""
    inner = [(f"sensor-{i:05d}", json_codec.dumps(envelope(i, 11))) for i in (2, 3, 4)]
    seq = "4965642734000000000000000000000000000000000000000{}".format
    records = [
        StreamRecord(json_codec.dumps(envelope(1)), "sensor-00001", seq(1), ARRIVAL),
        StreamRecord(kpl.encode(inner), "sensor-00002", seq(2), ARRIVAL + 1),
        StreamRecord(json_codec.dumps(envelope(5, 12)), "sensor-00005", seq(3), ARRIVAL + 2),
    ]
    return kinesis_event(records, SHARD, ARN, "eu-west-1")


BAD = [
    ("not_json", b'{"id": "r-1", "type": "device.reading"'),
    ("not_json", b"\xff\xfe\x00binary"),
    ("not_object", b'["r-1", "sensor-00001"]'),
    ("missing_field", json_codec.dumps({k: v for k, v in envelope(1).items() if k != "type"})),
    ("unknown_field", json_codec.dumps({**envelope(1), "extra": True})),
    ("bad_type", json_codec.dumps({**envelope(1), "payload": "21.5"})),
    ("empty_field", json_codec.dumps({**envelope(1), "source": ""})),
    ("too_long", json_codec.dumps({**envelope(1), "id": "x" * 200})),
    ("bad_time", json_codec.dumps({**envelope(1), "time": "2026-13-01T00:00:00Z"})),
    # Over the 65,536-byte MAX_RECORD_BYTES the handler test sets.
    ("oversize", json_codec.dumps({**envelope(1), "payload": {"blob": "z" * 70_000}})),
    ("kpl_digest_mismatch", kpl.encode([("k", b"{}")])[:-1] + b"\x00"),
    ("kpl_truncated", kpl.MAGIC + b"\x01\x02"),
]


def bad_records() -> dict:
    """One record of every kind the processor quarantines, and one with data that is not base64."""
    records = [
        StreamRecord(data, "sensor-00009", f"4965642734000000000000000000000000000000000000{100 + i:04d}", ARRIVAL)
        for i, (_, data) in enumerate(BAD)
    ]
    event = kinesis_event(records, SHARD, ARN, "eu-west-1")
    broken = json.loads(json.dumps(event["Records"][0]))
    broken["kinesis"]["sequenceNumber"] = "49656427340000000000000000000000000000000000000200"
    broken["eventID"] = f"{SHARD}:{broken['kinesis']['sequenceNumber']}"
    broken["kinesis"]["data"] = "this is not base64!"
    event["Records"].append(broken)
    return event


def expected_bad_reasons() -> list[str]:
    return [reason for reason, _ in BAD] + ["bad_base64"]


FIXTURES = {"kinesis-aggregated.json": aggregated, "kinesis-bad-records.json": bad_records}


def main() -> None:
    for name, build in FIXTURES.items():
        (HERE / name).write_text(json.dumps(build(), indent=2) + "\n")


if __name__ == "__main__":
    main()
