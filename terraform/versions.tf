terraform {
  # 1.10 brought native S3 state locking (use_lockfile), which the backend relies on.
  required_version = ">= 1.10.0, < 2.0.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 6.0.0, < 7.0.0"
    }
  }

  # Partial configuration: `make plan ENV=<env>` passes environments/<env>.s3.tfbackend.
  backend "s3" {}
}
