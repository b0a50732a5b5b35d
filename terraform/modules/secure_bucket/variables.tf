variable "name" {
  description = "Globally unique bucket name."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.name))
    error_message = "name is a valid S3 bucket name (3 to 63 lower-case letters, digits, '.' or '-')."
  }
}

variable "kms_key_arn" {
  description = "KMS key for default SSE-KMS encryption (with an S3 bucket key, to cut KMS requests)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn is a KMS key ARN."
  }
}

variable "expiring_prefixes" {
  description = "Prefixes whose current objects expire after the given number of days (for example the quarantine)."
  type        = map(number)
  default     = {}

  validation {
    condition     = alltrue([for days in values(var.expiring_prefixes) : days >= 1])
    error_message = "Every expiry is at least one day."
  }
}

variable "noncurrent_expiring_prefixes" {
  description = "Prefixes whose noncurrent versions expire sooner than noncurrent_version_days (state rewritten often)."
  type        = map(number)
  default     = {}

  validation {
    condition     = alltrue([for days in values(var.noncurrent_expiring_prefixes) : days >= 1])
    error_message = "Every expiry is at least one day."
  }
}

variable "noncurrent_version_days" {
  description = "Days to keep versions that were overwritten or deleted (retried batches overwrite lake objects)."
  type        = number
  default     = 30

  validation {
    condition     = var.noncurrent_version_days >= 1
    error_message = "noncurrent_version_days is at least 1."
  }
}

variable "force_destroy" {
  description = "Allow destroying the bucket with objects in it (only for throw-away environments)."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags for the bucket."
  type        = map(string)
  default     = {}
}
