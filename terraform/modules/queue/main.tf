locals {
  suffix = var.fifo ? ".fifo" : ""
}

resource "aws_sqs_queue" "dlq" {
  count = var.max_receive_count > 0 ? 1 : 0

  name                              = "${var.name}-dlq${local.suffix}"
  fifo_queue                        = var.fifo
  kms_master_key_id                 = var.kms_key_arn
  kms_data_key_reuse_period_seconds = 3600
  message_retention_seconds         = 1209600
  tags                              = var.tags
}

resource "aws_sqs_queue" "this" {
  name                              = "${var.name}${local.suffix}"
  fifo_queue                        = var.fifo
  content_based_deduplication       = false
  kms_master_key_id                 = var.kms_key_arn
  kms_data_key_reuse_period_seconds = 3600
  visibility_timeout_seconds        = var.visibility_timeout_seconds
  message_retention_seconds         = var.message_retention_seconds
  tags                              = var.tags

  redrive_policy = var.max_receive_count > 0 ? jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dlq[0].arn
    maxReceiveCount     = var.max_receive_count
  }) : null
}

resource "aws_sqs_queue_redrive_allow_policy" "dlq" {
  count = var.max_receive_count > 0 ? 1 : 0

  queue_url = aws_sqs_queue.dlq[0].id
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.this.arn]
  })
}

data "aws_iam_policy_document" "this" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["sqs:*"]
    resources = [aws_sqs_queue.this.arn]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  dynamic "statement" {
    for_each = var.allowed_sender_arns

    content {
      sid       = "Allow${replace(title(replace(split(".", statement.key)[0], "-", " ")), " ", "")}Send"
      actions   = ["sqs:SendMessage"]
      resources = [aws_sqs_queue.this.arn]

      principals {
        type        = "Service"
        identifiers = [statement.key]
      }

      condition {
        test     = "ArnEquals"
        variable = "aws:SourceArn"
        values   = statement.value
      }
    }
  }
}

resource "aws_sqs_queue_policy" "this" {
  queue_url = aws_sqs_queue.this.id
  policy    = data.aws_iam_policy_document.this.json
}
