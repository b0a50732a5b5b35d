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
  value       = "${trimsuffix(module.ingest_http_api.endpoint, "/")}${split(" ", local.declarations.ingest_api.trigger.route)[1]}"
}

output "ingest_route_arn" {
  description = "Grant producers execute-api:Invoke on this ARN."
  value       = module.ingest_http_api.route_arn
}

output "table1_name" {
  description = "Source table."
  value       = module.table1.name
}

output "table2_name" {
  description = "Replica table (readers skip items with _tributary_deleted, the tombstones)."
  value       = module.table2.name
}

output "changes_topic_arn" {
  description = "Topic carrying table1's changes (fan-out path); subscribe more queues here."
  value       = module.changes_topic.arn
}

output "changes_dlq_url" {
  description = "Dead-letter queue of the fan-out path's changes."
  value       = module.changes_queue.dlq_url
}

output "table_failures_queue_url" {
  description = "Queue receiving invocation records of table1 stream batches that exhausted their retries."
  value       = module.table_failures.url
}

output "repo1_clone_url" {
  description = "CodeCommit repository mirrored on every push."
  value       = module.git_mirror.source_clone_url_http
}

output "repo2_clone_url" {
  description = "The mirror of repo1."
  value       = module.git_mirror.target_clone_url_http
}

output "git_mirror_project" {
  description = "CodeBuild project running the mirror."
  value       = module.git_mirror.project_name
}

output "code_bucket1" {
  description = "Bucket whose code/ prefix is the source of the S3 code sync."
  value       = module.code_bucket1.name
}

output "code_bucket2" {
  description = "Bucket whose code/ prefix mirrors bucket1's."
  value       = module.code_bucket2.name
}

output "alarm_topic_arn" {
  description = "SNS topic every alarm notifies."
  value       = module.monitoring.topic_arn
}

output "dashboard_name" {
  description = "CloudWatch dashboard of the three jobs."
  value       = module.monitoring.dashboard_name
}

output "lake_database" {
  description = "Glue database of the lake's tables; query its events view (and quarantine table) in the workgroup below."
  value       = module.lake_catalog.database_name
}

output "lake_workgroup" {
  description = "Athena workgroup for queries of the lake (results encrypted, bytes scanned capped)."
  value       = module.lake_catalog.workgroup_name
}

output "lake_reader_policy_arn" {
  description = "Attach to whoever queries the lake in Athena."
  value       = aws_iam_policy.lake_reader.arn
}
