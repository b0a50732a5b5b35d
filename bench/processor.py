"""The stream processor against its floor and against the naive design (benchmarks 1 and 2),
and what each gzip level costs in CPU and in bytes stored.

The processor is the deployed handler (``stream_processor.handler.handle``) with the
function's own environment from function.json; only S3 is replaced, by an in-memory
sink behind a real boto3 client, so request building and signing are measured too. The
dedupe state is warm and full (``DEDUPE_MAX_IDS`` ids), as on a shard that runs at its
1,000 records/s: that is the state a 10,000-record batch meets.
"""

from __future__ import annotations

import binascii
import contextlib
import functools
import io
import os
import random
import zlib
from dataclasses import dataclass
from typing import Any

from bench import naive, timing, workload
from bench.report import Compared, Result, Section
from bench.sink import InMemoryS3
from tributary import lake

BUCKET = "tributary-bench-lake"
NAIVE_SAMPLE = 1000  # the naive design makes one PutObject per record: a sample is enough
LEVELS = (1, 2, 3, 4, 5, 6, 9)
TINY_BATCH = 10


def function_environment() -> dict[str, str]:
    """The stream processor's environment as Lambda would set it (function.json, plus the bucket)."""
    from stack import declarations

    spec = declarations.load_all()["stream_processor"]
    return {
        **spec.environment,
        "LAKE_BUCKET": BUCKET,
        "AWS_LAMBDA_FUNCTION_NAME": "tributary-bench-stream-processor",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
    }


@dataclass(slots=True)
class Writes:
    """What one invocation sent to S3."""

    puts: int
    gets: int
    lake_bytes: int
    lake_objects: int
    quarantine_objects: int
    state_bytes: int


class Processor:
    """The handler with a warm execution environment: clients made, dedupe state cached."""

    def __init__(self, state_ids: int | None = None, seed: int = 3) -> None:
        from stream_processor import handler
        from stream_processor.dedupe import DIGEST_BYTES, ShardState, Window
        from stream_processor.settings import Settings
        from tributary import aws

        self.handler = handler
        self.settings = Settings.from_env(os.environ)
        self.sink = InMemoryS3()
        self.client = self.sink.attach(aws.client("s3"))
        ids = self.settings.dedupe_max_ids if state_ids is None else state_ids
        rng = random.Random(seed)
        per_window = 10_000
        windows, first, before = [], 0, None
        for k in reversed(range(-(-ids // per_window))):
            count = min(per_window, ids - first)
            second = int(workload.START - 30.0 * (k + 1))
            # Started before the benchmark's batches (sequence -1): a warm shard, not a redelivery.
            fingerprints = rng.randbytes(DIGEST_BYTES * count)
            windows.append(Window(-1, -1, first, fingerprints, ((second, count),), before, second))
            first, before = first + count, second
        self.state_ids = first
        self._cached = ShardState(windows, first, int(workload.START - 30.0))
        self._cached.index()  # built, as a warm environment holds it
        self.state_key = f"{self.settings.state_prefix}/{workload.SHARD}.json.gz"
        self.state_blob = self._cached.encode()

    def warm(self) -> None:
        """Put back what the previous invocation left: the shard's state cached (its index
        built, as the handler keeps it) and unchanged in S3."""
        self.sink.reset()
        self.sink.objects[self.state_key] = self.state_blob
        self.sink.etags[self.state_key] = '"warm"'
        # Written by the previous invocation with this codec: nothing to delete under another ending.
        self.handler.store.warm(workload.SHARD, '"warm"', self._cached, self.settings.codec.name)

    def invoke(self, event: dict[str, Any]) -> Any:
        """One invocation on ``event`` as it stands; the log and metric lines go nowhere."""
        with contextlib.redirect_stdout(io.StringIO()):
            return self.handler.handle(event, None)

    def run(self, event: dict[str, Any]) -> dict[str, Any]:
        """One invocation from the warm state."""
        self.warm()
        return self.invoke(event)

    def case(self, event: dict[str, Any]) -> tuple[Any, Any]:
        """For ``timing.interleaved``: restore the warm state untimed, then time the invocation."""
        return self.warm, lambda: self.invoke(event)

    def writes(self) -> Writes:
        """What the last invocation wrote."""
        lake = {k: v for k, v in self.sink.objects.items() if k != self.state_key}
        prefix = self.settings.quarantine_prefix + "/"
        return Writes(
            puts=self.sink.requests["PUT"],
            gets=self.sink.requests["GET"],
            lake_bytes=sum(len(v) for v in lake.values()),
            lake_objects=sum(1 for k in lake if not k.startswith(prefix)),
            quarantine_objects=sum(1 for k in lake if k.startswith(prefix)),
            state_bytes=len(self.sink.objects.get(self.state_key, b"")),
        )

    def lines(self, prefix: str) -> list[bytes]:
        """The NDJSON lines of the last invocation's objects under ``prefix`` (lake or quarantine)."""
        prefix = prefix + "/"
        return [
            line
            for key, body in sorted(self.sink.objects.items())
            if key.startswith(prefix)
            for line in lake.decompress_object(key, body).splitlines()
        ]


def floor(event: dict[str, Any], level: int) -> bytes:
    """The least any processor must do: base64-decode every record, compress the bytes once."""
    a2b = binascii.a2b_base64
    decoded = [a2b(raw["kinesis"]["data"], strict_mode=True) for raw in event["Records"]]
    return zlib.compress(b"\n".join(decoded), level, wbits=31)


def naive_design(event: dict[str, Any], client: Any) -> Any:
    """The naive handler on ``event``, through a warm S3 client (one PutObject per record)."""
    return lambda: naive.handle(event, client, BUCKET)


def run(repeats: int, batch_records: int = workload.MAX_BATCH_RECORDS, state_ids: int | None = None) -> list[Section]:
    """Benchmarks 1 and 2, and the compression trade-off."""
    processor = Processor(state_ids)
    level = processor.settings.compression_level
    batch = workload.processor_batch(batch_records)
    maximal = workload.maximal_batch(limit=batch_records)
    aggregated = workload.maximal_batch(aggregate=True, limit=max(2, batch_records // 50))
    sample = {"Records": batch.event["Records"][: min(NAIVE_SAMPLE, batch_records)]}
    # What an invocation costs whatever its size: the fixed part of the cost model.
    tiny = {"Records": batch.event["Records"][:TINY_BATCH]}

    # Correctness first: every record lands once, in the lake or in the quarantine.
    response = processor.run(batch.event)
    landed = processor.lines(processor.settings.prefix)
    quarantined = processor.lines(processor.settings.quarantine_prefix)
    if response != {"batchItemFailures": []} or len(landed) + len(quarantined) != len(batch.records):
        raise AssertionError(f"the processor lost records: {response}, {len(landed)} + {len(quarantined)} lines")
    naive_run = naive_design(sample, processor.client)
    naive_run()
    naive_puts = processor.sink.requests["PUT"]
    processor.sink.reset()

    samples = timing.interleaved(
        {
            "processor": processor.case(batch.event),
            "floor": lambda: floor(batch.event, level),
            "processor_maximal": processor.case(maximal.event),
            "processor_tiny": processor.case(tiny),
            "processor_aggregated": processor.case(aggregated.event),
            "naive": naive_run,
        },
        repeats,
    )
    n = len(batch.records)
    processor_us = timing.median(samples["processor"]) / 1000 / n
    floor_us = timing.median(samples["floor"]) / 1000 / n
    maximal_us = timing.median(samples["processor_maximal"]) / 1000 / maximal.user_records
    naive_us = timing.median(samples["naive"]) / 1000 / len(sample["Records"])
    tiny_ms = timing.median(samples["processor_tiny"]) / 1e6
    aggregated_us = timing.median(samples["processor_aggregated"]) / 1000 / aggregated.user_records
    processor.run(aggregated.event)
    aggregated_writes = processor.writes()

    processor.run(maximal.event)
    maximal_writes = processor.writes()
    processor.run(batch.event)
    writes = processor.writes()

    requests_per_10k = (writes.puts + writes.gets) * 10_000 / n
    naive_requests_per_10k = naive_puts * 10_000 / len(sample["Records"])
    naive_bytes_per_10k = naive.body_bytes(batch.event) * 10_000 / n
    lake_bytes_per_10k = writes.lake_bytes * 10_000 / n

    floor_section = Section("1. processor vs the floor (10,000 records of ~1 KB)")
    floor_section.results = [
        Result(
            "floor / processor",
            floor_us / processor_us,
            "ratio",
            (Compared("processor", processor_us, "us/record"), Compared("floor", floor_us, "us/record")),
            ">= 0.75",
            f"gzip level {level}; floor = base64-decode every record and gzip the bytes once",
        ),
    ]
    floor_section.detail = {
        "records": n,
        "event_bytes": batch.payload_bytes,
        "compression_level": level,
        "processor_us_per_record": processor_us,
        "floor_us_per_record": floor_us,
        "processor_spread": timing.spread(samples["processor"]),
        "floor_spread": timing.spread(samples["floor"]),
        "dedupe_state_ids": processor.state_ids,
        "writes": _writes_dict(writes),
        "maximal_batch": {
            "kinesis_records": len(maximal.records),
            "user_records": maximal.user_records,
            "event_bytes": maximal.payload_bytes,
            "processor_us_per_record": maximal_us,
            "record_bytes": sum(len(r.data) for r in maximal.records) / len(maximal.records),
            "entry_overhead_bytes": workload.entry_overhead(),
            "writes": _writes_dict(maximal_writes),
        },
        "maximal_batch_aggregated": {
            "kinesis_records": len(aggregated.records),
            "user_records": aggregated.user_records,
            "event_bytes": aggregated.payload_bytes,
            "processor_us_per_record": aggregated_us,
            "writes": _writes_dict(aggregated_writes),
        },
        "invocation_ms": {"records": TINY_BATCH, "cpu_ms": tiny_ms},
    }

    naive_section = Section("2. processor vs the naive design (PutObject per record, no compression)")
    naive_section.results = [
        Result(
            "naive CPU / processor CPU",
            naive_us / processor_us,
            "ratio",
            (Compared("naive", naive_us, "us/record"), Compared("processor", processor_us, "us/record")),
        ),
        Result(
            "S3 requests per 10,000 records",
            requests_per_10k,
            "requests",
            (Compared("naive", naive_requests_per_10k, "requests"),),
        ),
        Result(
            "bytes stored per 10,000 records",
            lake_bytes_per_10k,
            "bytes",
            (Compared("naive", naive_bytes_per_10k, "bytes"),),
        ),
    ]
    naive_section.detail = {
        "naive_sample_records": len(sample["Records"]),
        "naive_us_per_record": naive_us,
        "processor_puts": writes.puts,
        "processor_gets": writes.gets,
        "state_object_bytes": writes.state_bytes,
    }
    compression = compression_levels(processor, batch.event, max(3, repeats // 2))
    return [floor_section, naive_section, compression]


def _writes_dict(writes: Writes) -> dict[str, int]:
    return {name: getattr(writes, name) for name in Writes.__slots__}


def compression_levels(processor: Processor, event: dict[str, Any], repeats: int) -> Section:
    """gzip levels on the processor's own NDJSON: CPU per record against bytes stored."""
    processor.run(event)
    body = b"".join(line + b"\n" for line in processor.lines(processor.settings.prefix))
    records = body.count(b"\n")
    samples = timing.interleaved(
        {str(level): functools.partial(zlib.compress, body, level, wbits=31) for level in LEVELS}, repeats
    )
    rows = []
    for level in LEVELS:
        size = len(zlib.compress(body, level, wbits=31))
        rows.append(
            {
                "level": level,
                "us_per_record": timing.median(samples[str(level)]) / 1000 / records,
                "bytes_per_record": size / records,
                "ratio": len(body) / size,
            }
        )
    section = Section("compression: gzip level on the lake's NDJSON")
    by_level = {row["level"]: row for row in rows}
    chosen = processor.settings.compression_level
    section.results = [
        Result(
            f"level {row['level']}",
            row["us_per_record"],
            "us/record",
            (Compared("stored", row["bytes_per_record"], "bytes/record"), Compared("ratio", row["ratio"], "x")),
        )
        for row in rows
    ]
    section.detail = {
        "uncompressed_bytes_per_record": len(body) / records,
        "levels": rows,
        "chosen_level": chosen,
        "chosen": by_level.get(chosen),
    }
    return section
