output "events_stream_name" {
  description = "Kinesis stream producers write to."
  value       = module.events_stream.name
}

output "lake_bucket" {
  description = "Bucket holding the lake (events/) and the quarantine (quarantine/)."
  value       = module.lake.name
}

output "events_failures_queue_url" {
  description = "Queue receiving the invocation records of batches that exhausted their retries."
  value       = module.events_failures.url
}

output "function_names" {
  description = "Deployed function names, by declaration."
  value       = { for name, fn in module.function : name => fn.function_name }
}

output "layer_arn" {
  description = "ARN of the shared layer version."
  value       = module.layer.arn
}

output "kms_key_arn" {
  description = "The stack's KMS key."
  value       = aws_kms_key.this.arn
}

output "ingest_endpoint" {
  description = "HTTP ingest endpoint (POST records, signed with SigV4)."
  value       = "${module.ingest_http_api.endpoint}${split(" ", local.declarations.ingest_api.trigger.route)[1]}"
}

output "ingest_route_arn" {
  description = "Grant producers execute-api:Invoke on this ARN."
  value       = module.ingest_http_api.route_arn
}
