output "arn" {
  description = "ARN of the queue."
  value       = aws_sqs_queue.this.arn
}

output "url" {
  description = "URL of the queue."
  value       = aws_sqs_queue.this.id
}

output "name" {
  description = "Name of the queue."
  value       = aws_sqs_queue.this.name
}

output "dlq_arn" {
  description = "ARN of the dead-letter queue, or null without one."
  value       = try(aws_sqs_queue.dlq[0].arn, null)
}

output "dlq_url" {
  description = "URL of the dead-letter queue, or null without one."
  value       = try(aws_sqs_queue.dlq[0].id, null)
}

output "dlq_name" {
  description = "Name of the dead-letter queue, or null without one."
  value       = try(aws_sqs_queue.dlq[0].name, null)
}
