output "api_id" {
  description = "Identifier of the HTTP API."
  value       = aws_apigatewayv2_api.this.id
}

output "endpoint" {
  description = "Base URL of the API (the route's path follows it)."
  value       = aws_apigatewayv2_stage.this.invoke_url
}

output "execution_arn" {
  description = "Execution ARN, for IAM policies that allow callers to invoke the route (execute-api:Invoke)."
  value       = aws_apigatewayv2_api.this.execution_arn
}

output "route_arn" {
  description = "ARN callers need execute-api:Invoke on."
  value       = "${aws_apigatewayv2_api.this.execution_arn}/*/${replace(var.route_key, " ", "")}"
}
