# One-time set-up per AWS account: the Terraform state bucket (versioned, KMS-encrypted, TLS
# only, native S3 locking), GitHub's OIDC provider, and per environment a read-only plan role
# and a deploy role that GitHub Actions assume with short-lived tokens. Trust is conditioned
# on the repository and the GitHub environment, so only jobs running in that environment
# (with its required reviewers) get the role.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

# local.bucket's default is the name make plan and make deploy look for (tools/deploy.py,
# STATE_BUCKET); a test holds the two together.
locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  bucket     = coalesce(var.state_bucket_name, "${var.name}-terraform-state-${local.account_id}")
  issuer     = "token.actions.githubusercontent.com"
}
