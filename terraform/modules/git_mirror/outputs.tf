output "source_clone_url_http" {
  description = "HTTPS clone URL of repo1 (push here)."
  value       = aws_codecommit_repository.source.clone_url_http
}

output "target_clone_url_http" {
  description = "HTTPS clone URL of repo2 (the mirror)."
  value       = aws_codecommit_repository.target.clone_url_http
}

output "source_arn" {
  description = "ARN of repo1."
  value       = aws_codecommit_repository.source.arn
}

output "target_arn" {
  description = "ARN of repo2."
  value       = aws_codecommit_repository.target.arn
}

output "project_name" {
  description = "CodeBuild project that runs the mirror (start it by hand to re-run)."
  value       = aws_codebuild_project.this.name
}

output "rule_names" {
  description = "The EventBridge rules that start the build: push and nightly (alarm on their InvocationsFailedToBeSentToDlq)."
  value = {
    push    = aws_cloudwatch_event_rule.push.name
    nightly = aws_cloudwatch_event_rule.nightly.name
  }
}

output "dead_letter_queue_arn" {
  description = "ARN of the queue holding the starts of the build EventBridge gave up on."
  value       = module.dead_letters.arn
}

output "dead_letter_queue_name" {
  description = "Name of the queue holding the starts of the build EventBridge gave up on (alarm on its depth)."
  value       = module.dead_letters.name
}
