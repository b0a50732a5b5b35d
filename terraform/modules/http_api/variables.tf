variable "name" {
  description = "Name of the HTTP API."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,128}$", var.name))
    error_message = "name is 1 to 128 letters, digits, '-' or '_'."
  }
}

variable "route_key" {
  description = "The route, method and path, for example \"POST /v1/records\"."
  type        = string

  validation {
    condition     = can(regex("^(GET|POST|PUT|PATCH|DELETE) /", var.route_key))
    error_message = "route_key is a method and a path, such as \"POST /v1/records\"."
  }
}

variable "function_name" {
  description = "Name of the function that serves the route."
  type        = string
}

variable "function_invoke_arn" {
  description = "Invoke ARN of the function that serves the route."
  type        = string
}

variable "throttling_rate_limit" {
  description = "Steady-state requests per second the stage accepts before answering 429."
  type        = number
  default     = 100

  validation {
    condition     = var.throttling_rate_limit > 0
    error_message = "throttling_rate_limit is positive."
  }
}

variable "throttling_burst_limit" {
  description = "Requests the stage accepts in a burst above the rate limit."
  type        = number
  default     = 200

  validation {
    condition     = var.throttling_burst_limit > 0
    error_message = "throttling_burst_limit is positive."
  }
}

variable "kms_key_arn" {
  description = "KMS key for the access log group."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn is a KMS key ARN."
  }
}

variable "log_retention_days" {
  description = "Days to keep the access logs."
  type        = number
  default     = 365
}

variable "tags" {
  description = "Tags for the API and its log group."
  type        = map(string)
  default     = {}
}
