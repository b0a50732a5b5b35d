# Both roles the git mirror creates (the build's and EventBridge's) carry the permissions boundary
# they are given, planned against a mocked provider (no AWS).

mock_provider "aws" {
  mock_data "aws_iam_policy_document" {
    defaults = {
      json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
    }
  }
}

variables {
  name                   = "tributary-test-git-mirror"
  source_repository_name = "tributary-test-repo1"
  target_repository_name = "tributary-test-repo2"
  kms_key_arn            = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000"

  permissions_boundary_arn = "arn:aws:iam::123456789012:policy/tributary-test-boundary"
}

run "every_role_carries_the_boundary" {
  command = plan

  assert {
    condition = (
      aws_iam_role.build.permissions_boundary == "arn:aws:iam::123456789012:policy/tributary-test-boundary" &&
      aws_iam_role.events.permissions_boundary == "arn:aws:iam::123456789012:policy/tributary-test-boundary"
    )
    error_message = "the build role and the events role have the given permissions boundary"
  }
}
