# A function's execution role carries the permissions boundary it is given (the bootstrap's deploy
# role creates no role without it), planned against a mocked provider with a real declaration.

mock_provider "aws" {
  mock_data "aws_iam_policy_document" {
    defaults = {
      json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
    }
  }
}

variables {
  name         = "tributary-test-ingest-api"
  function_dir = "../../../functions/ingest_api"
  package_path = "../../../dist/functions/ingest_api.zip"
  kms_key_arn  = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000"
  policy_json  = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
  resources    = { events_stream = "tributary-test-events" }

  permissions_boundary_arn = "arn:aws:iam::123456789012:policy/tributary-test-boundary"
}

run "the_execution_role_carries_the_boundary" {
  command = plan

  assert {
    condition     = aws_iam_role.this.permissions_boundary == "arn:aws:iam::123456789012:policy/tributary-test-boundary"
    error_message = "the function's role has the given permissions boundary"
  }
}

run "without_a_boundary_the_role_has_none" {
  command = plan

  variables {
    permissions_boundary_arn = null
  }

  assert {
    condition     = aws_iam_role.this.permissions_boundary == null
    error_message = "no boundary given, none set (environments without the bootstrap, such as local)"
  }
}
