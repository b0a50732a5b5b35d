output "uuid" {
  description = "Identifier of the event source mapping."
  value       = aws_lambda_event_source_mapping.this.uuid
}

output "function_arn" {
  description = "ARN of the function the mapping invokes."
  value       = aws_lambda_event_source_mapping.this.function_arn
}
