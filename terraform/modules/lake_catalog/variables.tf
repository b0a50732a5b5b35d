variable "database_name" {
  description = "Glue database of the lake's tables (letters, digits and underscores, as Athena names them)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9_]{1,255}$", var.database_name))
    error_message = "database_name is lower-case letters, digits and underscores."
  }
}

variable "workgroup_name" {
  description = "Athena workgroup whose settings every query of the lake runs with."
  type        = string
}

variable "lake_bucket_name" {
  description = "The data lake bucket the tables read."
  type        = string
}

variable "results_bucket_name" {
  description = "The encrypted bucket Athena writes query results to (a secure_bucket with a lifecycle on results/)."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key that encrypts query results (SSE-KMS)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn is a KMS key ARN."
  }
}

variable "tables" {
  description = "The lake's tables (layers/common/tributary/lake_tables.json, decoded): partition keys, and for each table its prefix, columns and, for a compacted table, its Parquet and compaction-log prefixes."
  type = object({
    partition_keys         = list(object({ name = string, type = string, comment = string }))
    compaction_log_columns = list(object({ name = string, type = string, comment = string }))
    tables = map(object({
      comment          = string
      prefix           = string
      compacted_prefix = optional(string)
      log_prefix       = optional(string)
      columns          = list(object({ name = string, type = string, comment = string }))
    }))
  })
}

variable "raw_compression" {
  description = "The codec the stream processor writes raw NDJSON with now (gzip or zstd), recorded as the raw tables' compressionType. Athena, Trino and Spark pick each object's decompressor by its extension (.gz or .zst), so objects written before a change of codec are read too."
  type        = string
  default     = "gzip"

  validation {
    condition     = contains(["gzip", "zstd"], var.raw_compression)
    error_message = "raw_compression is gzip or zstd."
  }
}

variable "view_sql" {
  description = "The SELECT of each compacted table's view, with $${columns} for its column list (terraform/sql/events_view.sql)."
  type        = string
}

variable "named_queries" {
  description = "Saved queries operators run, by name: a description and the SQL."
  type        = map(object({ description = string, query = string }))
  default     = {}
}

variable "projection_start_date" {
  description = "The first date (YYYY-MM-DD) partition projection enumerates; queries before it find nothing."
  type        = string
  default     = "2026-01-01"

  validation {
    condition     = can(regex("^[0-9]{4}-[0-9]{2}-[0-9]{2}$", var.projection_start_date))
    error_message = "projection_start_date is YYYY-MM-DD."
  }
}

variable "bytes_scanned_cutoff_per_query" {
  description = "Athena cancels a query of the workgroup that scans more than this many bytes (at least 10 MB)."
  type        = number
  default     = 10737418240

  validation {
    condition     = var.bytes_scanned_cutoff_per_query >= 10485760
    error_message = "bytes_scanned_cutoff_per_query is at least 10 MB (10485760), Athena's minimum."
  }
}

variable "force_destroy" {
  description = "Let terraform destroy the workgroup with its saved queries and query history (throw-away environments)."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags for every resource of the module."
  type        = map(string)
  default     = {}
}
