variable "name" {
  description = "Queue name (\".fifo\" is appended for FIFO queues; the dead-letter queue gets \"-dlq\")."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,70}$", var.name))
    error_message = "name is 1 to 70 letters, digits, '-' or '_'."
  }
}

variable "fifo" {
  description = "Create FIFO queues (ordered per message group, deduplicated for 5 minutes)."
  type        = bool
  default     = false
}

variable "kms_key_arn" {
  description = "KMS key for server-side encryption of the queue and its dead-letter queue."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn is a KMS key ARN."
  }
}

variable "visibility_timeout_seconds" {
  description = "How long a received message stays hidden; at least 6 times the consuming function's timeout, as AWS advises for Lambda."
  type        = number
  default     = 30

  validation {
    condition     = var.visibility_timeout_seconds >= 0 && var.visibility_timeout_seconds <= 43200
    error_message = "visibility_timeout_seconds is between 0 and 43200."
  }
}

variable "message_retention_seconds" {
  description = "How long a message is kept (60 s to 14 days)."
  type        = number
  default     = 1209600

  validation {
    condition     = var.message_retention_seconds >= 60 && var.message_retention_seconds <= 1209600
    error_message = "message_retention_seconds is between 60 and 1209600."
  }
}

variable "max_receive_count" {
  description = "Receives before a message moves to the dead-letter queue; 0 for no dead-letter queue (a queue that is itself a final destination)."
  type        = number
  default     = 5

  validation {
    condition     = var.max_receive_count >= 0 && var.max_receive_count <= 1000
    error_message = "max_receive_count is between 0 and 1000."
  }
}

variable "allowed_sender_arns" {
  description = "Service resources (SNS topics, S3 buckets, EventBridge rules) allowed to send to the queue through its policy, keyed by service principal. Roles in this account are granted by their own IAM policies instead."
  type        = map(list(string))
  default     = {}
}

variable "tags" {
  description = "Tags for the queues."
  type        = map(string)
  default     = {}
}
