output "state_bucket" {
  description = "The state bucket. make plan / make deploy find the default name themselves; with state_bucket_name set, give this to them as TF_STATE_BUCKET (a repository variable in CI)."
  value       = module.state_bucket.name
}

output "state_key_arn" {
  description = "KMS key encrypting the state."
  value       = aws_kms_key.state.arn
}

output "oidc_provider_arn" {
  description = "GitHub's OIDC provider in this account."
  value       = local.oidc_provider_arn
}

output "plan_role_arns" {
  description = "Per environment: set as TERRAFORM_PLAN_ROLE_ARN in the GitHub environment <env>-plan."
  value       = { for env in var.environments : env => aws_iam_role.github["${env}-plan"].arn }
}

output "deploy_role_arns" {
  description = "Per environment: set as TERRAFORM_DEPLOY_ROLE_ARN in the GitHub environment <env>."
  value       = { for env in var.environments : env => aws_iam_role.github["${env}-deploy"].arn }
}

output "smoke_role_arns" {
  description = "Per environment: set as TERRAFORM_SMOKE_ROLE_ARN in the GitHub environment <env>."
  value       = { for env in var.environments : env => aws_iam_role.github["${env}-smoke"].arn }
}

output "permissions_boundary_arns" {
  description = "Per environment: the boundary every role of the stack carries (tfvars permissions_boundary is its name)."
  value       = { for env in var.environments : env => aws_iam_policy.boundary[env].arn }
}
