variable "name" {
  description = "Name of the Kinesis data stream."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9_.-]{1,128}$", var.name))
    error_message = "name is 1 to 128 letters, digits, '_', '.' or '-'."
  }
}

variable "on_demand" {
  description = "true for on-demand capacity (scales itself, billed per GB); false for provisioned shards (shard_count)."
  type        = bool
  default     = true
}

variable "shard_count" {
  description = "Shards when provisioned (each takes 1 MB/s or 1,000 records/s in, 2 MB/s out). Ignored when on_demand."
  type        = number
  default     = 1

  validation {
    condition     = var.shard_count >= 1 && var.shard_count == floor(var.shard_count)
    error_message = "shard_count is a whole number of at least 1."
  }
}

variable "retention_hours" {
  description = "How long records stay readable: 24 to 8760 hours. Longer than the processor's maximum record age, so nothing expires before it is retried."
  type        = number
  default     = 168

  validation {
    condition     = var.retention_hours >= 24 && var.retention_hours <= 8760
    error_message = "retention_hours is between 24 and 8760."
  }
}

variable "kms_key_arn" {
  description = "KMS key that encrypts the stream at rest."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn is a KMS key ARN."
  }
}

variable "tags" {
  description = "Tags for the stream."
  type        = map(string)
  default     = {}
}
