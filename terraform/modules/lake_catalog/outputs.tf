output "database_name" {
  description = "Glue database of the lake's tables."
  value       = aws_glue_catalog_database.this.name
}

output "table_names" {
  description = "The tables over objects (raw NDJSON, compacted Parquet, compaction logs) and the views to query."
  value = {
    stored = sort([for table in aws_glue_catalog_table.stored : table.name])
    views  = sort([for table in aws_glue_catalog_table.view : table.name])
  }
}

output "view_sql" {
  description = "Each view's SELECT as Athena runs it (the local query engine runs the same text)."
  value       = local.views
}

output "workgroup_name" {
  description = "Athena workgroup to run queries in."
  value       = aws_athena_workgroup.this.name
}

output "workgroup_arn" {
  description = "ARN of the Athena workgroup."
  value       = aws_athena_workgroup.this.arn
}

output "named_query_ids" {
  description = "IDs of the saved queries, by name."
  value       = { for name, query in aws_athena_named_query.this : name => query.id }
}

output "reader_policy_json" {
  description = "IAM policy document (JSON) for whoever queries the lake: this workgroup, these tables, their prefixes, the results."
  value       = data.aws_iam_policy_document.reader.json
}
