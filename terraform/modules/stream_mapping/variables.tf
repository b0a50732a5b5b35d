variable "function_name" {
  description = "Function the mapping invokes."
  type        = string
}

variable "event_source_arn" {
  description = "ARN of the Kinesis stream or DynamoDB stream to read."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:(kinesis|dynamodb):", var.event_source_arn))
    error_message = "event_source_arn is a Kinesis stream or DynamoDB stream ARN."
  }
}

variable "trigger" {
  description = "The function declaration's trigger: starting_position, batch_size, maximum_batching_window_s, parallelization_factor, bisect_batch_on_function_error, maximum_retry_attempts, maximum_record_age_s."
  type = object({
    type                           = string
    starting_position              = string
    batch_size                     = number
    maximum_batching_window_s      = number
    parallelization_factor         = number
    bisect_batch_on_function_error = bool
    maximum_retry_attempts         = number
    maximum_record_age_s           = number
    report_batch_item_failures     = bool
  })

  validation {
    condition     = contains(["kinesis", "dynamodb"], var.trigger.type) && var.trigger.report_batch_item_failures
    error_message = "A stream mapping is for kinesis or dynamodb triggers that report batch item failures."
  }

  validation {
    condition     = var.trigger.batch_size >= 1 && var.trigger.batch_size <= 10000 && var.trigger.parallelization_factor >= 1 && var.trigger.parallelization_factor <= 10
    error_message = "batch_size is 1 to 10000 and parallelization_factor 1 to 10."
  }
}

variable "on_failure_arn" {
  description = "SQS queue (or SNS topic) that receives an invocation record for each batch that exhausts its retries or ages out."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:(sqs|sns):", var.on_failure_arn))
    error_message = "on_failure_arn is an SQS queue or SNS topic ARN."
  }
}
