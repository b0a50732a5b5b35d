variable "name" {
  description = "Function name in AWS (the stack prefixes the declaration's directory name)."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,64}$", var.name))
    error_message = "name is 1 to 64 letters, digits, hyphens or underscores."
  }
}

variable "function_dir" {
  description = "Directory of the function (functions/<name>); its function.json is the one declaration of handler, memory, timeout, environment, architectures and trigger."
  type        = string

  validation {
    condition     = fileexists("${var.function_dir}/function.json")
    error_message = "function_dir must contain a function.json."
  }
}

variable "package_path" {
  description = "Path to the function zip built by `make build` (dist/functions/<name>.zip)."
  type        = string

  validation {
    condition     = endswith(var.package_path, ".zip")
    error_message = "package_path is a .zip built by `make build`."
  }
}

variable "architecture" {
  description = "Instruction set to run on: arm64 or x86_64. Must be one the declaration supports and the one the layer was built for."
  type        = string
  default     = "arm64"

  validation {
    condition     = contains(["arm64", "x86_64"], var.architecture)
    error_message = "architecture is arm64 or x86_64."
  }
}

variable "layer_arns" {
  description = "Layer version ARNs to attach (the shared layer first)."
  type        = list(string)
  default     = []

  validation {
    condition     = length(var.layer_arns) <= 5
    error_message = "Lambda allows at most 5 layers."
  }
}

variable "resources" {
  description = "Values for the declaration's resource_environment: logical resource name (for example lake_bucket) to its real name or URL."
  type        = map(string)
  default     = {}
}

variable "environment" {
  description = "Variables the stack sets from its own settings (tfvars), beside the declaration's environment; a name the declaration sets cannot be set here."
  type        = map(string)
  default     = {}
}

variable "policy_json" {
  description = "IAM policy document (JSON) with exactly the actions and resources this function needs, beyond its own logs and X-Ray."
  type        = string

  validation {
    condition     = can(jsondecode(var.policy_json).Statement)
    error_message = "policy_json is an IAM policy document with a Statement list."
  }
}

variable "kms_key_arn" {
  description = "KMS key that encrypts the function's environment variables and its log group."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn is a KMS key ARN."
  }
}

variable "log_retention_days" {
  description = "Days to keep the function's logs."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days is one of the values CloudWatch Logs accepts."
  }
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
