# Least privilege per function: exactly the stream, bucket prefixes, queue and key it uses.

locals {
  lake_prefix       = local.declarations.stream_processor.environment.LAKE_PREFIX
  quarantine_prefix = local.declarations.stream_processor.environment.QUARANTINE_PREFIX

  function_policies = {
    stream_processor = data.aws_iam_policy_document.stream_processor.json
    ingest_api       = data.aws_iam_policy_document.ingest_api.json
  }
}

data "aws_iam_policy_document" "stream_processor" {
  statement {
    sid = "ReadEventsStream"
    actions = [
      "kinesis:DescribeStream",
      "kinesis:DescribeStreamSummary",
      "kinesis:GetRecords",
      "kinesis:GetShardIterator",
      "kinesis:ListShards",
      "kinesis:SubscribeToShard",
    ]
    resources = [module.events_stream.arn]
  }

  statement {
    sid       = "WriteLakeAndQuarantine"
    actions   = ["s3:PutObject"]
    resources = ["${module.lake.arn}/${local.lake_prefix}/*", "${module.lake.arn}/${local.quarantine_prefix}/*"]
  }

  statement {
    sid       = "DedupeState"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = ["${module.lake.arn}/${local.declarations.stream_processor.environment.STATE_PREFIX}/*"]
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
