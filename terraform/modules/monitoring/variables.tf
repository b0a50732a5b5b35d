variable "name" {
  description = "Prefix of the alarms, the alarm topic and the dashboard (<name>-<environment>)."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,200}$", var.name))
    error_message = "name is letters, digits, '-' or '_'."
  }
}

variable "kms_key_arn" {
  description = "KMS key encrypting the alarm topic."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn is a KMS key ARN."
  }
}

variable "alarm_emails" {
  description = "Addresses subscribed to the alarm topic (each confirms by email). Other subscribers can use the topic_arn output."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for address in var.alarm_emails : can(regex("^[^@\\s]+@[^@\\s]+$", address))])
    error_message = "alarm_emails holds email addresses."
  }
}

variable "functions" {
  description = "Functions to watch (errors, throttles, duration near the timeout), by declaration name."
  type = map(object({
    function_name = string
    timeout_s     = number
  }))
}

variable "duration_ratio" {
  description = "Alarm when an invocation's duration exceeds this share of the function's timeout."
  type        = number
  default     = 0.8

  validation {
    condition     = var.duration_ratio > 0 && var.duration_ratio < 1
    error_message = "duration_ratio is between 0 and 1."
  }
}

variable "stream_functions" {
  description = "Functions reading a Kinesis or DynamoDB stream (iterator age), by declaration name."
  type        = set(string)
  default     = []
}

variable "iterator_age_ms" {
  description = "Alarm when a stream mapping's oldest unprocessed record is older than this (milliseconds)."
  type        = number
  default     = 300000

  validation {
    condition     = var.iterator_age_ms >= 1000
    error_message = "iterator_age_ms is at least 1000."
  }
}

variable "work_queues" {
  description = "Queues a function consumes, with the age of the oldest message that means it is falling behind."
  type = map(object({
    queue_name    = string
    max_age_s     = number
    function_name = string
  }))
  default = {}
}

variable "dead_letter_queues" {
  description = "Queues where any message is a failure to look at (DLQs and on-failure destinations), by label."
  type        = map(string)
  default     = {}
}

variable "quarantine" {
  description = "Per path: the function whose RecordsQuarantined metric (EMF, namespace tributary) is watched, and how many quarantined records in 5 minutes raise the alarm."
  type = map(object({
    function_name = string
    threshold     = number
  }))
  default = {}
}

variable "integrity" {
  description = "Per path: a function and the EMF metrics (namespace tributary) it emits when a guarantee is at risk; any non-zero value raises an alarm."
  type = map(object({
    function_name = string
    metrics       = list(string)
  }))
  default = {}
}

variable "event_rules" {
  description = "EventBridge rules with a dead-letter queue, by label: an event a rule could not even put in its queue (InvocationsFailedToBeSentToDlq) raises an alarm."
  type        = map(string)
  default     = {}
}

variable "codebuild_projects" {
  description = "CodeBuild projects whose failed builds raise an alarm (the git mirror)."
  type        = set(string)
  default     = []
}

variable "tags" {
  description = "Tags for the topic and the alarms."
  type        = map(string)
  default     = {}
}
