# Alarms for every moving part of the three jobs, all routed to one SNS topic, and one
# dashboard. Every alarm treats missing data as "not breaching" (no invocations is not a
# failure), except the iterator age, where missing data while records wait would hide a
# stuck mapping.

data "aws_region" "current" {}

module "topic" {
  source = "../sns_topic"

  name               = "${var.name}-alarms"
  kms_key_arn        = var.kms_key_arn
  publisher_services = ["cloudwatch.amazonaws.com"]
  tags               = var.tags
}

resource "aws_sns_topic_subscription" "email" {
  for_each = toset(var.alarm_emails)

  topic_arn = module.topic.arn
  protocol  = "email"
  endpoint  = each.value
}

locals {
  # One entry per alarm, keyed "<kind>/<label>". Defaults below: Sum over 5 minutes, one
  # period, greater than the threshold, missing data not breaching.
  alarm_specs = merge(
    { for key, fn in var.functions : "errors/${key}" => {
      name        = "${fn.function_name}-errors", namespace = "AWS/Lambda", metric = "Errors",
      dimensions  = { FunctionName = fn.function_name }, threshold = 0,
      description = "${key} returned errors (failed invocations are retried or sent to the failure destination)."
    } },
    { for key, fn in var.functions : "throttles/${key}" => {
      name        = "${fn.function_name}-throttles", namespace = "AWS/Lambda", metric = "Throttles",
      dimensions  = { FunctionName = fn.function_name }, threshold = 0,
      description = "${key} was throttled: raise its reserved concurrency or the account's limit."
    } },
    { for key, fn in var.functions : "duration/${key}" => {
      name        = "${fn.function_name}-duration", namespace = "AWS/Lambda", metric = "Duration", statistic = "Maximum",
      dimensions  = { FunctionName = fn.function_name }, threshold = fn.timeout_s * 1000 * var.duration_ratio,
      description = "${key} ran longer than ${var.duration_ratio * 100}% of its ${fn.timeout_s} s timeout."
    } },
    { for key in var.stream_functions : "iterator_age/${key}" => {
      name        = "${var.functions[key].function_name}-iterator-age", namespace = "AWS/Lambda", metric = "IteratorAge",
      dimensions  = { FunctionName = var.functions[key].function_name }, threshold = var.iterator_age_ms,
      statistic   = "Maximum", period = 60, evaluation_periods = 5, datapoints_to_alarm = 3, missing = "missing",
      description = "${key} is falling behind its stream: records wait longer than ${var.iterator_age_ms / 1000} s."
    } },
    { for key, queue in var.dead_letter_queues : "dead_letters/${key}" => {
      name        = "${queue}-not-empty", namespace = "AWS/SQS", metric = "ApproximateNumberOfMessagesVisible",
      dimensions  = { QueueName = queue }, threshold = 0, statistic = "Maximum",
      description = "${key} holds messages: each is a failure to look at (docs/runbooks/redrive-a-dlq.md)."
    } },
    { for key, queue in var.work_queues : "oldest_message/${key}" => {
      name        = "${queue.queue_name}-oldest-message", namespace = "AWS/SQS", metric = "ApproximateAgeOfOldestMessage",
      dimensions  = { QueueName = queue.queue_name }, threshold = queue.max_age_s, statistic = "Maximum",
      description = "${queue.function_name} is falling behind ${key}: a message waited over ${queue.max_age_s} s."
    } },
    { for key, path in var.quarantine : "quarantine/${key}" => {
      name        = "${var.name}-${key}-quarantine", namespace = "tributary", metric = "RecordsQuarantined",
      dimensions  = { Function = path.function_name }, threshold = path.threshold,
      description = "More than ${path.threshold} records quarantined in 5 minutes on ${key} (docs/runbooks/replay-quarantine.md)."
    } },
    merge([for key, watched in var.integrity : { for metric in watched.metrics : "integrity/${key}/${metric}" => {
      name        = "${var.name}-${key}-${lower(metric)}", namespace = "tributary", metric = metric,
      dimensions  = { Function = watched.function_name }, threshold = 0,
      description = "${watched.function_name} reported ${metric}: a guarantee is at risk (docs/runbooks/README.md)."
    } }]...),
    { for project in var.codebuild_projects : "failed_builds/${project}" => {
      name        = "${project}-failed", namespace = "AWS/CodeBuild", metric = "FailedBuilds",
      dimensions  = { ProjectName = project }, threshold = 0,
      description = "A build of ${project} failed (docs/runbooks/rerun-git-mirror.md)."
    } },
    { for key, rule in var.event_rules : "lost_events/${key}" => {
      name        = "${rule}-dead-letter-failed", namespace = "AWS/Events", metric = "InvocationsFailedToBeSentToDlq",
      dimensions  = { RuleName = rule }, threshold = 0,
      description = "Rule ${rule} could neither deliver an event nor put it in its dead-letter queue: the event is lost."
    } },
  )
}

resource "aws_cloudwatch_metric_alarm" "this" {
  for_each = local.alarm_specs

  alarm_name          = each.value.name
  alarm_description   = each.value.description
  namespace           = each.value.namespace
  metric_name         = each.value.metric
  dimensions          = each.value.dimensions
  statistic           = lookup(each.value, "statistic", "Sum")
  period              = lookup(each.value, "period", 300)
  evaluation_periods  = lookup(each.value, "evaluation_periods", 1)
  datapoints_to_alarm = lookup(each.value, "datapoints_to_alarm", null)
  threshold           = each.value.threshold
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = lookup(each.value, "missing", "notBreaching")
  alarm_actions       = [module.topic.arn]
  ok_actions          = [module.topic.arn]
  tags                = var.tags
}

locals {
  region = data.aws_region.current.id

  function_metric_rows = {
    for label, metric in { errors = "Errors", throttles = "Throttles", duration = "Duration" } : label => [
      for key, fn in var.functions : ["AWS/Lambda", metric, "FunctionName", fn.function_name, { label = key }]
    ]
  }

  widgets = concat(
    [
      {
        type       = "text", x = 0, y = 0, width = 24, height = 2,
        properties = { markdown = "## ${var.name}\nStream → lake, table → table and code → code. Alarms go to `${module.topic.name}`; runbooks are in docs/runbooks/." }
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
          alarms = [
            for key, alarm in aws_cloudwatch_metric_alarm.this : alarm.arn
            if contains(["errors", "iterator_age", "dead_letters", "quarantine", "failed_builds", "lost_events"], split("/", key)[0])
          ]
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
