output "topic_arn" {
  description = "The SNS topic every alarm notifies (subscribe chat or paging integrations here)."
  value       = module.topic.arn
}

output "dashboard_name" {
  description = "The CloudWatch dashboard for the three jobs."
  value       = aws_cloudwatch_dashboard.this.dashboard_name
}

output "alarm_names" {
  description = "Every alarm, by kind (errors, throttles, duration, iterator_age, dead_letters, oldest_message, quarantine, failed_builds)."
  value = {
    for kind in distinct([for key in keys(local.alarm_specs) : split("/", key)[0]]) : kind => [
      for key, alarm in aws_cloudwatch_metric_alarm.this : alarm.alarm_name if split("/", key)[0] == kind
    ]
  }
}
