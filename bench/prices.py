"""Every price and limit the cost model uses, in one place, each with where it comes from.

us-east-1, on-demand list prices, first pricing tier. ``confidence`` says how far a figure
was checked:

- ``aws``: stated in AWS-authored text (an AWS blog, documentation or AWS Solutions guide);
- ``derived``: computed from an AWS statement (the arithmetic is in ``note``);
- ``third-party``: from a third-party page, consistent with AWS but not AWS's own words;
- ``unverified``: no source in reach confirmed the exact number.

None of them was read off the live pricing pages, which render their tables in the
browser; docs/performance.md lists the pages to check before relying on a figure.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Price:
    """A list price and its provenance."""

    value: float
    unit: str
    source: str
    confidence: str
    note: str = ""


LAMBDA_GB_SECOND_X86 = Price(
    0.0000166667,
    "USD per GB-second (x86_64)",
    "https://aws.amazon.com/blogs/aws/new-for-aws-lambda-1ms-billing-granularity-adds-cost-savings/",
    "aws",
)
LAMBDA_GB_SECOND_ARM = Price(
    0.0000133334,
    "USD per GB-second (arm64)",
    "https://aws.amazon.com/blogs/aws/aws-lambda-functions-powered-by-aws-graviton2-processor-run-your-functions-"
    "on-arm-and-get-up-to-34-better-price-performance/",
    "derived",
    "duration is 20% cheaper than x86_64: 0.8 x 0.0000166667 (third-party pages quote the same figure)",
)
LAMBDA_REQUEST = Price(
    0.20 / 1_000_000,
    "USD per request",
    "https://aws.amazon.com/blogs/aws/new-for-aws-lambda-1ms-billing-granularity-adds-cost-savings/",
    "aws",
)
S3_PUT = Price(
    0.005 / 1000,
    "USD per PUT, COPY, POST or LIST request (S3 Standard)",
    "https://aws.amazon.com/s3/pricing/ (quoted by https://c3x.dev/blog/s3-request-fees-explained)",
    "third-party",
)
S3_GET = Price(
    0.0004 / 1000,
    "USD per GET or other request (S3 Standard)",
    "https://aws.amazon.com/s3/pricing/ (quoted by https://c3x.dev/blog/s3-request-fees-explained)",
    "third-party",
)
S3_STORAGE_GB_MONTH = Price(
    0.023,
    "USD per GB-month (S3 Standard, first 50 TB)",
    "https://github.com/aws-solutions/centralized-logging-with-opensearch (docs/en/implementation-guide/"
    "plan-deployment/cost.md)",
    "aws",
)
KINESIS_SHARD_HOUR = Price(
    0.015,
    "USD per shard-hour (provisioned)",
    "https://github.com/aws-solutions/centralized-logging-with-opensearch (cost.md, as above)",
    "aws",
)
KINESIS_PUT_PAYLOAD_UNIT = Price(
    0.014 / 1_000_000,
    "USD per PUT payload unit of 25 KB (provisioned)",
    "https://github.com/aws-solutions/centralized-logging-with-opensearch (cost.md, as above)",
    "aws",
)
KINESIS_ON_DEMAND_STREAM_HOUR = Price(
    0.04,
    "USD per stream-hour (on-demand)",
    "https://trek10.com/blog/amazon-kinesis-data-streams-on-demand-vs.-provisioned-billing-mode-cost-comparison",
    "third-party",
)
KINESIS_ON_DEMAND_INGEST_GB = Price(
    0.08,
    "USD per GB written, each record rounded up to 1 KB (on-demand)",
    "https://trek10.com/blog/amazon-kinesis-data-streams-on-demand-vs.-provisioned-billing-mode-cost-comparison "
    "(rounding rule: https://aws.amazon.com/kinesis/data-streams/pricing/)",
    "third-party",
)
KINESIS_ON_DEMAND_RETRIEVAL_GB = Price(
    0.04,
    "USD per GB read (on-demand)",
    "https://trek10.com/blog/amazon-kinesis-data-streams-on-demand-vs.-provisioned-billing-mode-cost-comparison",
    "third-party",
)
FIREHOSE_INGEST_GB = Price(
    0.029,
    "USD per GB ingested, each record rounded up to 5 KB (Direct PUT or Kinesis source, first 500 TB)",
    "https://github.com/aws-solutions/centralized-logging-with-opensearch (cost.md, as above); rounding rule: "
    "https://aws.amazon.com/kinesis/data-firehose/pricing/",
    "aws",
)
FIREHOSE_PARTITIONING_GB = Price(
    0.020,
    "USD per GB processed by dynamic partitioning",
    "third-party notes built from the AWS Price List API (us-east-2)",
    "unverified",
)
FIREHOSE_PARTITIONING_OBJECT = Price(
    0.005 / 1000,
    "USD per S3 object delivered by dynamic partitioning",
    "third-party notes built from the AWS Price List API (us-east-2)",
    "unverified",
)

PRICES = {name: value for name, value in sorted(globals().items()) if isinstance(value, Price)}

# Sizes the prices are counted in.
GB = 1024**3  # AWS's own worked examples divide by 1,048,576 KB per GB
KINESIS_PAYLOAD_UNIT_BYTES = 25 * 1024
FIREHOSE_INCREMENT_BYTES = 5 * 1024
KINESIS_ON_DEMAND_INCREMENT_BYTES = 1024

# Limits (https://docs.aws.amazon.com/streams/latest/dev/service-sizes-and-limits.html and
# https://docs.aws.amazon.com/lambda/latest/dg/services-kinesis-parameters.html).
SHARD_WRITE_BYTES_PER_S = 1024 * 1024
SHARD_WRITE_RECORDS_PER_S = 1000
SHARD_READ_BYTES_PER_S = 2 * 1024 * 1024
MAX_BATCH_RECORDS = 10_000
MAX_PARALLELIZATION_FACTOR = 10
# Lambda refuses a synchronous payload above 6 MB; the event source mapping cuts batches to fit.
MAX_INVOKE_PAYLOAD = 6 * 1024 * 1024
# Lambda gives a function one full vCPU at this memory size, and CPU in proportion below it
# (https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html).
LAMBDA_MB_PER_VCPU = 1769
