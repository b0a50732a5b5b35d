"""The stream processor against its floor and against the naive design (benchmarks 1 and 2),
what each codec and level costs in CPU and in bytes stored, and the reference workload the
cost model normalises CPU time by.

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
from tributary import json_codec, lake

BUCKET = "tributary-bench-lake"
NAIVE_SAMPLE = 1000  # the naive design makes one PutObject per record: a sample is enough
# Codec and level pairs measured on the lake's NDJSON; the deployed default is gzip 6.
CODEC_LEVELS = (("gzip", 1), ("gzip", 4), ("gzip", 6), ("gzip", 9), ("zstd", 1), ("zstd", 3), ("zstd", 6), ("zstd", 9))
ZSTD_LEVEL = 3
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
    deletes: int  # the other codec's ending of each lake object, before its put (free, but waited for)
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

    def warm(self, codec: str = lake.DEFAULT_CODEC) -> None:
        """Put back what the previous invocation left: the shard's state cached (its index
        built, as the handler keeps it) and unchanged in S3; the function set to ``codec``."""
        os.environ["LAKE_CODEC"] = codec
        self.sink.reset()
        self.sink.objects[self.state_key] = self.state_blob
        self.sink.etags[self.state_key] = '"warm"'
        self.handler.store.warm(workload.SHARD, '"warm"', self._cached)

    def invoke(self, event: dict[str, Any]) -> Any:
        """One invocation on ``event`` as it stands; the log and metric lines go nowhere."""
        with contextlib.redirect_stdout(io.StringIO()):
            return self.handler.handle(event, None)

    def run(self, event: dict[str, Any], codec: str = lake.DEFAULT_CODEC) -> dict[str, Any]:
        """One invocation from the warm state."""
        self.warm(codec)
        return self.invoke(event)

    def case(self, event: dict[str, Any], codec: str = lake.DEFAULT_CODEC) -> tuple[Any, Any]:
        """For ``timing.interleaved``: restore the warm state untimed, then time the invocation."""
        return functools.partial(self.warm, codec), lambda: self.invoke(event)

    def writes(self) -> Writes:
        """What the last invocation wrote."""
        lake = {k: v for k, v in self.sink.objects.items() if k != self.state_key}
        prefix = self.settings.quarantine_prefix + "/"
        return Writes(
            puts=self.sink.requests["PUT"],
            gets=self.sink.requests["GET"],
            deletes=self.sink.requests["DELETE"],
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


def floor(event: dict[str, Any], level: int, codec: lake.Codec = lake.GZIP) -> bytes:
    """The least any processor must do: base64-decode every record, compress the bytes once."""
    a2b = binascii.a2b_base64
    decoded = [a2b(raw["kinesis"]["data"], strict_mode=True) for raw in event["Records"]]
    return codec.compress(b"\n".join(decoded), level)


# What the cost model scales CPU time by (bench/cost.py): a fixed mix of the processor's kinds
# of work (base64, JSON in and out, gzip), built once, the same on every machine.
_REFERENCE_DOCUMENTS = [
    {"id": f"ref-{i:06d}", "values": [i * 0.37 % 97.0 for _ in range(16)], "tag": "x" * (i % 40)} for i in range(2000)
]
_REFERENCE_LINES = b"".join(json_codec.dumps_line(d) for d in _REFERENCE_DOCUMENTS)
_REFERENCE_BASE64 = binascii.b2a_base64(_REFERENCE_LINES, newline=False)


def reference() -> int:
    """The reference workload; returns a checksum so that nothing is optimised away."""
    decoded = binascii.a2b_base64(_REFERENCE_BASE64, strict_mode=True)
    documents = [json_codec.loads(line) for line in decoded.splitlines()]
    written = b"".join(json_codec.dumps_line(d) for d in documents)
    return len(zlib.compress(written, 6, wbits=31))


def naive_design(event: dict[str, Any], client: Any) -> Any:
    """The naive handler on ``event``, through a warm S3 client (one PutObject per record)."""
    return lambda: naive.handle(event, client, BUCKET)


def run(repeats: int, batch_records: int = workload.MAX_BATCH_RECORDS, state_ids: int | None = None) -> list[Section]:
    """Benchmarks 1 and 2, the codecs, and the reference workload."""
    processor = Processor(state_ids)
    level = processor.settings.level
    batch = workload.processor_batch(batch_records)
    maximal = workload.maximal_batch(limit=batch_records)
    aggregated = workload.maximal_batch(aggregate=True, limit=max(2, batch_records // 50))
    sample = {"Records": batch.event["Records"][: min(NAIVE_SAMPLE, batch_records)]}
    # What an invocation costs whatever its size: the fixed part of the cost model.
    tiny = {"Records": batch.event["Records"][:TINY_BATCH]}

    # Correctness first: every record lands once, in the lake or in the quarantine, with either codec.
    for codec in (lake.DEFAULT_CODEC, "zstd"):
        response = processor.run(batch.event, codec)
        landed = processor.lines(processor.settings.prefix)
        quarantined = processor.lines(processor.settings.quarantine_prefix)
        if response != {"batchItemFailures": []} or len(landed) + len(quarantined) != len(batch.records):
            raise AssertionError(f"the processor lost records: {response}, {len(landed)} + {len(quarantined)} lines")
    processor.warm()
    naive_run = naive_design(sample, processor.client)
    naive_run()
    naive_puts = processor.sink.requests["PUT"]
    processor.sink.reset()

    zstd_level = lake.ZSTD.level(None)
    samples = timing.interleaved(
        {
            "processor": processor.case(batch.event),
            "floor": lambda: floor(batch.event, level),
            "processor_zstd": processor.case(batch.event, "zstd"),
            "floor_zstd": lambda: floor(batch.event, zstd_level, lake.ZSTD),
            "processor_maximal": processor.case(maximal.event),
            "processor_maximal_zstd": processor.case(maximal.event, "zstd"),
            "processor_tiny": processor.case(tiny),
            "processor_aggregated": processor.case(aggregated.event),
            "naive": naive_run,
            "reference": reference,
        },
        repeats,
    )
    processor.warm()
    n = len(batch.records)
    processor_us = timing.median(samples["processor"]) / 1000 / n
    floor_us = timing.median(samples["floor"]) / 1000 / n
    processor_zstd_us = timing.median(samples["processor_zstd"]) / 1000 / n
    floor_zstd_us = timing.median(samples["floor_zstd"]) / 1000 / n
    maximal_us = timing.median(samples["processor_maximal"]) / 1000 / maximal.user_records
    maximal_zstd_us = timing.median(samples["processor_maximal_zstd"]) / 1000 / maximal.user_records
    naive_us = timing.median(samples["naive"]) / 1000 / len(sample["Records"])
    tiny_ms = timing.median(samples["processor_tiny"]) / 1e6
    aggregated_us = timing.median(samples["processor_aggregated"]) / 1000 / aggregated.user_records
    reference_s = timing.median(samples["reference"]) / 1e9
    processor.run(aggregated.event)
    aggregated_writes = processor.writes()

    processor.run(maximal.event, "zstd")
    maximal_zstd_writes = processor.writes()
    processor.run(maximal.event)
    maximal_writes = processor.writes()
    processor.run(batch.event, "zstd")
    zstd_writes = processor.writes()
    processor.run(batch.event)
    writes = processor.writes()
    firehose_bytes = len(floor(batch.event, level))  # Firehose's GZIP of the same records, as sent

    requests_per_10k = (writes.puts + writes.gets) * 10_000 / n
    naive_requests_per_10k = naive_puts * 10_000 / len(sample["Records"])
    naive_bytes_per_10k = naive.body_bytes(batch.event) * 10_000 / n
    lake_bytes_per_10k = writes.lake_bytes * 10_000 / n

    compression = compression_levels(processor, batch.event, max(3, repeats // 2))
    by_codec = {(row["codec"], row["level"]): row for row in compression.detail["levels"]}
    # The processor's work besides compressing its own lines: what making it faster can act on.
    other_us = processor_us - by_codec[(lake.DEFAULT_CODEC, level)]["us_per_record"]
    other_zstd_us = processor_zstd_us - by_codec[("zstd", zstd_level)]["us_per_record"]

    steps = profile(processor, batch.event, repeats)

    floor_section = Section("1. processor vs the floor (10,000 records of ~1 KB)")
    floor_section.results = [
        Result(
            "floor / processor",
            floor_us / processor_us,
            "ratio",
            (Compared("processor", processor_us, "us/record"), Compared("floor", floor_us, "us/record")),
            ">= 0.85",
            f"gzip level {level} on both sides; floor = base64-decode every record and compress the bytes once; "
            f"spread (half the interquartile range) processor {timing.spread(samples['processor']):.1%}, "
            f"floor {timing.spread(samples['floor']):.1%} over {repeats} interleaved rounds",
        ),
        Result(
            "floor / processor, zstd",
            floor_zstd_us / processor_zstd_us,
            "ratio",
            (Compared("processor", processor_zstd_us, "us/record"), Compared("floor", floor_zstd_us, "us/record")),
            note=f"zstd level {zstd_level} on both sides: compression no longer hides the rest",
        ),
        Result(
            "processor CPU, zstd / gzip",
            processor_zstd_us / processor_us,
            "ratio",
            (
                Compared(f"zstd {zstd_level}", processor_zstd_us, "us/record"),
                Compared(f"gzip {level}", processor_us, "us/record"),
            ),
            "<= 0.333",
        ),
        Result(
            "processor work besides compression",
            other_us,
            "us/record",
            (
                Compared("with zstd", other_zstd_us, "us/record"),
                Compared(f"compressing its lines, gzip {level}", processor_us - other_us, "us/record"),
            ),
            note="decode, validation, JSON, grouping, the dedupe index, requests: the processor's time less "
            "compressing its own lines (the compression table)",
        ),
        Result(
            "where an invocation's time goes (gzip 6): compression's share",
            steps["compress"] / steps["invocation"],
            "ratio",
            (
                Compared("decode (base64, KPL)", steps["decode"], "us/record"),
                Compared("parse, validate, transform, dedupe, group", steps["classify_and_group"], "us/record"),
                Compared("compress", steps["compress"], "us/record"),
                Compared("requests, state, logs", steps["requests_state_and_logs"], "us/record"),
            ),
            note="each step timed on its own, interleaved",
        ),
    ]
    floor_section.detail = {
        "records": n,
        "event_bytes": batch.payload_bytes,
        "compression_level": level,
        "zstd_level": zstd_level,
        "processor_us_per_record": processor_us,
        "floor_us_per_record": floor_us,
        "processor_zstd_us_per_record": processor_zstd_us,
        "floor_zstd_us_per_record": floor_zstd_us,
        "other_us_per_record": other_us,
        "other_zstd_us_per_record": other_zstd_us,
        "profile_us_per_record": steps,
        "processor_spread": timing.spread(samples["processor"]),
        "floor_spread": timing.spread(samples["floor"]),
        "processor_zstd_spread": timing.spread(samples["processor_zstd"]),
        "samples_ns": {name: values for name, values in samples.items() if name.startswith(("processor", "floor"))},
        "dedupe_state_ids": processor.state_ids,
        "writes": _writes_dict(writes),
        "writes_zstd": _writes_dict(zstd_writes),
        "firehose_gzip_bytes_per_record": firehose_bytes / n,
        "reference_s": reference_s,
        "reference_spread": timing.spread(samples["reference"]),
        "maximal_batch": {
            "kinesis_records": len(maximal.records),
            "user_records": maximal.user_records,
            "event_bytes": maximal.payload_bytes,
            "processor_us_per_record": maximal_us,
            "processor_zstd_us_per_record": maximal_zstd_us,
            "record_bytes": sum(len(r.data) for r in maximal.records) / len(maximal.records),
            "entry_overhead_bytes": workload.entry_overhead(),
            "writes": _writes_dict(maximal_writes),
            "writes_zstd": _writes_dict(maximal_zstd_writes),
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
    return [floor_section, naive_section, compression]


def profile(processor: Processor, event: dict[str, Any], repeats: int) -> dict[str, float]:
    """Where the processor's time goes, µs per record, each step timed on its own (interleaved):
    decoding the Kinesis records, planning (decode again, then parse, validate, transform,
    dedupe and group), compressing the groups' lines, and what is left of a whole invocation
    (the S3 requests and their signing, the state, the log and metric lines)."""
    from stream_processor.plan import plan_batch
    from stream_processor.transform import transform
    from tributary import kinesis

    settings = processor.settings
    records = event["Records"]
    start = int(records[0]["kinesis"]["sequenceNumber"])
    dedupes: list[Any] = []

    def fresh_dedupe() -> None:
        dedupes[:] = [processor._cached.batch(settings.dedupe_window_s, settings.dedupe_max_ids, start)]

    planned = plan_batch(
        records, settings, transform, processor._cached.batch(settings.dedupe_window_s, settings.dedupe_max_ids, start)
    )
    bodies = [b"".join(line.data for line in group.lines) for group in planned.groups]
    level = settings.level
    samples = timing.interleaved(
        {
            "invocation": processor.case(event),
            "decode": lambda: kinesis.decode_batch(records),
            "plan": (fresh_dedupe, lambda: plan_batch(records, settings, transform, dedupes[0])),
            "compress": lambda: [settings.codec.compress(body, level) for body in bodies],
        },
        repeats,
    )
    processor.warm()
    us = {name: timing.median(values) / 1000 / len(records) for name, values in samples.items()}
    return {
        "decode": us["decode"],
        "classify_and_group": us["plan"] - us["decode"],
        "compress": us["compress"],
        "requests_state_and_logs": us["invocation"] - us["plan"] - us["compress"],
        "invocation": us["invocation"],
    }


def _writes_dict(writes: Writes) -> dict[str, int]:
    return {name: getattr(writes, name) for name in Writes.__slots__}


def compression_levels(processor: Processor, event: dict[str, Any], repeats: int) -> Section:
    """Each codec and level on the processor's own NDJSON, in one interleaved run: CPU per
    record against bytes stored."""
    processor.run(event)
    body = b"".join(line + b"\n" for line in processor.lines(processor.settings.prefix))
    records = body.count(b"\n")
    codecs = {name: lake.codec(name) for name, _ in CODEC_LEVELS}
    samples = timing.interleaved(
        {f"{name} {level}": functools.partial(codecs[name].compress, body, level) for name, level in CODEC_LEVELS},
        repeats,
    )
    rows: list[dict[str, Any]] = []
    for name, level in CODEC_LEVELS:
        size = len(codecs[name].compress(body, level))
        rows.append(
            {
                "codec": name,
                "level": level,
                "us_per_record": timing.median(samples[f"{name} {level}"]) / 1000 / records,
                "bytes_per_record": size / records,
                "ratio": len(body) / size,
            }
        )
    section = Section("compression: each codec and level on the lake's NDJSON")
    chosen = (processor.settings.codec.name, processor.settings.level)
    section.results = [
        Result(
            f"{row['codec']} level {row['level']}",
            row["us_per_record"],
            "us/record",
            (Compared("stored", row["bytes_per_record"], "bytes/record"), Compared("ratio", row["ratio"], "x")),
        )
        for row in rows
    ]
    section.detail = {
        "uncompressed_bytes_per_record": len(body) / records,
        "levels": rows,
        "chosen": dict(zip(("codec", "level"), chosen, strict=True)),
    }
    return section
