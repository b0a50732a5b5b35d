"""Cost per million records and the scaling table, from the figures measured in this run (benchmark 6).

The model of one invocation of the stream processor:

- CPU: a fixed part (measured on a 10-record batch: state lookup and write, the log and
  metric lines) plus a part per record (measured on the maximal batch), scaled by record
  size for other sizes. CPU seconds are normalised by the reference workload timed in the
  same run (``processor.reference``): a figure is counted as ``REFERENCE_LAMBDA_SECONDS``
  times its ratio to the reference, so a faster or busier machine changes both alike and the
  cost does not follow the machine. ``REFERENCE_LAMBDA_SECONDS`` is what the reference takes
  on one Lambda vCPU: assumed, not measured on Lambda (docs/performance.md).
- Wall time: Lambda gives a function ``memory / 1,769 MB`` of a vCPU (all of one from
  1,769 MB), so CPU time stretches by the inverse below that; each S3 request adds
  ``S3_REQUEST_SECONDS`` of waiting, which is assumed, not measured (DeleteObject requests,
  one per lake object for the other codec's ending, are waited for but not charged).
- Billed: wall time rounded up to the millisecond, times memory, at the GB-second price;
  plus the request price; plus the S3 requests the processor made (counted by the sink).
- Batch size: the declared ``batch_size`` (``function.json``) or 6 MB of event, whichever
  comes first; each record costs its base64 size plus the event's fixed fields (measured)
  against the 6 MB. The batching window is the declared one.

- Storage: the bytes each design stores, for the first month (S3 Standard), and the dedupe
  state's versions. Transfers between Lambda, Kinesis and S3 in one region cost nothing.

Firehose, for the same records: ingestion billed per GB with every record rounded up to
5 KB, plus dynamic partitioning (per GB and per object delivered) when it partitions by
event time as tributary does, plus its GZIP objects for a month (the records as sent,
gzip-compressed: the floor's output). When Firehose reads the same Kinesis stream, the
stream's cost is common to both and left out; the full pipeline is in the scaling table.
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
# What processor.reference takes on one Lambda vCPU (arm64, 1,769 MB or more). Assumed: the
# bench machine's figure (AMD EPYC, CPython 3.11), until measured on Lambda; docs/performance.md.
REFERENCE_LAMBDA_SECONDS = 0.0108
# Lambda polls a shard about once a second when no batching window holds it back.
POLL_SECONDS = 1.0


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
    zstd_cpu_s_per_record: float
    zstd_stored_bytes_per_record: float
    firehose_stored_bytes_per_record: float
    # DeleteObject requests (free of charge, but each is waited for).
    deletes_per_invocation: float = 0.0
    # The reference workload as timed in this run: every CPU figure above is in its units.
    reference_s: float = REFERENCE_LAMBDA_SECONDS
    codec: str = "gzip"

    @property
    def lambda_scale(self) -> float:
        """Lambda vCPU seconds per CPU second measured here."""
        return REFERENCE_LAMBDA_SECONDS / self.reference_s

    def cpu_s(self, records: int, record_bytes: float) -> float:
        """Lambda CPU seconds for one invocation of ``records`` records of ``record_bytes``."""
        measured = self.fixed_cpu_s + records * self.cpu_s_per_record * record_bytes / self.record_bytes
        return measured * self.lambda_scale

    def zstd(self) -> Measured:
        """The same measurements with the processor writing zstd (level 3)."""
        return replace(
            self,
            cpu_s_per_record=self.zstd_cpu_s_per_record,
            stored_bytes_per_record=self.zstd_stored_bytes_per_record,
            aggregated_cpu_s_per_record=self.aggregated_cpu_s_per_record
            - (self.cpu_s_per_record - self.zstd_cpu_s_per_record),
            codec="zstd",
        )

    def without_dedupe(self) -> Measured:
        """Without producer-resend dedupe: no state GET or PUT per invocation."""
        return replace(
            self, puts_per_invocation=self.puts_per_invocation - 1, gets_per_invocation=0, state_bytes_per_invocation=0
        )


def measured_from(sections: list[Section]) -> Measured:
    """Pick the figures the model needs out of the benchmark sections."""
    from stack import declarations

    floor = next(s for s in sections if s.title.startswith("1."))
    maximal = floor.detail["maximal_batch"]
    tiny = floor.detail["invocation_ms"]
    fixed = tiny["cpu_ms"] / 1000
    writes = maximal["writes"]
    aggregated = floor.detail["maximal_batch_aggregated"]
    spec = declarations.load_all()["stream_processor"]

    def per_record(us: float) -> float:
        return max(0.0, (us * maximal["user_records"] / 1e6 - fixed) / maximal["user_records"])

    return Measured(
        fixed_cpu_s=fixed,
        cpu_s_per_record=per_record(maximal["processor_us_per_record"]),
        record_bytes=maximal["record_bytes"],
        entry_overhead_bytes=maximal["entry_overhead_bytes"],
        puts_per_invocation=writes["puts"],
        gets_per_invocation=writes["gets"],
        deletes_per_invocation=writes["deletes"],
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
        zstd_cpu_s_per_record=per_record(maximal["processor_zstd_us_per_record"]),
        zstd_stored_bytes_per_record=maximal["writes_zstd"]["lake_bytes"] / maximal["user_records"],
        firehose_stored_bytes_per_record=floor.detail["firehose_gzip_bytes_per_record"],
        reference_s=floor.detail["reference_s"],
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
    requests = m.puts_per_invocation + m.gets_per_invocation + m.deletes_per_invocation
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
    parts["storage_month"] = 1e6 * m.stored_bytes_per_record * record_bytes / m.record_bytes / prices.GB
    parts["storage_month"] *= prices.S3_STORAGE_GB_MONTH.value
    # Every invocation overwrites its shard's state; the bucket keeps old versions for a day.
    parts["state_versions"] = (
        invocations * m.state_bytes_per_invocation / prices.GB * prices.S3_STORAGE_GB_MONTH.value / 30
    )
    processing = parts["duration"] + parts["request"] + parts["s3_put"] + parts["s3_get"]
    return {
        **parts,
        "processing": processing,
        "total": sum(parts.values()),
        "records_per_invocation": records,
        "wall_s": one["wall_s"],
    }


def variants(m: Measured) -> dict[str, dict[str, float]]:
    """What the cost per million 1 KB records would be with other choices, from the same measurements."""
    aggregated_records = int(m.aggregated_records_per_invocation * m.record_bytes / RECORD_BYTES)

    def aggregated(base: Measured) -> dict[str, float]:
        return tributary_per_million(
            replace(base, cpu_s_per_record=base.aggregated_cpu_s_per_record), records=aggregated_records
        )

    return {
        "as deployed (gzip 6, dedupe on)": tributary_per_million(m),
        "a bad record in every batch (one more PUT)": tributary_per_million(
            replace(m, puts_per_invocation=m.puts_per_invocation + 1)
        ),
        "KPL-aggregated producer": aggregated(m),
        "zstd 3": tributary_per_million(m.zstd()),
        "dedupe off": tributary_per_million(m.without_dedupe()),
        "zstd 3, dedupe off": tributary_per_million(m.zstd().without_dedupe()),
        "dedupe off, KPL-aggregated producer": aggregated(m.without_dedupe()),
        "zstd 3, dedupe off, KPL-aggregated producer": aggregated(m.zstd().without_dedupe()),
    }


def latency_profile(m: Measured, per_shard: float = 1000.0, windows: tuple[float, ...] = (0, 1, 5, 10)) -> list[dict]:
    """Put → lake latency and cost per million 1 KB records, by batching window, for a shard
    receiving ``per_shard`` records/s. A batch closes when its window ends (Lambda polls about
    once a second without one), at the batch size or at 6 MB; a record waits on average half
    the batch's span, at most all of it, then the invocation's wall time."""
    rows = []
    for window in windows:
        span = max(window, POLL_SECONDS)
        batch = max(
            1, min(records_per_invocation(m, RECORD_BYTES, m.declared_batch_size), math.floor(per_shard * span))
        )
        span = min(span, batch / per_shard)
        codecs = {"gzip 6": m, "zstd 3": m.zstd()}
        costs = {name: tributary_per_million(base, records=batch) for name, base in codecs.items()}
        wall = costs["gzip 6"]["wall_s"]
        rows.append(
            {
                "window_s": window,
                "records_per_invocation": batch,
                "latency_mean_s": span / 2 + wall,
                "latency_max_s": span + wall,
                "invocation_wall_s": wall,
                "usd_per_million": {name: cost["total"] for name, cost in costs.items()},
                "usd_per_million_processing": {name: cost["processing"] for name, cost in costs.items()},
            }
        )
    return rows


def firehose_per_million(
    record_bytes: float = RECORD_BYTES, partitioning: bool = True, stored_bytes_per_record: float = 0.0
) -> dict[str, float]:
    """USD per million records through Firehose (ingestion, dynamic partitioning if used, and
    its objects for a month)."""
    billed = math.ceil(record_bytes / prices.FIREHOSE_INCREMENT_BYTES) * prices.FIREHOSE_INCREMENT_BYTES
    parts = {"ingestion": 1e6 * billed / prices.GB * prices.FIREHOSE_INGEST_GB.value}
    parts["storage_month"] = 1e6 * stored_bytes_per_record / prices.GB * prices.S3_STORAGE_GB_MONTH.value
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
    firehose = firehose_per_million(partitioning=True, stored_bytes_per_record=m.firehose_stored_bytes_per_record)
    firehose_plain = firehose_per_million(
        partitioning=False, stored_bytes_per_record=m.firehose_stored_bytes_per_record
    )
    firehose_processing = firehose["total"] - firehose["storage_month"]
    designs = {
        "gzip 6": m,
        "zstd 3": m.zstd(),
        "gzip 6, dedupe off": m.without_dedupe(),
        "zstd 3, dedupe off": m.zstd().without_dedupe(),
    }
    per_design = {name: tributary_per_million(base) for name, base in designs.items()}
    arm = ours["arm64"]["total"]
    cost = Section("6. cost per million 1 KB records (stream → lake)")
    cost.results = [
        Result(
            "tributary, arm64, gzip 6",
            arm,
            "USD/M",
            (
                Compared("x86_64", ours["x86_64"]["total"], "USD/M"),
                Compared("Firehose + partitioning", firehose["total"], "USD/M"),
                Compared("Firehose ingestion only", firehose_plain["total"], "USD/M"),
            ),
            note=f"{m.memory_mb} MB, {ours['arm64']['records_per_invocation']:,} records per invocation; "
            "requests, duration from CPU normalised by the reference workload, a month of storage",
        ),
        *(
            Result(
                f"Firehose (partitioned by event time) / tributary, {name}",
                firehose["total"] / per_design[name]["total"],
                "x",
                (
                    Compared("tributary", per_design[name]["total"], "USD/M"),
                    Compared("of it, storage for a month", per_design[name]["storage_month"], "USD/M"),
                ),
                ">= 50" if name == "zstd 3" else None,
            )
            for name in designs
        ),
        Result(
            "Firehose / tributary, processing only (no storage on either side), zstd 3",
            firehose_processing / per_design["zstd 3"]["processing"],
            "x",
            (Compared("gzip 6", firehose_processing / per_design["gzip 6"]["processing"], "x"),),
        ),
        Result(
            "Firehose (ingestion only) / tributary, zstd 3",
            firehose_plain["total"] / per_design["zstd 3"]["total"],
            "x",
            (),
        ),
        Result(
            "what producer-resend dedupe costs, zstd 3",
            per_design["zstd 3"]["total"] - per_design["zstd 3, dedupe off"]["total"],
            "USD/M",
            (
                Compared(
                    "its state GET and PUT",
                    per_design["zstd 3"]["s3_put"]
                    + per_design["zstd 3"]["s3_get"]
                    - per_design["zstd 3, dedupe off"]["s3_put"]
                    - per_design["zstd 3, dedupe off"]["s3_get"],
                    "USD/M",
                ),
            ),
        ),
    ]
    latency = latency_profile(m)
    cost.results += [
        Result(
            f"batching window {row['window_s']:g} s at 1,000 records/s per shard: mean put → lake latency",
            row["latency_mean_s"],
            "s",
            (
                Compared("at most", row["latency_max_s"], "s"),
                Compared("records per invocation", row["records_per_invocation"], ""),
                Compared("USD/M gzip 6", row["usd_per_million"]["gzip 6"], "USD/M"),
                Compared("USD/M zstd 3", row["usd_per_million"]["zstd 3"], "USD/M"),
            ),
        )
        for row in latency
    ]
    sizes = (256, 512, 1024, 2048, 4096, 5120, 8192, 16384, 65536)
    batch_sizes = (100, 500, 1000, 2000, records_per_invocation(m, RECORD_BYTES))
    cost.detail = {
        "measured": asdict(m),
        "assumptions": {
            "s3_request_seconds": S3_REQUEST_SECONDS,
            "record_bytes": RECORD_BYTES,
            "reference_lambda_seconds": REFERENCE_LAMBDA_SECONDS,
            "reference_measured_seconds": m.reference_s,
            "lambda_scale": m.lambda_scale,
            "poll_seconds": POLL_SECONDS,
        },
        "per_million": {
            "tributary": ours,
            "designs": per_design,
            "firehose_partitioned": firehose,
            "firehose_ingestion": firehose_plain,
        },
        "latency_profile": latency,
        "by_record_size": [
            {
                "record_bytes": size,
                "records_per_invocation": records_per_invocation(m, size),
                "tributary": tributary_per_million(m, size)["total"],
                "firehose_partitioned": firehose_per_million(
                    size, True, m.firehose_stored_bytes_per_record * size / RECORD_BYTES
                )["total"],
                "firehose_ingestion": firehose_per_million(
                    size, False, m.firehose_stored_bytes_per_record * size / RECORD_BYTES
                )["total"],
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
