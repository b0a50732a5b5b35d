# The secure bucket (the lake, the code buckets and the bootstrap's state bucket): versioned,
# SSE-KMS with the given key, private, owner-enforced and TLS 1.2+ only. Planned against a mocked
# provider (no AWS).

mock_provider "aws" {
  mock_data "aws_iam_policy_document" {
    defaults = {
      json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
    }
  }
}

override_resource {
  target          = aws_s3_bucket.this
  override_during = plan # the TLS policy names the bucket's ARN, so it must be known in the plan
  values = {
    arn = "arn:aws:s3:::tributary-test-bucket"
    id  = "tributary-test-bucket"
  }
}

variables {
  name        = "tributary-test-bucket"
  kms_key_arn = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000"
}

run "the_bucket_is_versioned_encrypted_private_and_tls_only" {
  command = plan

  assert {
    condition     = aws_s3_bucket_versioning.this.versioning_configuration[0].status == "Enabled" && aws_s3_bucket_versioning.this.bucket == "tributary-test-bucket"
    error_message = "the bucket keeps every version"
  }
  assert {
    condition = (
      one(aws_s3_bucket_server_side_encryption_configuration.this.rule).apply_server_side_encryption_by_default[0].sse_algorithm == "aws:kms" &&
      one(aws_s3_bucket_server_side_encryption_configuration.this.rule).apply_server_side_encryption_by_default[0].kms_master_key_id == var.kms_key_arn &&
      one(aws_s3_bucket_server_side_encryption_configuration.this.rule).bucket_key_enabled == true &&
      aws_s3_bucket_server_side_encryption_configuration.this.bucket == "tributary-test-bucket"
    )
    error_message = "objects are encrypted with the given KMS key by default, through a bucket key"
  }
  assert {
    condition = (
      aws_s3_bucket_public_access_block.this.block_public_acls &&
      aws_s3_bucket_public_access_block.this.block_public_policy &&
      aws_s3_bucket_public_access_block.this.ignore_public_acls &&
      aws_s3_bucket_public_access_block.this.restrict_public_buckets &&
      aws_s3_bucket_public_access_block.this.bucket == "tributary-test-bucket"
    )
    error_message = "all public access is blocked"
  }
  assert {
    condition     = aws_s3_bucket_ownership_controls.this.rule[0].object_ownership == "BucketOwnerEnforced"
    error_message = "ACLs are off: the bucket owner owns every object"
  }
  assert {
    condition = anytrue([
      for s in data.aws_iam_policy_document.tls_only.statement :
      s.effect == "Deny" && contains(s.actions, "s3:*") &&
      s.resources == toset(["arn:aws:s3:::tributary-test-bucket", "arn:aws:s3:::tributary-test-bucket/*"]) &&
      anytrue([for p in s.principals : p.type == "*" && p.identifiers == toset(["*"])]) &&
      anytrue([for c in s.condition : c.test == "Bool" && c.variable == "aws:SecureTransport" && c.values == tolist(["false"])])
    ])
    error_message = "every request without TLS, by anyone, to the bucket or its objects is denied"
  }
  assert {
    condition = anytrue([
      for s in data.aws_iam_policy_document.tls_only.statement :
      s.effect == "Deny" && contains(s.actions, "s3:*") &&
      s.resources == toset(["arn:aws:s3:::tributary-test-bucket", "arn:aws:s3:::tributary-test-bucket/*"]) &&
      anytrue([for c in s.condition : c.test == "NumericLessThan" && c.variable == "s3:TlsVersion" && c.values == tolist(["1.2"])])
    ])
    error_message = "requests over TLS older than 1.2 are denied"
  }
  assert {
    condition     = aws_s3_bucket_policy.this.bucket == "tributary-test-bucket"
    error_message = "the TLS-only policy is attached to the bucket"
  }
}
