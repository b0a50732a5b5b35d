data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  lake = "s3://${var.lake_bucket_name}"
  # Partition projection on the stream processor's layout (dt=YYYY-MM-DD/hour=HH): Athena computes
  # the partitions a query needs, so no crawler and no MSCK REPAIR TABLE ever run.
  projection = {
    "projection.enabled"          = "true"
    "projection.dt.type"          = "date"
    "projection.dt.format"        = "yyyy-MM-dd"
    "projection.dt.range"         = "${var.projection_start_date},NOW"
    "projection.dt.interval"      = "1"
    "projection.dt.interval.unit" = "DAYS"
    "projection.hour.type"        = "integer"
    "projection.hour.range"       = "0,23"
    "projection.hour.digits"      = "2"
  }
  compacted = { for name, table in var.tables.tables : name => table if table.compacted_prefix != null }
  # Each table's raw NDJSON: the table itself, or <name>_raw under the view of a compacted table.
  raw = {
    for name, table in var.tables.tables : name => {
      glue_name = contains(keys(local.compacted), name) ? "${name}_raw" : name
      comment   = contains(keys(local.compacted), name) ? "${table.comment} Raw NDJSON (gzip .ndjson.gz or zstd .ndjson.zst), as the stream processor writes it; query ${name}, not this table." : table.comment
      prefix    = table.prefix
      columns   = table.columns
    }
  }
  presto_types = { string = "varchar", bigint = "bigint", int = "integer", double = "double", boolean = "boolean" }
  views = {
    for name, table in local.compacted : name => templatestring(var.view_sql, {
      columns   = join(", ", [for column in table.columns : "\"${column.name}\""])
      raw       = "${name}_raw"
      compacted = "${name}_compacted"
      log       = "${name}_compaction_log"
    })
  }
}

resource "aws_glue_catalog_database" "this" {
  name        = var.database_name
  description = "The data lake's tables: raw NDJSON, compacted Parquet, the compaction logs and the views over them."
  tags        = var.tags
}

locals {
  json = {
    input_format  = "org.apache.hadoop.mapred.TextInputFormat"
    output_format = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"
    # The Hive JSON SerDe: the OpenX one may return more or fewer rows than the data holds
    # (Athena's documentation of the OpenX JSON SerDe, "Considerations and limitations").
    serde = "org.apache.hive.hcatalog.data.JsonSerDe"
  }
  parquet = {
    input_format  = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
    output_format = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
    serde         = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
  }
  # Every table over objects: each table's raw NDJSON, and for a compacted table its Parquet
  # files and its compaction log.
  stored_tables = merge(
    { for name, table in local.raw : table.glue_name => merge(local.json, {
      description = table.comment, prefix = table.prefix, columns = table.columns
      parameters  = { classification = "json", compressionType = var.raw_compression }
    }) },
    { for name, table in local.compacted : "${name}_compacted" => merge(local.parquet, {
      description = "${table.comment} Parquet (zstd) the compactor wrote; a file counts only once the compaction log adds it, so query ${name}, not this table."
      prefix      = table.compacted_prefix, columns = table.columns
      parameters  = { classification = "parquet", "parquet.compression" = "ZSTD" }
    }) },
    { for name, table in local.compacted : "${name}_compaction_log" => merge(local.json, {
      description = "What each compaction run of ${name} committed: the Parquet files it added and the raw objects they replace, from effective_at on."
      prefix      = table.log_prefix, columns = var.tables.compaction_log_columns
      parameters  = { classification = "json" }
    }) },
  )
}

resource "aws_glue_catalog_table" "stored" {
  for_each = local.stored_tables

  name          = each.key
  database_name = aws_glue_catalog_database.this.name
  description   = each.value.description
  table_type    = "EXTERNAL_TABLE"
  parameters = merge(local.projection, each.value.parameters, {
    "storage.location.template" = "${local.lake}/${each.value.prefix}/dt=$${dt}/hour=$${hour}/"
  })

  dynamic "partition_keys" {
    for_each = var.tables.partition_keys

    content {
      name    = partition_keys.value.name
      type    = partition_keys.value.type
      comment = partition_keys.value.comment
    }
  }

  storage_descriptor {
    location      = "${local.lake}/${each.value.prefix}/"
    input_format  = each.value.input_format
    output_format = each.value.output_format

    ser_de_info {
      serialization_library = each.value.serde
    }

    dynamic "columns" {
      for_each = each.value.columns

      content {
        name    = columns.value.name
        type    = columns.value.type
        comment = columns.value.comment
      }
    }
  }
}

# The table to query: an Athena (Presto) view over the raw, compacted and log tables. Athena keeps
# a view in Glue as a VIRTUAL_VIEW whose original text is its definition, base64 JSON.
resource "aws_glue_catalog_table" "view" {
  for_each = local.compacted

  name          = each.key
  database_name = aws_glue_catalog_database.this.name
  description   = each.value.comment
  table_type    = "VIRTUAL_VIEW"
  parameters = {
    presto_view = "true"
    comment     = "Presto View"
  }
  view_original_text = "/* Presto View: ${base64encode(jsonencode({
    originalSql = local.views[each.key]
    catalog     = "awsdatacatalog"
    schema      = aws_glue_catalog_database.this.name
    columns = [
      for column in concat(each.value.columns, var.tables.partition_keys) : {
        name = column.name
        type = local.presto_types[column.type]
      }
    ]
  }))} */"
  view_expanded_text = "/* Presto View */"

  storage_descriptor {
    dynamic "columns" {
      for_each = concat(each.value.columns, var.tables.partition_keys)

      content {
        name    = columns.value.name
        type    = columns.value.type
        comment = columns.value.comment
      }
    }
  }

  depends_on = [aws_glue_catalog_table.stored]
}

resource "aws_athena_workgroup" "this" {
  name          = var.workgroup_name
  description   = "Queries of the ${var.database_name} lake: results encrypted in ${var.results_bucket_name}, a cap on the bytes each query scans."
  state         = "ENABLED"
  force_destroy = var.force_destroy

  configuration {
    # Queries cannot override where results go, how they are encrypted or the scan limit.
    enforce_workgroup_configuration    = true
    publish_cloudwatch_metrics_enabled = true
    bytes_scanned_cutoff_per_query     = var.bytes_scanned_cutoff_per_query

    engine_version {
      selected_engine_version = "Athena engine version 3"
    }

    result_configuration {
      output_location       = "s3://${var.results_bucket_name}/results/"
      expected_bucket_owner = data.aws_caller_identity.current.account_id

      encryption_configuration {
        encryption_option = "SSE_KMS"
        kms_key_arn       = var.kms_key_arn
      }

      acl_configuration {
        s3_acl_option = "BUCKET_OWNER_FULL_CONTROL"
      }
    }
  }

  tags = var.tags
}

resource "aws_athena_named_query" "this" {
  for_each = var.named_queries

  name        = each.key
  description = each.value.description
  workgroup   = aws_athena_workgroup.this.name
  database    = aws_glue_catalog_database.this.name
  query       = each.value.query
}

locals {
  glue       = "arn:${data.aws_partition.current.partition}:glue:${data.aws_region.current.id}:${data.aws_caller_identity.current.account_id}"
  lake_arn   = "arn:${data.aws_partition.current.partition}:s3:::${var.lake_bucket_name}"
  results    = "arn:${data.aws_partition.current.partition}:s3:::${var.results_bucket_name}"
  read_paths = distinct(concat([for table in local.raw : table.prefix], [for table in local.compacted : table.compacted_prefix], [for table in local.compacted : table.log_prefix]))
}

# What whoever queries the lake needs, and nothing more: run queries in this workgroup only, read
# the catalog's tables and the prefixes they cover, and write results where the workgroup says.
data "aws_iam_policy_document" "reader" {
  statement {
    sid = "QueryInTheWorkgroup"
    actions = [
      "athena:BatchGetNamedQuery",
      "athena:BatchGetQueryExecution",
      "athena:GetNamedQuery",
      "athena:GetQueryExecution",
      "athena:GetQueryResults",
      "athena:GetQueryRuntimeStatistics",
      "athena:GetWorkGroup",
      "athena:ListNamedQueries",
      "athena:ListQueryExecutions",
      "athena:StartQueryExecution",
      "athena:StopQueryExecution",
    ]
    resources = [aws_athena_workgroup.this.arn]
  }

  statement {
    sid       = "ReadTheCatalog"
    actions   = ["glue:GetDatabase", "glue:GetPartition", "glue:GetPartitions", "glue:GetTable", "glue:GetTables"]
    resources = ["${local.glue}:catalog", "${local.glue}:database/${var.database_name}", "${local.glue}:table/${var.database_name}/*"]
  }

  statement {
    sid       = "ReadTheLakeTables"
    actions   = ["s3:GetObject"]
    resources = [for path in local.read_paths : "${local.lake_arn}/${path}/*"]
  }

  statement {
    sid       = "ListTheLakeTables"
    actions   = ["s3:ListBucket"]
    resources = [local.lake_arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = [for path in local.read_paths : "${path}/*"]
    }
  }

  statement {
    sid       = "WriteQueryResults"
    actions   = ["s3:AbortMultipartUpload", "s3:GetObject", "s3:ListMultipartUploadParts", "s3:PutObject"]
    resources = ["${local.results}/results/*"]
  }

  statement {
    sid       = "FindQueryResults"
    actions   = ["s3:GetBucketLocation", "s3:ListBucket"]
    resources = [local.results]
  }

  statement {
    sid       = "UseTheLakeKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
  }
}
