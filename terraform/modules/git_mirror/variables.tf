variable "name" {
  description = "Prefix of the module's resources (repositories, project, rules, role)."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,60}$", var.name))
    error_message = "name is 1 to 60 letters, digits, '-' or '_'."
  }
}

variable "source_repository_name" {
  description = "Name of the CodeCommit repository to mirror (repo1)."
  type        = string
}

variable "target_repository_name" {
  description = "Name of the CodeCommit repository that receives the mirror (repo2)."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key for the repositories, the build's artifacts and logs, and the dead-letter queue (its policy must let events.amazonaws.com use it)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn is a KMS key ARN."
  }
}

variable "push_rule_name" {
  description = "Name of the rule that starts the build on a push (default: <name>-push)."
  type        = string
  default     = null
}

variable "push_event_pattern" {
  description = "Event pattern of the push rule, without `resources`: the module matches it to the source repository's ARN."
  type        = any
  default = {
    source        = ["aws.codecommit"]
    "detail-type" = ["CodeCommit Repository State Change"]
    detail        = { event = ["referenceCreated", "referenceUpdated", "referenceDeleted"] }
  }

  validation {
    condition     = !can(var.push_event_pattern.resources)
    error_message = "push_event_pattern must not set resources: the module matches the source repository's ARN."
  }
}

variable "nightly_rule_name" {
  description = "Name of the scheduled rule (default: <name>-nightly)."
  type        = string
  default     = null
}

variable "schedule_expression" {
  description = "When the mirror also runs without a push (EventBridge delivery is best effort)."
  type        = string
  default     = "cron(0 3 * * ? *)"

  validation {
    condition     = can(regex("^(cron|rate)\\(.+\\)$", var.schedule_expression))
    error_message = "schedule_expression is an EventBridge cron() or rate() expression."
  }
}

variable "max_event_age_seconds" {
  description = "How long EventBridge retries a start of the build that failed with a throttle or a server error before it sends the event to the dead-letter queue."
  type        = number
  default     = 3600

  validation {
    condition     = var.max_event_age_seconds >= 60 && var.max_event_age_seconds <= 86400
    error_message = "max_event_age_seconds is between 60 and 86400."
  }
}

variable "build_image" {
  description = "CodeBuild image (needs git, bash and the AWS CLI)."
  type        = string
  default     = "aws/codebuild/amazonlinux-x86_64-standard:5.0"
}

variable "log_retention_days" {
  description = "Days to keep the build logs."
  type        = number
  default     = 365
}

variable "tags" {
  description = "Tags for every resource of the module."
  type        = map(string)
  default     = {}
}

variable "permissions_boundary_arn" {
  description = "Permissions boundary for the module's IAM roles (the bootstrap's <name>-<env>-boundary; null for none)."
  type        = string
  default     = null

  validation {
    condition     = var.permissions_boundary_arn == null || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:policy/", var.permissions_boundary_arn))
    error_message = "permissions_boundary_arn is an IAM policy ARN."
  }
}
