output "arn" {
  description = "ARN of the layer version, for functions' layers."
  value       = aws_lambda_layer_version.this.arn
}

output "version" {
  description = "Version number of the published layer."
  value       = aws_lambda_layer_version.this.version
}

output "architecture" {
  description = "Architecture the layer was built and published for."
  value       = var.architecture
}
