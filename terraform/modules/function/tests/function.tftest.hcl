# The function module reads everything about a function from its declaration (function.json),
# planned against a mocked provider with a real declaration and the zip `make build` made.

mock_provider "aws" {
  mock_data "aws_iam_policy_document" {
    defaults = {
      json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
    }
  }
}

variables {
  name         = "tributary-test-code-sync"
  function_dir = "../../../functions/code_sync"
  package_path = "../../../dist/functions/code_sync.zip"
  kms_key_arn  = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000"
  policy_json  = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
  resources = {
    code_bucket1      = "tributary-test-code1"
    code_bucket2      = "tributary-test-code2"
    code_events_queue = "https://sqs.eu-west-1.amazonaws.com/123456789012/tributary-test-code-events"
  }
}

run "every_setting_comes_from_the_declaration" {
  command = plan

  assert {
    condition = (
      aws_lambda_function.this.handler == jsondecode(file("${var.function_dir}/function.json")).handler &&
      aws_lambda_function.this.runtime == jsondecode(file("${var.function_dir}/function.json")).runtime &&
      aws_lambda_function.this.memory_size == jsondecode(file("${var.function_dir}/function.json")).memory_mb &&
      aws_lambda_function.this.timeout == jsondecode(file("${var.function_dir}/function.json")).timeout_s &&
      aws_lambda_function.this.description == jsondecode(file("${var.function_dir}/function.json")).description
    )
    error_message = "handler, runtime, memory, timeout and description come from function.json"
  }
  assert {
    condition     = aws_lambda_function.this.ephemeral_storage[0].size == 512
    error_message = "a declaration without ephemeral_storage_mb gets Lambda's default /tmp of 512 MB"
  }
  assert {
    condition     = aws_lambda_function.this.reserved_concurrent_executions == -1
    error_message = "a declaration without reserved concurrency leaves the function unreserved"
  }
  assert {
    condition     = aws_lambda_function.this.source_code_hash == filebase64sha256(var.package_path)
    error_message = "the code is the built zip, by its hash"
  }
  assert {
    condition     = aws_lambda_function.this.tracing_config[0].mode == "Active" && aws_lambda_function.this.kms_key_arn == var.kms_key_arn
    error_message = "tracing is on and the environment is encrypted with the stack's key"
  }
}

run "the_environment_is_the_declarations_plus_the_resources_it_names" {
  command = plan

  assert {
    condition = aws_lambda_function.this.environment[0].variables == tomap(merge(
      jsondecode(file("${var.function_dir}/function.json")).environment,
      {
        SOURCE_BUCKET      = "tributary-test-code1"
        TARGET_BUCKET      = "tributary-test-code2"
        CONTINUE_QUEUE_URL = "https://sqs.eu-west-1.amazonaws.com/123456789012/tributary-test-code-events"
      },
    ))
    error_message = "resource_environment maps each variable to the resource the stack passed"
  }
}

run "a_resource_the_stack_did_not_pass_fails_the_plan" {
  command = plan

  variables {
    resources = { code_bucket1 = "tributary-test-code1" }
  }

  expect_failures = [aws_lambda_function.this]
}

run "an_architecture_lambda_does_not_have_is_refused" {
  command = plan

  variables {
    architecture = "x86_32"
  }

  expect_failures = [var.architecture]
}

run "a_declared_ephemeral_storage_sizes_tmp" {
  command = plan

  variables {
    name         = "tributary-test-lake-compactor"
    function_dir = "../../../functions/lake_compactor"
    package_path = "../../../dist/functions/lake_compactor.zip"
    resources    = { lake_bucket = "tributary-test-lake" }
  }

  assert {
    condition     = aws_lambda_function.this.ephemeral_storage[0].size == jsondecode(file("${var.function_dir}/function.json")).ephemeral_storage_mb
    error_message = "ephemeral_storage_mb in function.json sizes the function's /tmp"
  }
}
