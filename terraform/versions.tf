terraform {
  # 1.10 brought native S3 state locking (use_lockfile), which the backend relies on.
  required_version = ">= 1.10.0, < 2.0.0"

  required_providers {
    # 5.100.0 (the last 5.x) and every 6.x: the configuration uses only arguments and attributes
    # that behave the same in both (the Region is read as data.aws_region's `id`, since `name` is
    # deprecated in 6.x and `region` is new there). Offline machines carry 5.100.0 in a filesystem
    # mirror (tools/terraform.py finds it); .terraform.lock.hcl pins what CI installs.
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.100.0, < 7.0.0"
    }
  }

  # Partial configuration: `make plan ENV=<env>` passes environments/<env>.s3.tfbackend.
  backend "s3" {}
}
