output "name" {
  description = "Name of the table."
  value       = aws_dynamodb_table.this.name
}

output "arn" {
  description = "ARN of the table."
  value       = aws_dynamodb_table.this.arn
}

output "stream_arn" {
  description = "ARN of the table's stream, or null without one."
  value       = var.stream_view_type == null ? null : aws_dynamodb_table.this.stream_arn
}
