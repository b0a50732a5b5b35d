"""Synthetic IoT-style events (about 1 KB each), with a chosen share of malformed ones.

Deterministic for a given seed, so a load test or a local run can be repeated.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from dataclasses import dataclass

from tributary import json_codec

MALFORMATIONS = ("not_json", "missing_field", "bad_time", "not_object", "bad_type")


@dataclass(frozen=True, slots=True)
class SyntheticRecord:
    """One generated record: its bytes, its device (the partition key), and whether it is malformed."""

    data: bytes
    device_id: str
    malformed: str | None


def _iso(epoch: float) -> str:
    second = int(epoch)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)) + f".{int((epoch - second) * 1000):03d}Z"


def reading(rng: random.Random, index: int, device: str, epoch: float, id_prefix: str = "") -> dict:
    """One well-formed device reading in the envelope."""
    return {
        "id": f"{id_prefix}{device}-{index:09d}",
        "type": "device.reading",
        "source": f"iot/{device}",
        "time": _iso(epoch),
        "payload": {
            "device_id": device,
            "firmware": f"{rng.randint(1, 4)}.{rng.randint(0, 20)}.{rng.randint(0, 99)}",
            "battery_pct": rng.randint(1, 100),
            "rssi_dbm": rng.randint(-110, -40),
            "location": {"lat": round(rng.uniform(-90, 90), 6), "lon": round(rng.uniform(-180, 180), 6)},
            "status": rng.choice(["ok", "ok", "ok", "degraded", "maintenance"]),
            "tags": [rng.choice(["roof", "basement", "lab", "field", "hall"]) for _ in range(3)],
            "metrics": {
                name: [round(rng.gauss(20, 5), 3) for _ in range(14)]
                for name in ("temperature_c", "humidity_pct", "pressure_hpa", "co2_ppm", "pm25_ugm3", "voc_ppb")
            },
        },
    }


def _malform(kind: str, record: dict) -> bytes:
    if kind == "not_json":
        return json_codec.dumps(record)[:-7]
    if kind == "missing_field":
        record.pop("source")
    elif kind == "bad_time":
        record["time"] = "yesterday at noon"
    elif kind == "not_object":
        return json_codec.dumps([record["id"], record["payload"]["device_id"]])
    elif kind == "bad_type":
        record["payload"] = "not an object"
    return json_codec.dumps(record)


def generate(
    count: int,
    seed: int = 0,
    malformed: float = 0.0,
    devices: int = 100,
    start: float | None = None,
    spread_seconds: float = 3600.0,
    id_prefix: str = "",
) -> Iterator[SyntheticRecord]:
    """``count`` records from ``devices`` devices, event times spread over ``spread_seconds``."""
    if not 0.0 <= malformed <= 1.0:
        raise ValueError("malformed is a fraction between 0 and 1")
    rng = random.Random(seed)
    base = time.time() - spread_seconds if start is None else start
    for index in range(count):
        device = f"sensor-{rng.randrange(devices):05d}"
        epoch = base + spread_seconds * index / max(count, 1)
        record = reading(rng, index, device, epoch, id_prefix)
        if rng.random() < malformed:
            kind = rng.choice(MALFORMATIONS)
            yield SyntheticRecord(_malform(kind, record), device, kind)
        else:
            yield SyntheticRecord(json_codec.dumps(record), device, None)
