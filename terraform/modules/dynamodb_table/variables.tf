variable "name" {
  description = "Table name."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]{3,255}$", var.name))
    error_message = "name is 3 to 255 letters, digits, '_', '.' or '-'."
  }
}

variable "hash_key" {
  description = "Partition key attribute (a string)."
  type        = string
}

variable "range_key" {
  description = "Sort key attribute (a string), or null for a table without one."
  type        = string
  default     = null
}

variable "stream_view_type" {
  description = "Enable the table's stream with this view (NEW_AND_OLD_IMAGES for replication), or null for no stream."
  type        = string
  default     = null

  validation {
    condition     = var.stream_view_type == null || contains(["KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES"], coalesce(var.stream_view_type, "x"))
    error_message = "stream_view_type is KEYS_ONLY, NEW_IMAGE, OLD_IMAGE, NEW_AND_OLD_IMAGES or null."
  }
}

variable "ttl_attribute" {
  description = "Attribute holding an expiry time (epoch seconds) that DynamoDB's TTL deletes on, or null."
  type        = string
  default     = null
}

variable "kms_key_arn" {
  description = "KMS key for server-side encryption."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn is a KMS key ARN."
  }
}

variable "deletion_protection" {
  description = "Refuse to delete the table (turn off only for throw-away environments)."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags for the table."
  type        = map(string)
  default     = {}
}
