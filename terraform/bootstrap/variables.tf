variable "name" {
  description = "Stack name; the state bucket, the roles and the resources the deploy roles may manage start with it."
  type        = string
  default     = "tributary"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}$", var.name))
    error_message = "name is 2 to 31 lowercase letters, digits or '-', starting with a letter."
  }
}

variable "region" {
  description = "Region of the state bucket and the stack."
  type        = string
  default     = "eu-west-1"
}

variable "github_repository" {
  description = "The GitHub repository (owner/name) whose workflows may assume the roles."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.github_repository))
    error_message = "github_repository is owner/name."
  }
}

variable "environments" {
  description = "Environments to create roles for. Each gets a plan role (GitHub environment <env>-plan) and a deploy role (GitHub environment <env>)."
  type        = set(string)
  default     = ["dev", "prod"]

  validation {
    condition     = alltrue([for env in var.environments : can(regex("^[a-z][a-z0-9]{1,15}$", env))])
    error_message = "environments are short lowercase names."
  }
}

variable "create_oidc_provider" {
  description = "Create the GitHub OIDC provider (an account has at most one; set false when it exists already)."
  type        = bool
  default     = true
}

variable "state_bucket_name" {
  description = "Name of the state bucket (default: <name>-terraform-state-<account id>, the name make plan and make deploy look for; another name must be given to them as TF_STATE_BUCKET)."
  type        = string
  default     = null
}

variable "noncurrent_state_days" {
  description = "Days to keep superseded state versions (for recovering from a bad apply)."
  type        = number
  default     = 90

  validation {
    condition     = var.noncurrent_state_days >= 30
    error_message = "Keep old state versions at least 30 days."
  }
}
