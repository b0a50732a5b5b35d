provider "aws" {
  region = var.region

  default_tags {
    tags = {
      Project     = "tributary"
      Environment = var.environment
      ManagedBy   = "terraform"
    }
  }
}
