# Every watched part gets an alarm on the metric that shows it failing, and every alarm notifies
# the alarm topic when it fires and when it clears: planned against a mocked provider (no AWS).

mock_provider "aws" {
  mock_data "aws_iam_policy_document" {
    defaults = {
      json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
    }
  }
}

override_resource {
  target          = module.topic.aws_sns_topic.this
  override_during = plan # the alarms' actions name the topic's ARN, so it must be known in the plan
  values = {
    arn = "arn:aws:sns:eu-west-1:123456789012:tributary-test-alarms"
  }
}

variables {
  name        = "tributary-test"
  kms_key_arn = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000"
  functions = {
    reader = { function_name = "tributary-test-reader", timeout_s = 60 }
    api    = { function_name = "tributary-test-api", timeout_s = 10 }
  }
  stream_functions   = ["reader"]
  work_queues        = { jobs = { queue_name = "tributary-test-jobs", max_age_s = 900, function_name = "api" } }
  dead_letter_queues = { jobs_dlq = "tributary-test-jobs-dlq" }
  quarantine         = { stream_to_lake = { function_name = "tributary-test-reader", threshold = 100 } }
  integrity          = { table_sync = { function_name = "tributary-test-reader", metrics = ["ChangesParked", "AccountingMismatch"] } }
  codebuild_projects = ["tributary-test-git-mirror"]
  event_rules        = { nightly = "tributary-test-nightly" }
}

run "every_part_alarms_on_the_metric_that_shows_it_failing" {
  command = plan

  assert {
    condition = alltrue(flatten([
      for key, fn in var.functions : [
        for kind, metric in { errors = "Errors", throttles = "Throttles", duration = "Duration" } : (
          aws_cloudwatch_metric_alarm.this["${kind}/${key}"].namespace == "AWS/Lambda" &&
          aws_cloudwatch_metric_alarm.this["${kind}/${key}"].metric_name == metric &&
          aws_cloudwatch_metric_alarm.this["${kind}/${key}"].dimensions == tomap({ FunctionName = fn.function_name })
        )
      ]
    ]))
    error_message = "every function has an Errors, a Throttles and a Duration alarm on its own FunctionName"
  }
  assert {
    condition     = aws_cloudwatch_metric_alarm.this["duration/api"].threshold == 8000 && aws_cloudwatch_metric_alarm.this["duration/api"].statistic == "Maximum"
    error_message = "the duration alarm fires on one invocation over 80% of the function's timeout"
  }
  assert {
    condition = (
      aws_cloudwatch_metric_alarm.this["iterator_age/reader"].metric_name == "IteratorAge" &&
      aws_cloudwatch_metric_alarm.this["iterator_age/reader"].dimensions == tomap({ FunctionName = "tributary-test-reader" }) &&
      !contains(keys(aws_cloudwatch_metric_alarm.this), "iterator_age/api")
    )
    error_message = "only the stream functions have an IteratorAge alarm"
  }
  assert {
    condition     = aws_cloudwatch_metric_alarm.this["iterator_age/reader"].treat_missing_data == "missing" && aws_cloudwatch_metric_alarm.this["errors/reader"].treat_missing_data == "notBreaching"
    error_message = "missing data hides a stuck mapping, so only the iterator age does not treat it as fine"
  }
  assert {
    condition = (
      aws_cloudwatch_metric_alarm.this["dead_letters/jobs_dlq"].namespace == "AWS/SQS" &&
      aws_cloudwatch_metric_alarm.this["dead_letters/jobs_dlq"].metric_name == "ApproximateNumberOfMessagesVisible" &&
      aws_cloudwatch_metric_alarm.this["dead_letters/jobs_dlq"].dimensions == tomap({ QueueName = "tributary-test-jobs-dlq" }) &&
      aws_cloudwatch_metric_alarm.this["dead_letters/jobs_dlq"].threshold == 0
    )
    error_message = "one message in a dead-letter queue raises its alarm"
  }
  assert {
    condition = (
      aws_cloudwatch_metric_alarm.this["oldest_message/jobs"].metric_name == "ApproximateAgeOfOldestMessage" &&
      aws_cloudwatch_metric_alarm.this["oldest_message/jobs"].dimensions == tomap({ QueueName = "tributary-test-jobs" }) &&
      aws_cloudwatch_metric_alarm.this["oldest_message/jobs"].threshold == 900
    )
    error_message = "a work queue alarms when its oldest message is older than its max_age_s"
  }
  assert {
    condition = (
      aws_cloudwatch_metric_alarm.this["quarantine/stream_to_lake"].namespace == "tributary" &&
      aws_cloudwatch_metric_alarm.this["quarantine/stream_to_lake"].metric_name == "RecordsQuarantined" &&
      aws_cloudwatch_metric_alarm.this["quarantine/stream_to_lake"].dimensions == tomap({ Function = "tributary-test-reader" }) &&
      aws_cloudwatch_metric_alarm.this["quarantine/stream_to_lake"].threshold == 100
    )
    error_message = "the path alarms on RecordsQuarantined above its threshold"
  }
  assert {
    condition = alltrue([
      for metric in ["ChangesParked", "AccountingMismatch"] : (
        aws_cloudwatch_metric_alarm.this["integrity/table_sync/${metric}"].namespace == "tributary" &&
        aws_cloudwatch_metric_alarm.this["integrity/table_sync/${metric}"].metric_name == metric &&
        aws_cloudwatch_metric_alarm.this["integrity/table_sync/${metric}"].dimensions == tomap({ Function = "tributary-test-reader" }) &&
        aws_cloudwatch_metric_alarm.this["integrity/table_sync/${metric}"].threshold == 0
      )
    ])
    error_message = "every integrity metric (ChangesParked among them) raises an alarm on any non-zero value"
  }
  assert {
    condition = (
      aws_cloudwatch_metric_alarm.this["failed_builds/tributary-test-git-mirror"].namespace == "AWS/CodeBuild" &&
      aws_cloudwatch_metric_alarm.this["failed_builds/tributary-test-git-mirror"].metric_name == "FailedBuilds" &&
      aws_cloudwatch_metric_alarm.this["failed_builds/tributary-test-git-mirror"].dimensions == tomap({ ProjectName = "tributary-test-git-mirror" })
    )
    error_message = "a failed build of the mirror raises an alarm"
  }
  assert {
    condition = (
      aws_cloudwatch_metric_alarm.this["lost_events/nightly"].metric_name == "InvocationsFailedToBeSentToDlq" &&
      aws_cloudwatch_metric_alarm.this["lost_events/nightly"].dimensions == tomap({ RuleName = "tributary-test-nightly" })
    )
    error_message = "an event a rule could not even dead-letter raises an alarm"
  }
  assert {
    # 2 functions x 3, 1 iterator age, 1 DLQ, 1 work queue, 1 quarantine, 2 integrity, 1 build, 1 rule.
    condition     = length(aws_cloudwatch_metric_alarm.this) == 14
    error_message = "one alarm for each watched part and metric, no more"
  }
}

run "every_alarm_notifies_the_topic_when_it_fires_and_when_it_clears" {
  command = plan

  assert {
    condition = alltrue([
      for key, alarm in aws_cloudwatch_metric_alarm.this :
      alarm.alarm_actions == toset(["arn:aws:sns:eu-west-1:123456789012:tributary-test-alarms"]) &&
      alarm.ok_actions == toset(["arn:aws:sns:eu-west-1:123456789012:tributary-test-alarms"])
    ])
    error_message = "every alarm sends ALARM and OK to the alarm topic"
  }
  assert {
    condition     = output.topic_arn == "arn:aws:sns:eu-west-1:123456789012:tributary-test-alarms"
    error_message = "the topic the alarms notify is the one the module gives out"
  }
  assert {
    condition     = aws_cloudwatch_dashboard.this.dashboard_name == "tributary-test"
    error_message = "one dashboard, named after the stack"
  }
}
