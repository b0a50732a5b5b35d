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
