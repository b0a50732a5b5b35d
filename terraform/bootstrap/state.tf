# The Terraform state: a KMS key and the secure bucket that holds every environment's state.

data "aws_iam_policy_document" "state_key" {
  # checkov:skip=CKV_AWS_109: in a key policy "*" is this key; the account root statement is what lets IAM policies grant use of the key.
  # checkov:skip=CKV_AWS_111: as above, key policies can only name the key itself as "*".
  # checkov:skip=CKV_AWS_356: as above, key policies can only name the key itself as "*".
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }
}

resource "aws_kms_key" "state" {
  description         = "${var.name} Terraform state"
  enable_key_rotation = true
  policy              = data.aws_iam_policy_document.state_key.json
}

resource "aws_kms_alias" "state" {
  name          = "alias/${var.name}-terraform-state"
  target_key_id = aws_kms_key.state.key_id
}

# The same secure bucket as the stack's (versioned, SSE-KMS with a bucket key, public access
# blocked, bucket owner enforced, TLS 1.2 or newer only), with old state versions kept.
module "state_bucket" {
  source = "../modules/secure_bucket"

  name                    = local.bucket
  kms_key_arn             = aws_kms_key.state.arn
  noncurrent_version_days = var.noncurrent_state_days
}

