"""The producer with and without KPL aggregation on 10,000 small records (benchmark 5).

The producer is ``tributary.producer.Producer`` itself; only Kinesis is replaced, by a
client that accepts every record and counts what it was sent.
"""

from __future__ import annotations

from typing import Any

from bench import timing, workload
from bench.report import Compared, Result, Section


class AcceptingKinesis:
    """A Kinesis client whose PutRecords accepts everything; it counts calls and records."""

    def __init__(self) -> None:
        self.calls = 0
        self.records = 0

    def list_shards(self, **kwargs: Any) -> dict[str, Any]:
        """One open shard over the whole hash key range, as a new one-shard stream has."""
        return {
            "Shards": [
                {
                    "ShardId": "shardId-000000000000",
                    "HashKeyRange": {"StartingHashKey": "0", "EndingHashKey": str(2**128 - 1)},
                    "SequenceNumberRange": {"StartingSequenceNumber": "0"},
                }
            ]
        }

    def put_records(self, StreamName: str, Records: list[dict[str, Any]], **kwargs: Any) -> dict[str, Any]:  # noqa: N803
        self.calls += 1
        self.records += len(Records)
        return {
            "FailedRecordCount": 0,
            "Records": [{"SequenceNumber": "1", "ShardId": "shardId-000000000000"}] * len(Records),
        }


def send(entries: list[Any], aggregate: bool) -> Any:
    """One producer run; its report."""
    from tributary.producer import Producer

    return Producer("bench", client=AcceptingKinesis(), aggregate=aggregate).send(entries)


def run(repeats: int, records: int = 10_000) -> Section:
    """Benchmark 5."""
    from tributary.producer import Entry

    entries = [Entry(data, key) for data, key in workload.small_records(records)]
    plain, aggregated = send(entries, False), send(entries, True)
    if not plain.sent == aggregated.sent == records or plain.failed or aggregated.failed:
        raise AssertionError(f"the producer lost records: {plain.as_dict()} {aggregated.as_dict()}")
    samples = timing.interleaved(
        {"plain": lambda: send(entries, False), "aggregated": lambda: send(entries, True)}, repeats
    )
    size = sum(len(e.data) for e in entries) / records
    scale = 10_000 / records

    def figures(report: Any) -> dict[str, float]:
        return {
            "records_per_call": report.sent / report.calls,
            "kinesis_records_per_10k": report.kinesis_records * scale,
            "payload_units_per_10k": report.payload_units * scale,
            "calls_per_10k": report.calls * scale,
        }

    off, on = figures(plain), figures(aggregated)
    us = {name: timing.median(values) / 1000 / records for name, values in samples.items()}
    section = Section(f"5. producer: 10,000 records of {size:.0f} bytes")
    section.results = [
        Result(
            "records per PutRecords call, aggregated",
            on["records_per_call"],
            "records",
            (Compared("plain", off["records_per_call"], "records"),),
        ),
        Result(
            "Kinesis records per 10,000, aggregated",
            on["kinesis_records_per_10k"],
            "records",
            (Compared("plain", off["kinesis_records_per_10k"], "records"),),
        ),
        Result(
            "25 KB payload units per 10,000, aggregated",
            on["payload_units_per_10k"],
            "units",
            (Compared("plain", off["payload_units_per_10k"], "units"),),
        ),
        Result(
            "producer CPU, aggregated", us["aggregated"], "us/record", (Compared("plain", us["plain"], "us/record"),)
        ),
    ]
    section.detail = {
        "record_bytes": size,
        "plain": off,
        "aggregated": on,
        "plain_us_per_record": us["plain"],
        "aggregated_us_per_record": us["aggregated"],
    }
    return section
