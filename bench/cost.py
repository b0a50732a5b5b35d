"""Cost per million records and the scaling table, from the figures measured in this run (benchmark 6).

The model of one invocation of the stream processor:

- CPU: a fixed part (measured on a 10-record batch: state lookup and write, the log and
  metric lines) plus a part per record (measured on the maximal batch), scaled by record
  size for other sizes. One vCPU of Lambda is taken to be one core of the machine the
  bench ran on; that is an assumption, stated in docs/performance.md.
- Wall time: Lambda gives a function ``memory / 1,769 MB`` of a vCPU (all of one from
  1,769 MB), so CPU time stretches by the inverse below that; each S3 request adds
  ``S3_REQUEST_SECONDS`` of waiting, which is assumed, not measured.
- Billed: wall time rounded up to the millisecond, times memory, at the GB-second price;
  plus the request price; plus the S3 requests the processor made (counted by the sink).
- Batch size: the declared ``batch_size`` (``function.json``) or 6 MB of event, whichever
  comes first; each record costs its base64 size plus the event's fixed fields (measured)
  against the 6 MB. The batching window is the declared one.

Firehose, for the same records: ingestion billed per GB with every record rounded up to
5 KB, plus dynamic partitioning (per GB and per object delivered) when it partitions by
event time as tributary does. When Firehose reads the same Kinesis stream, the stream's
cost is common to both and left out; the full pipeline is in the scaling table.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

from bench import prices, workload
from bench.report import Compared, Result, Section

# Assumed, not measured: a PutObject of about a megabyte, or a conditional GET, from Lambda
# in the bucket's region. docs/performance.md shows how the cost moves with it.
S3_REQUEST_SECONDS = 0.03
RECORD_BYTES = 1024
HOURS_PER_MONTH = 730
# A provisioned stream is sized to run at this share of its shards' write limits: partition
# keys never spread load perfectly evenly.
SHARD_UTILISATION = 0.8
# The processor must keep up with its shard with room to spare; above this busy share,
# add batches per shard (the parallelization factor).
BUSY_TARGET = 0.5
# Firehose buffers up to this much per partition before it writes an object.
FIREHOSE_BUFFER_BYTES = 128 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Measured:
    """What the cost model takes from this run's measurements."""

    fixed_cpu_s: float
    cpu_s_per_record: float
    record_bytes: float
    entry_overhead_bytes: float
    puts_per_invocation: float
    gets_per_invocation: float
    stored_bytes_per_record: float
    state_bytes_per_invocation: float
    memory_mb: int
    declared_batch_size: int
    declared_window_s: float
    dedupe_window_s: float
    dedupe_max_ids: int
    aggregated_records_per_invocation: int
    aggregated_cpu_s_per_record: float
    level_1_saves_s_per_record: float
    level_1_stored_bytes_per_record: float

    def cpu_s(self, records: int, record_bytes: float) -> float:
        """CPU seconds for one invocation of ``records`` records of ``record_bytes``."""
        return self.fixed_cpu_s + records * self.cpu_s_per_record * record_bytes / self.record_bytes


def measured_from(sections: list[Section]) -> Measured:
    """Pick the figures the model needs out of the benchmark sections."""
    from stack import declarations

    floor = next(s for s in sections if s.title.startswith("1."))
    maximal = floor.detail["maximal_batch"]
    tiny = floor.detail["invocation_ms"]
    fixed = tiny["cpu_ms"] / 1000
    per_record = max(
        0.0, (maximal["processor_us_per_record"] * maximal["user_records"] / 1e6 - fixed) / maximal["user_records"]
    )
    writes = maximal["writes"]
    aggregated = floor.detail["maximal_batch_aggregated"]
    compression = next(s for s in sections if s.title.startswith("compression"))
    levels = {row["level"]: row for row in compression.detail["levels"]}
    chosen = levels[floor.detail["compression_level"]]
    spec = declarations.load_all()["stream_processor"]
    return Measured(
        fixed_cpu_s=fixed,
        cpu_s_per_record=per_record,
        record_bytes=maximal["record_bytes"],
        entry_overhead_bytes=maximal["entry_overhead_bytes"],
        puts_per_invocation=writes["puts"],
        gets_per_invocation=writes["gets"],
        stored_bytes_per_record=writes["lake_bytes"] / maximal["user_records"],
        state_bytes_per_invocation=writes["state_bytes"],
        memory_mb=spec.memory_mb,
        declared_batch_size=int(spec.trigger.settings.get("batch_size", 100)),
        declared_window_s=float(spec.trigger.settings.get("maximum_batching_window_s", 0)),
        dedupe_window_s=float(spec.environment.get("DEDUPE_WINDOW_SECONDS", 300)),
        dedupe_max_ids=int(spec.environment.get("DEDUPE_MAX_IDS", 100_000)),
        aggregated_records_per_invocation=aggregated["user_records"],
        aggregated_cpu_s_per_record=max(
            0.0,
            (aggregated["processor_us_per_record"] * aggregated["user_records"] / 1e6 - fixed)
            / aggregated["user_records"],
        ),
        level_1_saves_s_per_record=(chosen["us_per_record"] - levels[1]["us_per_record"]) / 1e6,
        level_1_stored_bytes_per_record=levels[1]["bytes_per_record"],
    )


def records_per_invocation(m: Measured, record_bytes: float, batch_size: int = prices.MAX_BATCH_RECORDS) -> int:
    """The event source mapping's batch: ``batch_size`` records or 6 MB of event, whichever comes first."""
    entry = m.entry_overhead_bytes + 4 * math.ceil(record_bytes / 3)
    return max(1, min(batch_size, int(workload.RECORDS_BUDGET // entry)))


def duration_price(arch: str) -> float:
    return (prices.LAMBDA_GB_SECOND_ARM if arch == "arm64" else prices.LAMBDA_GB_SECOND_X86).value


def invocation(
    m: Measured, records: int, record_bytes: float, memory_mb: int, arch: str, request_s: float = S3_REQUEST_SECONDS
) -> dict[str, float]:
    """Wall time and cost of one invocation, by part."""
    cpu = m.cpu_s(records, record_bytes)
    share = min(1.0, memory_mb / prices.LAMBDA_MB_PER_VCPU)
    requests = m.puts_per_invocation + m.gets_per_invocation
    wall = cpu / share + requests * request_s
    billed = math.ceil(wall * 1000) / 1000
    return {
        "records": records,
        "cpu_s": cpu,
        "wall_s": wall,
        "duration": billed * memory_mb / 1024 * duration_price(arch),
        "request": prices.LAMBDA_REQUEST.value,
        "s3_put": m.puts_per_invocation * prices.S3_PUT.value,
        "s3_get": m.gets_per_invocation * prices.S3_GET.value,
    }


def tributary_per_million(
    m: Measured,
    record_bytes: float = RECORD_BYTES,
    memory_mb: int | None = None,
    arch: str = "arm64",
    batch_size: int | None = None,
    request_s: float = S3_REQUEST_SECONDS,
    records: int | None = None,
) -> dict[str, float]:
    """USD per million records for the stream → lake leg, by part (full batches of the declared size)."""
    records = records or records_per_invocation(m, record_bytes, batch_size or m.declared_batch_size)
    one = invocation(m, records, record_bytes, memory_mb or m.memory_mb, arch, request_s)
    invocations = 1e6 / records
    parts = {k: one[k] * invocations for k in ("duration", "request", "s3_put", "s3_get")}
    return {**parts, "total": sum(parts.values()), "records_per_invocation": records, "wall_s": one["wall_s"]}


def variants(m: Measured) -> dict[str, dict[str, float]]:
    """What the cost per million 1 KB records would be with other choices, from the same measurements."""
    without_dedupe = replace(m, puts_per_invocation=m.puts_per_invocation - 1, gets_per_invocation=0)
    aggregated_records = int(m.aggregated_records_per_invocation * m.record_bytes / RECORD_BYTES)

    def aggregated(base: Measured) -> dict[str, float]:
        return tributary_per_million(
            replace(base, cpu_s_per_record=base.aggregated_cpu_s_per_record), records=aggregated_records
        )

    level_1 = replace(m, cpu_s_per_record=m.cpu_s_per_record - m.level_1_saves_s_per_record)
    return {
        "as deployed": tributary_per_million(m),
        "a bad record in every batch (one more PUT)": tributary_per_million(
            replace(m, puts_per_invocation=m.puts_per_invocation + 1)
        ),
        "KPL-aggregated producer": aggregated(m),
        "gzip level 1": tributary_per_million(level_1),
        "dedupe off": tributary_per_million(without_dedupe),
        "dedupe off, KPL-aggregated producer": aggregated(without_dedupe),
        "dedupe off, aggregated, gzip level 1": aggregated(
            replace(
                without_dedupe, aggregated_cpu_s_per_record=m.aggregated_cpu_s_per_record - m.level_1_saves_s_per_record
            )
        ),
    }


def firehose_per_million(record_bytes: float = RECORD_BYTES, partitioning: bool = True) -> dict[str, float]:
    """USD per million records through Firehose (ingestion, and dynamic partitioning if used)."""
    billed = math.ceil(record_bytes / prices.FIREHOSE_INCREMENT_BYTES) * prices.FIREHOSE_INCREMENT_BYTES
    parts = {"ingestion": 1e6 * billed / prices.GB * prices.FIREHOSE_INGEST_GB.value}
    if partitioning:
        data = 1e6 * record_bytes
        parts["partitioning_gb"] = data / prices.GB * prices.FIREHOSE_PARTITIONING_GB.value
        objects = math.ceil(data / FIREHOSE_BUFFER_BYTES)
        parts["partitioning_objects"] = objects * prices.FIREHOSE_PARTITIONING_OBJECT.value
    return {**parts, "total": sum(parts.values())}


def kinesis_monthly(events_per_s: float, record_bytes: float, on_demand: bool) -> dict[str, float]:
    """The stream itself for a month at a steady rate (shared by tributary and Firehose-from-Kinesis)."""
    records = events_per_s * 3600 * HOURS_PER_MONTH
    if on_demand:
        written = records * math.ceil(record_bytes / prices.KINESIS_ON_DEMAND_INCREMENT_BYTES) * 1024
        return {
            "stream_hours": HOURS_PER_MONTH * prices.KINESIS_ON_DEMAND_STREAM_HOUR.value,
            "ingest": written / prices.GB * prices.KINESIS_ON_DEMAND_INGEST_GB.value,
            "retrieval": records * record_bytes / prices.GB * prices.KINESIS_ON_DEMAND_RETRIEVAL_GB.value,
        }
    units = records * math.ceil(record_bytes / prices.KINESIS_PAYLOAD_UNIT_BYTES)
    return {
        "shard_hours": shards(events_per_s, record_bytes) * HOURS_PER_MONTH * prices.KINESIS_SHARD_HOUR.value,
        "put_payload_units": units * prices.KINESIS_PUT_PAYLOAD_UNIT.value,
    }


def shards(events_per_s: float, record_bytes: float) -> int:
    """Provisioned shards for a steady rate: the tighter of the records/s and bytes/s limits."""
    by_records = events_per_s / prices.SHARD_WRITE_RECORDS_PER_S
    by_bytes = events_per_s * record_bytes / prices.SHARD_WRITE_BYTES_PER_S
    return max(1, math.ceil(max(by_records, by_bytes) / SHARD_UTILISATION))


def scale(m: Measured, events_per_s: float, arch: str = "arm64", record_bytes: float = RECORD_BYTES) -> dict[str, Any]:
    """One row of docs/scaling.md: the stream, the function and the monthly bill at a steady rate,
    with the declared batch size and batching window."""
    batch_size, window_s = m.declared_batch_size, m.declared_window_s
    shard_count = shards(events_per_s, record_bytes)
    per_shard = events_per_s / shard_count
    # A shard's batch closes at 10,000 records, 6 MB, or when the batching window ends.
    batch = max(1, min(records_per_invocation(m, record_bytes, batch_size), math.floor(per_shard * window_s)))
    one = invocation(m, batch, record_bytes, m.memory_mb, arch)
    invocations_per_s = events_per_s / batch
    busy = per_shard / batch * one["wall_s"]  # share of the time one shard's batch is running
    factor = min(prices.MAX_PARALLELIZATION_FACTOR, max(1, math.ceil(busy / BUSY_TARGET)))
    records_month = events_per_s * 3600 * HOURS_PER_MONTH
    lake_objects_per_invocation = m.puts_per_invocation - 1  # one PUT is the dedupe state
    leg = {k: one[k] * invocations_per_s * 3600 * HOURS_PER_MONTH for k in ("duration", "request", "s3_put", "s3_get")}
    firehose = firehose_per_million(record_bytes, partitioning=True)["total"] * records_month / 1e6
    stored_gb = records_month * m.stored_bytes_per_record / prices.GB
    # Every batch overwrites its shard's dedupe state; the lake bucket keeps the old versions
    # for a day (terraform/main.tf), so about a day's worth is always stored.
    state_versions_gb = invocations_per_s * 86400 * m.state_bytes_per_invocation / prices.GB
    state_versions = state_versions_gb * prices.S3_STORAGE_GB_MONTH.value
    provisioned = kinesis_monthly(events_per_s, record_bytes, on_demand=False)
    on_demand = kinesis_monthly(events_per_s, record_bytes, on_demand=True)
    return {
        "events_per_s": events_per_s,
        "mb_per_s": events_per_s * record_bytes / 1e6,
        "provisioned_shards": shard_count,
        "records_per_invocation": batch,
        "invocation_wall_s": one["wall_s"],
        "shard_busy_share": busy,
        "parallelization_factor": factor,
        "concurrency_ceiling": shard_count * factor,
        "concurrency_average": invocations_per_s * one["wall_s"],
        "invocations_per_s": invocations_per_s,
        "lake_objects_per_hour": invocations_per_s * 3600 * lake_objects_per_invocation,
        "s3_puts_per_s": invocations_per_s * m.puts_per_invocation,
        # The state holds at most DEDUPE_MAX_IDS ids: a busy shard remembers a shorter window.
        "dedupe_window_s": min(m.dedupe_window_s, m.dedupe_max_ids / per_shard),
        "monthly": {
            "processor": sum(leg.values()),
            "processor_parts": leg,
            "dedupe_state_versions": state_versions,
            "kinesis_provisioned": sum(provisioned.values()),
            "kinesis_on_demand": sum(on_demand.values()),
            "firehose": firehose,
            "lake_storage_added_per_month": stored_gb * prices.S3_STORAGE_GB_MONTH.value,
            "tributary_with_provisioned_stream": sum(leg.values()) + state_versions + sum(provisioned.values()),
            "tributary_with_on_demand_stream": sum(leg.values()) + state_versions + sum(on_demand.values()),
            "firehose_direct_put": firehose,
            "firehose_from_provisioned_stream": firehose + sum(provisioned.values()),
        },
    }


def run(sections: list[Section]) -> list[Section]:
    """Benchmark 6 and the scaling table."""
    m = measured_from(sections)
    ours = {arch: tributary_per_million(m, arch=arch) for arch in ("arm64", "x86_64")}
    firehose = firehose_per_million(partitioning=True)
    firehose_plain = firehose_per_million(partitioning=False)
    arm = ours["arm64"]["total"]
    cost = Section("6. cost per million 1 KB records (stream → lake)")
    cost.results = [
        Result(
            "tributary, arm64",
            arm,
            "USD/M",
            (
                Compared("x86_64", ours["x86_64"]["total"], "USD/M"),
                Compared("Firehose + partitioning", firehose["total"], "USD/M"),
                Compared("Firehose ingestion only", firehose_plain["total"], "USD/M"),
            ),
            note=f"{m.memory_mb} MB, {ours['arm64']['records_per_invocation']:,} records per invocation",
        ),
        Result("Firehose (partitioned by event time) / tributary", firehose["total"] / arm, "x", (), ">= 50"),
        Result("Firehose (ingestion only) / tributary", firehose_plain["total"] / arm, "x", (), ">= 50"),
    ]
    sizes = (256, 512, 1024, 2048, 4096, 5120, 8192, 16384, 65536)
    batch_sizes = (100, 500, 1000, 2000, records_per_invocation(m, RECORD_BYTES))
    cost.detail = {
        "measured": asdict(m),
        "assumptions": {
            "s3_request_seconds": S3_REQUEST_SECONDS,
            "record_bytes": RECORD_BYTES,
            "lambda_vcpu_equals_bench_core": True,
        },
        "per_million": {"tributary": ours, "firehose_partitioned": firehose, "firehose_ingestion": firehose_plain},
        "by_record_size": [
            {
                "record_bytes": size,
                "records_per_invocation": records_per_invocation(m, size),
                "tributary": tributary_per_million(m, size)["total"],
                "firehose_partitioned": firehose_per_million(size)["total"],
                "firehose_ingestion": firehose_per_million(size, partitioning=False)["total"],
            }
            for size in sizes
        ],
        "by_batch_size": [{"batch_size": size, **tributary_per_million(m, batch_size=size)} for size in batch_sizes],
        "by_memory": [
            {"memory_mb": mb, **tributary_per_million(m, memory_mb=mb)} for mb in (256, 512, 1024, 1769, 3008)
        ],
        "variants": variants(m),
        "by_request_latency": [
            {"s3_request_seconds": seconds, "total": tributary_per_million(m, request_s=seconds)["total"]}
            for seconds in (0.01, 0.03, 0.1)
        ],
        "prices": {name: asdict(price) for name, price in prices.PRICES.items()},
    }

    rows = {rate: scale(m, rate) for rate in (1_000, 100_000, 1_000_000)}
    scaling = Section(
        f"scaling: 1 KB events, batches of {m.declared_batch_size:,} / 6 MB / {m.declared_window_s:g} s window, arm64"
    )
    for rate, row in rows.items():
        monthly = row["monthly"]
        scaling.results.append(
            Result(
                f"{rate:,} events/s: monthly, tributary + provisioned stream",
                monthly["tributary_with_provisioned_stream"],
                "USD",
                (
                    Compared("shards", row["provisioned_shards"], ""),
                    Compared("Firehose", monthly["firehose_direct_put"], "USD"),
                    Compared("objects/hour", row["lake_objects_per_hour"], ""),
                ),
            )
        )
    scaling.detail = {
        "batch_size": m.declared_batch_size,
        "window_s": m.declared_window_s,
        "rows": {str(rate): row for rate, row in rows.items()},
    }
    return [cost, scaling]
