# Alarms for every moving part of the three jobs, all routed to one SNS topic, and one
# dashboard. Thresholds are per alarm type; every alarm treats missing data as "not
# breaching" (no invocations is not a failure), except the iterator age, where missing
# data while records wait would hide a stuck mapping.

data "aws_region" "current" {}

resource "aws_sns_topic" "alarms" {
  name              = "${var.name}-alarms"
  kms_master_key_id = var.kms_key_arn
  tags              = var.tags
}

data "aws_caller_identity" "current" {}

data "aws_iam_policy_document" "alarms" {
  statement {
    sid       = "CloudWatchAlarms"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alarms.arn]

    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }

  statement {
    sid       = "TlsOnly"
    effect    = "Deny"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alarms.arn]

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
}

resource "aws_sns_topic_policy" "alarms" {
  arn    = aws_sns_topic.alarms.arn
  policy = data.aws_iam_policy_document.alarms.json
}

resource "aws_sns_topic_subscription" "email" {
  for_each = toset(var.alarm_emails)

  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = each.value
}

locals {
  actions = [aws_sns_topic.alarms.arn]
}

resource "aws_cloudwatch_metric_alarm" "errors" {
  for_each = var.functions

  alarm_name          = "${each.value.function_name}-errors"
  alarm_description   = "${each.key} returned errors (failed invocations are retried or sent to the failure destination)."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = each.value.function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "throttles" {
  for_each = var.functions

  alarm_name          = "${each.value.function_name}-throttles"
  alarm_description   = "${each.key} was throttled: raise its reserved concurrency or the account's limit."
  namespace           = "AWS/Lambda"
  metric_name         = "Throttles"
  dimensions          = { FunctionName = each.value.function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "duration" {
  for_each = var.functions

  alarm_name          = "${each.value.function_name}-duration"
  alarm_description   = "${each.key} ran longer than ${var.duration_ratio * 100}% of its ${each.value.timeout_s} s timeout."
  namespace           = "AWS/Lambda"
  metric_name         = "Duration"
  dimensions          = { FunctionName = each.value.function_name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = each.value.timeout_s * 1000 * var.duration_ratio
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "iterator_age" {
  for_each = var.stream_functions

  alarm_name          = "${var.functions[each.value].function_name}-iterator-age"
  alarm_description   = "${each.value} is falling behind its stream: records wait longer than ${var.iterator_age_ms / 1000} s."
  namespace           = "AWS/Lambda"
  metric_name         = "IteratorAge"
  dimensions          = { FunctionName = var.functions[each.value].function_name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 5
  datapoints_to_alarm = 3
  threshold           = var.iterator_age_ms
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "missing"
  alarm_actions       = local.actions
  ok_actions          = local.actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "dead_letters" {
  for_each = var.dead_letter_queues

  alarm_name          = "${each.value}-not-empty"
  alarm_description   = "${each.key} holds messages: each is a failure to look at (docs/runbooks/redrive-a-dlq.md)."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = each.value }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "oldest_message" {
  for_each = var.work_queues

  alarm_name          = "${each.value.queue_name}-oldest-message"
  alarm_description   = "${each.value.function_name} is falling behind ${each.key}: a message waited over ${each.value.max_age_s} s."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateAgeOfOldestMessage"
  dimensions          = { QueueName = each.value.queue_name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = each.value.max_age_s
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "quarantine" {
  for_each = var.quarantine

  alarm_name          = "${var.name}-${each.key}-quarantine"
  alarm_description   = "More than ${each.value.threshold} records quarantined in 5 minutes on ${each.key} (docs/runbooks/replay-quarantine.md)."
  namespace           = "tributary"
  metric_name         = "RecordsQuarantined"
  dimensions          = { Function = each.value.function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = each.value.threshold
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "failed_builds" {
  for_each = var.codebuild_projects

  alarm_name          = "${each.value}-failed"
  alarm_description   = "A build of ${each.value} failed (docs/runbooks/rerun-git-mirror.md)."
  namespace           = "AWS/CodeBuild"
  metric_name         = "FailedBuilds"
  dimensions          = { ProjectName = each.value }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
  tags                = var.tags
}

locals {
  region = data.aws_region.current.region

  function_metric_rows = {
    for label, metric in { errors = "Errors", throttles = "Throttles", duration = "Duration" } : label => [
      for key, fn in var.functions : ["AWS/Lambda", metric, "FunctionName", fn.function_name, { label = key }]
    ]
  }

  widgets = concat(
    [
      {
        type       = "text", x = 0, y = 0, width = 24, height = 2,
        properties = { markdown = "## ${var.name}\nStream → lake, table → table and code → code. Alarms go to `${aws_sns_topic.alarms.name}`; runbooks are in docs/runbooks/." }
      },
      {
        type = "metric", x = 0, y = 2, width = 12, height = 6,
        properties = {
          title   = "Stream → lake: records per 5 minutes", region = local.region, stat = "Sum", period = 300,
          view    = "timeSeries",
          metrics = [for name, q in var.quarantine : ["tributary", "RecordsWritten", "Function", q.function_name]],
        }
      },
      {
        type = "metric", x = 12, y = 2, width = 12, height = 6,
        properties = {
          title   = "Quarantined records per 5 minutes", region = local.region, stat = "Sum", period = 300,
          view    = "timeSeries",
          metrics = [for name, q in var.quarantine : ["tributary", "RecordsQuarantined", "Function", q.function_name, { label = name }]],
        }
      },
      {
        type = "metric", x = 0, y = 8, width = 12, height = 6,
        properties = {
          title   = "Iterator age (ms): stream mappings", region = local.region, stat = "Maximum", period = 60,
          view    = "timeSeries",
          metrics = [for key in var.stream_functions : ["AWS/Lambda", "IteratorAge", "FunctionName", var.functions[key].function_name, { label = key }]],
        }
      },
      {
        type = "metric", x = 12, y = 8, width = 12, height = 6,
        properties = {
          title   = "Queues: age of the oldest message (s)", region = local.region, stat = "Maximum", period = 300,
          view    = "timeSeries",
          metrics = [for key, q in var.work_queues : ["AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", q.queue_name, { label = key }]],
        }
      },
      {
        type = "metric", x = 0, y = 14, width = 8, height = 6,
        properties = {
          title   = "Function errors", region = local.region, stat = "Sum", period = 300, view = "timeSeries",
          metrics = local.function_metric_rows.errors,
        }
      },
      {
        type = "metric", x = 8, y = 14, width = 8, height = 6,
        properties = {
          title   = "Function throttles", region = local.region, stat = "Sum", period = 300, view = "timeSeries",
          metrics = local.function_metric_rows.throttles,
        }
      },
      {
        type = "metric", x = 16, y = 14, width = 8, height = 6,
        properties = {
          title   = "Function duration, p99 (ms)", region = local.region, stat = "p99", period = 300, view = "timeSeries",
          metrics = local.function_metric_rows.duration,
        }
      },
      {
        type = "metric", x = 0, y = 20, width = 12, height = 6,
        properties = {
          title   = "Dead letters and failure destinations (messages)", region = local.region, stat = "Maximum", period = 300,
          view    = "timeSeries",
          metrics = [for key, queue in var.dead_letter_queues : ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", queue, { label = key }]],
        }
      },
      {
        type = "alarm", x = 12, y = 20, width = 12, height = 6,
        properties = {
          title = "Alarms",
          alarms = concat(
            [for a in aws_cloudwatch_metric_alarm.errors : a.arn],
            [for a in aws_cloudwatch_metric_alarm.iterator_age : a.arn],
            [for a in aws_cloudwatch_metric_alarm.dead_letters : a.arn],
            [for a in aws_cloudwatch_metric_alarm.quarantine : a.arn],
            [for a in aws_cloudwatch_metric_alarm.failed_builds : a.arn],
          )
        }
      },
    ],
    length(var.codebuild_projects) == 0 ? [] : [
      {
        type = "metric", x = 0, y = 26, width = 24, height = 6,
        properties = {
          title = "Code → code: mirror builds", region = local.region, stat = "Sum", period = 3600,
          view  = "timeSeries",
          metrics = flatten([for project in var.codebuild_projects : [
            ["AWS/CodeBuild", "SucceededBuilds", "ProjectName", project],
            ["AWS/CodeBuild", "FailedBuilds", "ProjectName", project],
          ]]),
        }
      },
    ],
  )
}

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = var.name
  dashboard_body = jsonencode({ widgets = local.widgets })
}
