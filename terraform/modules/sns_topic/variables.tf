variable "name" {
  description = "Topic name."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,256}$", var.name))
    error_message = "name is 1 to 256 letters, digits, '-' or '_'."
  }
}

variable "kms_key_arn" {
  description = "KMS key that encrypts messages at rest."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn is a KMS key ARN."
  }
}

variable "publisher_role_arns" {
  description = "Roles allowed to publish (in addition to their own IAM policy, the topic policy names them)."
  type        = list(string)
  default     = []
}

variable "publisher_services" {
  description = "AWS service principals allowed to publish on this account's behalf (aws:SourceAccount), such as cloudwatch.amazonaws.com for alarms."
  type        = set(string)
  default     = []

  validation {
    condition     = alltrue([for service in var.publisher_services : can(regex("^[a-z0-9.-]+\\.amazonaws\\.com$", service))])
    error_message = "publisher_services are service principals such as cloudwatch.amazonaws.com."
  }
}

variable "queue_subscriptions" {
  description = "SQS queues to subscribe, keyed by a label: queue ARN, raw message delivery, and a filter policy (JSON) on message attributes."
  type = map(object({
    queue_arn            = string
    raw_message_delivery = bool
    filter_policy        = string
  }))
  default = {}
}

variable "tags" {
  description = "Tags for the topic."
  type        = map(string)
  default     = {}
}
