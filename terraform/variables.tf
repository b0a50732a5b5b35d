variable "environment" {
  description = "Environment name (dev, staging, prod); part of every resource name."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9]{1,11}$", var.environment))
    error_message = "environment is 2 to 12 lower-case letters or digits, starting with a letter."
  }
}

variable "region" {
  description = "AWS region of the stack."
  type        = string
  default     = "eu-west-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.region))
    error_message = "region is an AWS region code such as eu-west-1."
  }
}

variable "name" {
  description = "Prefix of every resource name."
  type        = string
  default     = "tributary"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,20}$", var.name))
    error_message = "name is 2 to 21 lower-case letters, digits or '-'."
  }
}

variable "architecture" {
  description = "Lambda instruction set for every function and the layer; the zips must be built with the same `make build ARCH=...`."
  type        = string
  default     = "arm64"

  validation {
    condition     = contains(["arm64", "x86_64"], var.architecture)
    error_message = "architecture is arm64 or x86_64."
  }
}

variable "dist_dir" {
  description = "Directory holding the zips from `make build` (relative to this stack)."
  type        = string
  default     = "../dist"
}

variable "stream_on_demand" {
  description = "Kinesis on-demand capacity (true) or provisioned shards (false, see stream_shard_count)."
  type        = bool
  default     = true
}

variable "stream_shard_count" {
  description = "Provisioned shards when stream_on_demand is false."
  type        = number
  default     = 1

  validation {
    condition     = var.stream_shard_count >= 1
    error_message = "stream_shard_count is at least 1."
  }
}

variable "stream_retention_hours" {
  description = "Kinesis retention in hours; above the maximum record age of every function reading the stream."
  type        = number
  default     = 168

  validation {
    condition     = var.stream_retention_hours >= 24 && var.stream_retention_hours <= 8760
    error_message = "stream_retention_hours is between 24 and 8760."
  }

  # A reader gives up on a record (trigger.maximum_record_age_s) while the stream still holds it, so
  # the on-failure message points at records `make replay-failed` can read again.
  validation {
    condition = alltrue([
      for trigger in [for declaration in fileset("${path.module}/../functions", "*/function.json") : jsondecode(file("${path.module}/../functions/${declaration}")).trigger] :
      lookup(trigger, "maximum_record_age_s", -1) >= 0 && lookup(trigger, "maximum_record_age_s", -1) < var.stream_retention_hours * 3600
      if trigger.type == "kinesis" && lookup(trigger, "source", "") == "events_stream"
    ])
    error_message = "stream_retention_hours (${var.stream_retention_hours} h) must exceed the maximum_record_age_s of every function reading events_stream (functions/*/function.json), and that age must not be -1 (infinite)."
  }
}

variable "quarantine_expiry_days" {
  description = "Days quarantined records are kept in the lake before they expire."
  type        = number
  default     = 90

  validation {
    condition     = var.quarantine_expiry_days >= 1
    error_message = "quarantine_expiry_days is at least 1."
  }
}

variable "noncurrent_version_days" {
  description = "Days to keep overwritten or deleted object versions in the buckets."
  type        = number
  default     = 30

  validation {
    condition     = var.noncurrent_version_days >= 1
    error_message = "noncurrent_version_days is at least 1."
  }
}

variable "log_retention_days" {
  description = "Days to keep function and API logs."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days is one of the values CloudWatch Logs accepts."
  }
}

variable "force_destroy_buckets" {
  description = "Allow `terraform destroy` to delete non-empty buckets (throw-away environments only)."
  type        = bool
  default     = false
}

variable "http_throttling_rate_limit" {
  description = "Requests per second the HTTP ingest API accepts before answering 429."
  type        = number
  default     = 100

  validation {
    condition     = var.http_throttling_rate_limit > 0
    error_message = "http_throttling_rate_limit is positive."
  }
}

variable "http_throttling_burst_limit" {
  description = "Burst of requests the HTTP ingest API accepts above its rate."
  type        = number
  default     = 200

  validation {
    condition     = var.http_throttling_burst_limit > 0
    error_message = "http_throttling_burst_limit is positive."
  }
}

variable "table_sync_paths" {
  description = "How table1 is kept in sync with table2: direct (stream -> function -> table2), fanout (stream -> function -> SNS -> SQS -> function -> table2), or both."
  type        = string
  default     = "both"

  validation {
    condition     = contains(["direct", "fanout", "both"], var.table_sync_paths)
    error_message = "table_sync_paths is direct, fanout or both."
  }
}

variable "table1_extra_stream_readers" {
  description = "Other consumers of table1's stream outside this stack. A DynamoDB stream shard serves at most two concurrent readers, and each function of the stack that table1's stream triggers is one (main.tf checks the sum)."
  type        = number
  default     = 0

  validation {
    condition     = var.table1_extra_stream_readers >= 0 && floor(var.table1_extra_stream_readers) == var.table1_extra_stream_readers
    error_message = "table1_extra_stream_readers is a count of readers: a whole number, 0 or more."
  }
}

variable "table_deletion_protection" {
  description = "Protect table1 and table2 from deletion (turn off only for throw-away environments)."
  type        = bool
  default     = true
}

variable "git_mirror_schedule" {
  description = "When the git mirror also runs without a push (EventBridge delivery is best effort)."
  type        = string
  default     = "cron(0 3 * * ? *)"

  validation {
    condition     = can(regex("^(cron|rate)\\(.+\\)$", var.git_mirror_schedule))
    error_message = "git_mirror_schedule is an EventBridge cron() or rate() expression."
  }
}

variable "alarm_emails" {
  description = "Email addresses subscribed to the alarm topic (each confirms by email)."
  type        = list(string)
  default     = []
}

variable "quarantine_alarm_threshold" {
  description = "Quarantined records in 5 minutes that raise the stream path's alarm (some bad input is normal)."
  type        = number
  default     = 100

  validation {
    condition     = var.quarantine_alarm_threshold >= 0
    error_message = "quarantine_alarm_threshold is zero or more."
  }
}

variable "permissions_boundary" {
  description = "Name of the IAM policy every role of the stack gets as its permissions boundary (terraform/bootstrap creates <name>-<environment>-boundary and makes the deploy role require it); null for none."
  type        = string
  default     = null
}

variable "lake_compaction" {
  description = "When the lake compactor rewrites an hour to Parquet: lateness_seconds after the hour ends (records later than that wait for the next run), settle_seconds after a raw object was last written (null: the stream mapping's maximum record age plus the processor's timeout, after which the processor can no longer rewrite it), effective_after_seconds between writing a compaction log and queries applying it (longer than clocks disagree and a query takes to start reading)."
  type = object({
    lateness_seconds        = optional(number, 900)
    settle_seconds          = optional(number)
    effective_after_seconds = optional(number, 300)
  })
  default = {}

  validation {
    condition     = var.lake_compaction.lateness_seconds >= 0 && var.lake_compaction.effective_after_seconds >= 1 && (var.lake_compaction.settle_seconds == null ? true : var.lake_compaction.settle_seconds >= 0)
    error_message = "lateness_seconds and settle_seconds are zero or more, effective_after_seconds at least 1."
  }
}

variable "stream_batching_window_s" {
  description = "How long Lambda gathers the events stream's records before it invokes the stream processor (0 to 300 s; null: the declared 10 s). A shorter window lowers put-to-lake latency and raises the cost per record: at 1,000 records/s per shard of 1 KB records, 0 or 1 s gives about 0.7 s of mean latency for 1.7 times the cost per million records of 5 or 10 s (2.1 s) (docs/performance.md, \"Latency\")."
  type        = number
  default     = null

  validation {
    condition     = var.stream_batching_window_s == null ? true : (var.stream_batching_window_s >= 0 && var.stream_batching_window_s <= 300 && var.stream_batching_window_s == floor(var.stream_batching_window_s))
    error_message = "stream_batching_window_s is a whole number of seconds from 0 to 300 (Lambda's MaximumBatchingWindowInSeconds), or null."
  }
}

variable "lake_codec" {
  description = "How the stream processor compresses lake objects: codec gzip (.ndjson.gz, the default) or zstd (.ndjson.zst: about a third of gzip 6's CPU for the same bytes; read by Athena engine 3, Trino, Spark and DuckDB, see the README), and level (null: the codec's default, gzip 6 or zstd 3). Readers take each object's codec from its key, so a change applies to new objects only."
  type = object({
    codec = optional(string, "gzip")
    level = optional(number)
  })
  default = {}

  validation {
    condition = contains(["gzip", "zstd"], var.lake_codec.codec) && (var.lake_codec.level == null ? true : (
      var.lake_codec.level == floor(var.lake_codec.level) &&
      var.lake_codec.level >= 1 && var.lake_codec.level <= (var.lake_codec.codec == "gzip" ? 9 : 19)
    ))
    error_message = "lake_codec.codec is gzip or zstd; level is an integer from 1 to 9 for gzip, 1 to 19 for zstd, or null."
  }
}

variable "athena_bytes_scanned_cutoff" {
  description = "Bytes one Athena query of the lake may scan before the workgroup cancels it (at least 10 MB)."
  type        = number
  default     = 10737418240

  validation {
    condition     = var.athena_bytes_scanned_cutoff >= 10485760
    error_message = "athena_bytes_scanned_cutoff is at least 10485760 (10 MB), Athena's minimum."
  }
}

variable "query_results_expiry_days" {
  description = "Days Athena query results are kept in the results bucket."
  type        = number
  default     = 30

  validation {
    condition     = var.query_results_expiry_days >= 1
    error_message = "query_results_expiry_days is at least 1."
  }
}
