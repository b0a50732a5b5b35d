output "topic_arn" {
  description = "The SNS topic every alarm notifies (subscribe chat or paging integrations here)."
  value       = aws_sns_topic.alarms.arn
}

output "dashboard_name" {
  description = "The CloudWatch dashboard for the three jobs."
  value       = aws_cloudwatch_dashboard.this.dashboard_name
}

output "alarm_names" {
  description = "Every alarm, by kind."
  value = {
    errors         = [for a in aws_cloudwatch_metric_alarm.errors : a.alarm_name]
    throttles      = [for a in aws_cloudwatch_metric_alarm.throttles : a.alarm_name]
    duration       = [for a in aws_cloudwatch_metric_alarm.duration : a.alarm_name]
    iterator_age   = [for a in aws_cloudwatch_metric_alarm.iterator_age : a.alarm_name]
    dead_letters   = [for a in aws_cloudwatch_metric_alarm.dead_letters : a.alarm_name]
    oldest_message = [for a in aws_cloudwatch_metric_alarm.oldest_message : a.alarm_name]
    quarantine     = [for a in aws_cloudwatch_metric_alarm.quarantine : a.alarm_name]
    failed_builds  = [for a in aws_cloudwatch_metric_alarm.failed_builds : a.alarm_name]
  }
}
