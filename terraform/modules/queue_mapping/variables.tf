variable "function_name" {
  description = "Function the mapping invokes."
  type        = string
}

variable "queue_arn" {
  description = "ARN of the SQS queue to poll."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:sqs:", var.queue_arn))
    error_message = "queue_arn is an SQS queue ARN."
  }
}

variable "trigger" {
  description = "The function declaration's trigger: batch_size, maximum_batching_window_s, report_batch_item_failures."
  type = object({
    type                       = string
    batch_size                 = number
    maximum_batching_window_s  = number
    report_batch_item_failures = bool
  })

  validation {
    condition     = var.trigger.type == "sqs" && var.trigger.report_batch_item_failures
    error_message = "A queue mapping is for sqs triggers that report batch item failures."
  }

  validation {
    condition     = var.trigger.batch_size >= 1 && var.trigger.batch_size <= 10000 && (var.trigger.batch_size <= 10 || var.trigger.maximum_batching_window_s >= 1)
    error_message = "batch_size is 1 to 10000; above 10 it needs a batching window of at least one second."
  }
}

variable "maximum_concurrency" {
  description = "Most concurrent invocations the mapping drives (2 to 1000), or null for no limit."
  type        = number
  default     = null

  validation {
    condition     = var.maximum_concurrency == null || (coalesce(var.maximum_concurrency, 2) >= 2 && coalesce(var.maximum_concurrency, 2) <= 1000)
    error_message = "maximum_concurrency is 2 to 1000 or null."
  }
}
