# Least privilege per function: exactly the stream, bucket prefixes, queue and key it uses.

locals {
  lake_prefix       = local.declarations.stream_processor.environment.LAKE_PREFIX
  quarantine_prefix = local.declarations.stream_processor.environment.QUARANTINE_PREFIX

  function_policies = {
    stream_processor = data.aws_iam_policy_document.stream_processor.json
    ingest_api       = data.aws_iam_policy_document.ingest_api.json
    table_sync       = data.aws_iam_policy_document.table_sync.json
    change_publisher = data.aws_iam_policy_document.change_publisher.json
    change_applier   = data.aws_iam_policy_document.change_applier.json
    code_sync        = data.aws_iam_policy_document.code_sync.json
    lake_compactor   = data.aws_iam_policy_document.lake_compactor.json
  }
}

data "aws_iam_policy_document" "stream_processor" {
  # What the event source mapping polls with (a standard iterator: no enhanced fan-out consumer,
  # so no kinesis:SubscribeToShard, which only takes a consumer ARN).
  statement {
    sid = "ReadEventsStream"
    actions = [
      "kinesis:DescribeStream",
      "kinesis:DescribeStreamSummary",
      "kinesis:GetRecords",
      "kinesis:GetShardIterator",
      "kinesis:ListShards",
    ]
    resources = [module.events_stream.arn]
  }

  # DeleteObject: before each put, the same key under the other codec's ending (an attempt before
  # a change of lake_codec may have written it), so no record is in the lake twice.
  statement {
    sid       = "WriteLakeAndQuarantine"
    actions   = ["s3:DeleteObject", "s3:PutObject"]
    resources = ["${module.lake.arn}/${local.lake_prefix}/*", "${module.lake.arn}/${local.quarantine_prefix}/*"]
  }

  statement {
    sid       = "DedupeState"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = ["${module.lake.arn}/${local.declarations.stream_processor.environment.STATE_PREFIX}/*"]
  }

  # S3 answers a GET of a missing key with 404 only to a caller that may list the bucket, and with
  # 403 to others. A shard's first batch reads a state object that does not exist yet, and a GET
  # carries no s3:prefix to condition the listing on, so the grant is the whole bucket's key names.
  statement {
    sid       = "TellMissingStateFromDenied"
    actions   = ["s3:ListBucket"]
    resources = [module.lake.arn]
  }

  statement {
    sid       = "ReportFailedBatches"
    actions   = ["sqs:SendMessage"]
    resources = [module.events_failures.arn]
  }

  statement {
    sid       = "UseStackKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.this.arn]
  }
}

data "aws_iam_policy_document" "ingest_api" {
  statement {
    sid       = "PutToEventsStream"
    actions   = ["kinesis:PutRecord", "kinesis:PutRecords"]
    resources = [module.events_stream.arn]
  }

  statement {
    sid       = "EncryptForStream"
    actions   = ["kms:GenerateDataKey"]
    resources = [aws_kms_key.this.arn]
  }
}

# What both readers of table1's stream need: read the stream, report failed batches and park refused
# changes (PARKED_QUEUE_URL) in the table failures queue, use the key.
data "aws_iam_policy_document" "table1_stream_reader" {
  statement {
    sid       = "ReadTable1Stream"
    actions   = ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"]
    resources = [module.table1.stream_arn, "${module.table1.arn}/stream/*"]
  }

  statement {
    sid = "ListStreams"
    # ListStreams takes no resource type: AWS authorises it against "*" only.
    actions   = ["dynamodb:ListStreams"]
    resources = ["*"]
  }

  statement {
    sid       = "ReportFailedBatches"
    actions   = ["sqs:SendMessage"]
    resources = [module.table_failures.arn]
  }

  statement {
    sid       = "UseStackKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.this.arn]
  }
}

data "aws_iam_policy_document" "table_sync" {
  source_policy_documents = [data.aws_iam_policy_document.table1_stream_reader.json]

  statement {
    sid       = "ReadCurrentItemsFromTable1"
    actions   = ["dynamodb:GetItem"]
    resources = [module.table1.arn]
  }

  # GetItem on table2 reads the item a conditional write lost to; on table1 it reads the current
  # state when table2 holds a backfilled or repaired copy (tributary.replica.apply).
  statement {
    sid       = "WriteTable2"
    actions   = ["dynamodb:PutItem", "dynamodb:GetItem"]
    resources = [module.table2.arn]
  }
}

data "aws_iam_policy_document" "change_publisher" {
  source_policy_documents = [data.aws_iam_policy_document.table1_stream_reader.json]

  statement {
    sid       = "PublishChanges"
    actions   = ["sns:Publish"]
    resources = [module.changes_topic.arn]
  }
}

data "aws_iam_policy_document" "change_applier" {
  statement {
    sid       = "ReadCurrentItemsFromTable1"
    actions   = ["dynamodb:GetItem"]
    resources = [module.table1.arn]
  }

  statement {
    sid       = "ConsumeChanges"
    actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"]
    resources = [module.changes_queue.arn]
  }

  # A refused message goes straight to the DLQ the queue's redrive policy names, with its reason.
  statement {
    sid       = "FindDeadLetterQueue"
    actions   = ["sqs:GetQueueUrl"]
    resources = [module.changes_queue.arn, module.changes_queue.dlq_arn]
  }

  statement {
    sid       = "DeadLetterRefusedChanges"
    actions   = ["sqs:SendMessage"]
    resources = [module.changes_queue.dlq_arn]
  }

  # GetItem on table2 reads the item a conditional write lost to; on table1 it reads the current
  # state when table2 holds a backfilled or repaired copy (tributary.replica.apply).
  statement {
    sid       = "WriteTable2"
    actions   = ["dynamodb:PutItem", "dynamodb:GetItem"]
    resources = [module.table2.arn]
  }

  statement {
    sid       = "UseStackKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.this.arn]
  }
}

data "aws_iam_policy_document" "code_sync" {
  statement {
    sid       = "ReadSourcePrefix"
    actions   = ["s3:GetObject", "s3:GetObjectTagging", "s3:GetObjectVersion", "s3:GetObjectVersionTagging"]
    resources = ["${module.code_bucket1.arn}/${local.declarations.code_sync.environment.SOURCE_PREFIX}*"]
  }

  statement {
    sid = "WriteTargetPrefix"
    # GetObjectTagging compares the copy's tags; GetObject is also what a conditional delete
    # (If-Match on the ETag the decision saw) requires beside DeleteObject.
    actions   = ["s3:GetObject", "s3:GetObjectTagging", "s3:PutObject", "s3:PutObjectTagging", "s3:DeleteObject"]
    resources = ["${module.code_bucket2.arn}/${local.declarations.code_sync.environment.TARGET_PREFIX}*"]
  }

  # ListBucket on both whole buckets, with no s3:prefix condition: S3 answers a HEAD of a missing
  # key with 404 only when the caller may list the bucket (403 otherwise), and a HEAD request carries
  # no s3:prefix, so a prefix condition would turn every "absent" into 403 and stop every first copy
  # and every delete. The code also lists the exact key to tell a missing key from a missing bucket.
  # Listing shows key names only; these buckets hold code and the function's own state, nothing else.
  statement {
    sid       = "ListBothBuckets"
    actions   = ["s3:ListBucket"]
    resources = [module.code_bucket1.arn, module.code_bucket2.arn]
  }

  # A reconciliation that runs out of time hands the rest to a continuation message on its own queue.
  statement {
    sid       = "ContinueReconciliation"
    actions   = ["sqs:SendMessage"]
    resources = [module.code_events.arn]
  }

  statement {
    sid       = "ConsumeCodeEvents"
    actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"]
    resources = [module.code_events.arn]
  }

  statement {
    sid       = "UseStackKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.this.arn]
  }
}

# The compactor reads an hour's raw objects and log, writes its Parquet files and the next log
# object, and deletes what no query reads any more; nothing else of the lake.
data "aws_iam_policy_document" "lake_compactor" {
  statement {
    sid       = "ListTheCompactedTable"
    actions   = ["s3:ListBucket"]
    resources = [module.lake.arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values = [
        "${local.compacted_table.prefix}/*",
        "${local.compacted_table.compacted_prefix}/*",
        "${local.compacted_table.log_prefix}/*",
      ]
    }
  }

  statement {
    sid       = "ReadRawObjectsAndLogs"
    actions   = ["s3:GetObject"]
    resources = ["${module.lake.arn}/${local.compacted_table.prefix}/*", "${module.lake.arn}/${local.compacted_table.log_prefix}/*"]
  }

  statement {
    sid       = "WriteParquetAndLogs"
    actions   = ["s3:PutObject"]
    resources = ["${module.lake.arn}/${local.compacted_table.compacted_prefix}/*", "${module.lake.arn}/${local.compacted_table.log_prefix}/*"]
  }

  statement {
    sid       = "DeleteWhatNoQueryReads"
    actions   = ["s3:DeleteObject"]
    resources = ["${module.lake.arn}/${local.compacted_table.prefix}/*", "${module.lake.arn}/${local.compacted_table.compacted_prefix}/*"]
  }

  statement {
    sid       = "UseStackKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.this.arn]
  }
}
