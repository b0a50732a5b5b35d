variable "name" {
  description = "Name of the layer (the layer version's layer_name)."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,64}$", var.name))
    error_message = "name is 1 to 64 letters, digits, hyphens or underscores."
  }
}

variable "package_path" {
  description = "Path to the layer zip built by `make build` (dist/layers/common.zip). Its manifest (same path, .json) records the architecture it was built for."
  type        = string

  validation {
    condition     = endswith(var.package_path, ".zip")
    error_message = "package_path is a .zip built by `make build`."
  }
}

variable "architecture" {
  description = "Instruction set the layer's compiled packages were built for: arm64 or x86_64 (the Makefile's ARCH)."
  type        = string
  default     = "arm64"

  validation {
    condition     = contains(["arm64", "x86_64"], var.architecture)
    error_message = "architecture is arm64 or x86_64."
  }
}

variable "runtime" {
  description = "Lambda runtime the layer is built for."
  type        = string
  default     = "python3.13"

  validation {
    condition     = can(regex("^python3\\.[0-9]+$", var.runtime))
    error_message = "runtime is a Python runtime such as python3.13."
  }
}
