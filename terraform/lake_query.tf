# --- the lake as tables ---------------------------------------------------------------------
# The catalog Athena queries, the compactor that rewrites closed hours to Parquet, and the
# saved queries. lake_tables.json (in the layer, read by the compactor and `make query` too) is
# the one description of the tables.

locals {
  lake_tables = jsondecode(file("${path.root}/../layers/common/tributary/lake_tables.json"))
  # SQL files keep their comment lines for the people who read them; Athena gets the statements.
  sql_dir = "${path.root}/sql"
  sql = {
    for path in fileset(local.sql_dir, "**/*.sql") : trimsuffix(path, ".sql") => join("\n", [
      for line in split("\n", file("${local.sql_dir}/${path}")) : line if !startswith(trimspace(line), "--")
    ])
  }
  sql_descriptions = {
    for path in fileset(local.sql_dir, "queries/*.sql") : trimsuffix(basename(path), ".sql") => trimspace(trimprefix(split("\n", file("${local.sql_dir}/${path}"))[0], "--"))
  }
  stream_trigger = local.declarations.stream_processor.trigger
  # After this the processor can no longer rewrite an object: Lambda stops retrying its records.
  settle_seconds = coalesce(var.lake_compaction.settle_seconds, local.stream_trigger.maximum_record_age_s + local.declarations.stream_processor.timeout_s)
  compactor_environment = {
    LATENESS_SECONDS        = tostring(var.lake_compaction.lateness_seconds)
    SETTLE_SECONDS          = tostring(local.settle_seconds)
    EFFECTIVE_AFTER_SECONDS = tostring(var.lake_compaction.effective_after_seconds)
  }
  compacted_table = local.lake_tables.tables[local.declarations.lake_compactor.environment.LAKE_TABLE]
}

module "query_results" {
  source = "./modules/secure_bucket"

  name                    = local.names.query_results_bucket
  kms_key_arn             = aws_kms_key.this.arn
  noncurrent_version_days = 1
  force_destroy           = var.force_destroy_buckets
  expiring_prefixes       = { "results/" = var.query_results_expiry_days }
}

module "lake_catalog" {
  source = "./modules/lake_catalog"

  database_name       = replace(local.prefix, "-", "_")
  workgroup_name      = local.names.lake_workgroup
  lake_bucket_name    = module.lake.name
  results_bucket_name = module.query_results.name
  kms_key_arn         = aws_kms_key.this.arn
  tables              = local.lake_tables
  raw_compression     = var.lake_codec.codec
  view_sql            = local.sql["events_view"]
  named_queries = {
    for name, description in local.sql_descriptions : name => {
      description = description
      query       = local.sql["queries/${name}"]
    }
  }
  bytes_scanned_cutoff_per_query = var.athena_bytes_scanned_cutoff
  force_destroy                  = var.force_destroy_buckets
}

resource "aws_iam_policy" "lake_reader" {
  name        = "${local.prefix}-lake-reader"
  description = "Query the ${local.prefix} lake in Athena: its workgroup, its tables and their prefixes, its results."
  policy      = module.lake_catalog.reader_policy_json
}
