terraform {
  required_version = ">= 1.10.0, < 2.0.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.100.0, < 7.0.0"
    }
  }

  # The bootstrap creates the state bucket, so its own state starts local. Keep
  # terraform.tfstate somewhere safe, or move it into the new bucket afterwards with
  # `terraform init -migrate-state` and a backend block (see README.md).
}

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      Project   = var.name
      ManagedBy = "terraform"
      Component = "bootstrap"
    }
  }
}
