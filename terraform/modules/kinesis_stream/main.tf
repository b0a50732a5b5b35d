resource "aws_kinesis_stream" "this" {
  name             = var.name
  shard_count      = var.on_demand ? null : var.shard_count
  retention_period = var.retention_hours
  encryption_type  = "KMS"
  kms_key_id       = var.kms_key_arn
  tags             = var.tags

  shard_level_metrics = ["IncomingBytes", "IncomingRecords", "WriteProvisionedThroughputExceeded", "IteratorAgeMilliseconds"]

  stream_mode_details {
    stream_mode = var.on_demand ? "ON_DEMAND" : "PROVISIONED"
  }
}
