"""The inputs every benchmark shares, built the way the system builds them.

Kinesis events come from ``stack.events`` (the shapes the local runtime and the test
fixtures use) holding records from ``tributary_cli.synthetic`` (what the producer CLI sends
with ``--synthetic``). Everything is deterministic for a seed.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from bench.prices import MAX_BATCH_RECORDS, MAX_INVOKE_PAYLOAD, SHARD_WRITE_RECORDS_PER_S
from stack.events import StreamRecord, kinesis_event, kinesis_stream_arn
from tributary import json_codec, kpl
from tributary_cli import synthetic

SHARD = "shardId-000000000007"
REGION = "us-east-1"
STREAM_ARN = kinesis_stream_arn("tributary-bench-events", REGION)
# What one invocation's records may take of the 6 MB: the event's envelope is ``{"Records":[...]}``.
RECORDS_BUDGET = MAX_INVOKE_PAYLOAD - len('{"Records":[]}')
# 09:00:05 UTC on 2026-11-22: a batch of 10,000 records at a shard's full rate stays in one hour.
START = 1_795_338_005.0
# Kinesis sequence numbers are 56-digit decimal strings.
FIRST_SEQUENCE = int("4965642734" + "0" * 46)


@dataclass(frozen=True, slots=True)
class Batch:
    """One Kinesis event for the processor, and what it was made of."""

    event: dict[str, Any]
    records: list[StreamRecord]
    user_records: int

    @property
    def payload_bytes(self) -> int:
        """The size of the event as Lambda counts it against the 6 MB limit (its JSON)."""
        return len(json.dumps(self.event, separators=(",", ":")))


def _stream_records(count: int, seed: int, malformed: float) -> Iterator[StreamRecord]:
    generated = synthetic.generate(
        count,
        seed=seed,
        malformed=malformed,
        devices=500,
        start=START,
        spread_seconds=count / SHARD_WRITE_RECORDS_PER_S,
    )
    for i, r in enumerate(generated):
        yield StreamRecord(
            r.data, r.device_id, str(FIRST_SEQUENCE + 2 * i), START + 0.5 + i / SHARD_WRITE_RECORDS_PER_S
        )


def stream_records(count: int, seed: int = 7, malformed: float = 0.01) -> list[StreamRecord]:
    """``count`` synthetic ~1 KB records as one shard at full rate would hold them."""
    return list(_stream_records(count, seed, malformed))


def batch(records: list[StreamRecord], user_records: int | None = None) -> Batch:
    """The Kinesis event the event source mapping would send for these records."""
    event = kinesis_event(records, SHARD, STREAM_ARN, REGION)
    return Batch(event, records, len(records) if user_records is None else user_records)


def processor_batch(count: int = MAX_BATCH_RECORDS, seed: int = 7, malformed: float = 0.01) -> Batch:
    """A batch of ``count`` realistic records (1% malformed, as a live stream might hold)."""
    return batch(stream_records(count, seed, malformed))


def entry_overhead() -> int:
    """Bytes an event entry adds around a record's base64 data (a 56-digit sequence number)."""
    return _entry_bytes(StreamRecord(b"", "sensor-00000", str(FIRST_SEQUENCE), START))


def _entry_bytes(record: StreamRecord) -> int:
    entry = kinesis_event([record], SHARD, STREAM_ARN, REGION)["Records"][0]
    return len(json.dumps(entry, separators=(",", ":"))) + 1  # and the comma between entries


def _aggregated(records: Iterable[StreamRecord]) -> Iterator[tuple[StreamRecord, int]]:
    """KPL aggregates of ``records`` as the producer packs them, each with its user record count."""
    aggregator = kpl.Aggregator()
    pending: list[StreamRecord] = []
    for record in records:
        done = aggregator.add(record.partition_key, record.data)
        for key, blob in done:
            yield StreamRecord(blob, key, "0", pending[0].arrival), len(pending)
            pending = []
        pending.append(record)
    for key, blob in aggregator.flush():
        yield StreamRecord(blob, key, "0", pending[0].arrival), len(pending)


def maximal_batch(seed: int = 7, aggregate: bool = False, limit: int = MAX_BATCH_RECORDS) -> Batch:
    """The largest batch Lambda delivers: ``limit`` Kinesis records or 6 MB of event, whichever comes first.

    With ``aggregate`` the Kinesis records are KPL aggregates of ~1 KB user records, as the
    producer sends them with ``--aggregate``.
    """
    budget = RECORDS_BUDGET
    records = _stream_records(limit * (60 if aggregate else 1), seed, malformed=0.0)
    units = _aggregated(records) if aggregate else ((r, 1) for r in records)
    chosen: list[StreamRecord] = []
    users = 0
    for unit, members in units:
        if len(chosen) == limit:
            break
        unit = StreamRecord(unit.data, unit.partition_key, str(FIRST_SEQUENCE + 2 * len(chosen)), unit.arrival)
        size = _entry_bytes(unit)
        if size > budget:
            break
        budget -= size
        chosen.append(unit)
        users += members
    return batch(chosen, users)


def small_records(count: int, seed: int = 11) -> list[tuple[bytes, str]]:
    """Small readings (about 200 bytes, the README's example), as a device fleet sends them."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        device = f"sensor-{rng.randrange(1000):05d}"
        second = int(START) + i // SHARD_WRITE_RECORDS_PER_S
        record = {
            "id": f"{device}-{i:09d}",
            "type": "device.reading",
            "source": f"iot/{device}",
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)) + f".{i % 1000:03d}Z",
            "payload": {
                "device_id": device,
                "temperature_c": round(rng.gauss(21, 3), 2),
                "humidity_pct": round(rng.uniform(20, 80), 1),
            },
        }
        out.append((json_codec.dumps(record), device))
    return out


def dynamodb_images(count: int, seed: int = 5) -> list[dict[str, dict[str, Any]]]:
    """Stream images as boto3 returns them: nested maps and lists, numbers, sets and binary."""
    from tributary import ddb

    rng = random.Random(seed)
    images = []
    for i in range(count):
        lines: list[dict[str, Any]] = [
            {
                "sku": f"SKU-{rng.randrange(10**6):06d}",
                "quantity": Decimal(rng.randint(1, 20)),
                "unit_price": Decimal(f"{rng.randint(1, 500)}.{rng.randint(0, 99):02d}"),
                "options": {"colour": rng.choice(["red", "blue", "black"]), "gift": rng.random() < 0.1},
            }
            for _ in range(rng.randint(1, 6))
        ]
        item = {
            "pk": f"customer#{rng.randrange(10**5):05d}",
            "sk": f"order#{i:09d}",
            "status": rng.choice(["placed", "paid", "shipped", "delivered"]),
            "version": Decimal(rng.randint(1, 50)),
            "total": sum((line["quantity"] * line["unit_price"] for line in lines), Decimal(0)),
            "created_at": Decimal(1_795_338_005 + i),
            "lines": lines,
            "shipping": {
                "address": {"street": f"{rng.randint(1, 300)} High Street", "city": "Leeds", "postcode": "LS1 4AP"},
                "method": rng.choice(["standard", "express"]),
                "eta_days": Decimal(rng.randint(1, 9)),
            },
            "tags": {rng.choice(["vip", "repeat", "promo", "b2b", "gift"]) for _ in range(3)},
            "scores": {Decimal(rng.randint(0, 1000)) / 10 for _ in range(3)},
            "thumbnail": rng.randbytes(rng.randint(16, 96)),
            "signatures": {rng.randbytes(8) for _ in range(2)},
            "notes": None if rng.random() < 0.7 else "leave at the door",
            "flags": [rng.random() < 0.5 for _ in range(3)],
        }
        images.append(ddb.to_item(item))
    return images
