output "arn" {
  description = "ARN of the topic."
  value       = aws_sns_topic.this.arn
}

output "name" {
  description = "Name of the topic."
  value       = aws_sns_topic.this.name
}

output "subscription_arns" {
  description = "ARNs of the queue subscriptions, by label."
  value       = { for label, subscription in aws_sns_topic_subscription.queue : label => subscription.arn }
}
