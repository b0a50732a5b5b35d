locals {
  declaration = jsondecode(file("${var.function_dir}/function.json"))
  environment = merge(
    local.declaration.environment,
    { for key, logical in try(local.declaration.resource_environment, {}) : key => lookup(var.resources, logical, "") },
    var.environment,
  )
  declared_environment = setunion(keys(local.declaration.environment), keys(try(local.declaration.resource_environment, {})))
  overridden           = setintersection(local.declared_environment, keys(var.environment))
  missing_resources    = [for key, logical in try(local.declaration.resource_environment, {}) : logical if !contains(keys(var.resources), logical)]
}

data "aws_partition" "current" {}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "this" {
  name               = "${var.name}-fn"
  description        = "Execution role of ${var.name}"
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags

  permissions_boundary = var.permissions_boundary_arn
}

data "aws_iam_policy_document" "runtime" {
  statement {
    sid       = "OwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.this.arn}:*"]
  }

  statement {
    sid = "Tracing"
    # X-Ray's write actions have no resource-level permissions.
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"]
  }

  statement {
    sid       = "EnvironmentKey"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]
  }
}

resource "aws_iam_role_policy" "runtime" {
  name   = "runtime"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.runtime.json
}

resource "aws_iam_role_policy" "access" {
  name   = "access"
  role   = aws_iam_role.this.id
  policy = var.policy_json
}

resource "aws_cloudwatch_log_group" "this" {
  name              = "/aws/lambda/${var.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

resource "aws_lambda_function" "this" {
  # checkov:skip=CKV_AWS_117: the functions reach only AWS APIs; a VPC would add NAT cost and cold-start latency and no isolation.
  # checkov:skip=CKV_AWS_116: stream and queue triggers send failures to the event source mapping's on-failure destination or the queue's DLQ; a function DLQ applies to asynchronous invocations only.
  # checkov:skip=CKV_AWS_272: code signing needs an AWS Signer profile per account; integrity comes from the reviewed plan's source_code_hash of the CI-built zip.
  # checkov:skip=CKV_AWS_115: reserved concurrency comes from each function's declaration where the function needs one.
  function_name                  = var.name
  description                    = local.declaration.description
  role                           = aws_iam_role.this.arn
  handler                        = local.declaration.handler
  runtime                        = local.declaration.runtime
  architectures                  = [var.architecture]
  memory_size                    = local.declaration.memory_mb
  timeout                        = local.declaration.timeout_s
  reserved_concurrent_executions = local.declaration.reserved_concurrency == null ? -1 : local.declaration.reserved_concurrency
  filename                       = var.package_path
  source_code_hash               = filebase64sha256(var.package_path)
  layers                         = var.layer_arns
  kms_key_arn                    = var.kms_key_arn
  tags                           = var.tags

  environment {
    variables = local.environment
  }

  # /tmp: 512 MB unless the declaration asks for more (the lake compactor stages an hour's objects there).
  ephemeral_storage {
    size = try(local.declaration.ephemeral_storage_mb, 512)
  }

  tracing_config {
    mode = "Active"
  }

  logging_config {
    log_format = "Text"
    log_group  = aws_cloudwatch_log_group.this.name
  }

  lifecycle {
    precondition {
      condition     = contains(local.declaration.architectures, var.architecture)
      error_message = "${var.function_dir}/function.json does not list ${var.architecture} in architectures."
    }

    precondition {
      condition     = length(local.overridden) == 0
      error_message = "The stack sets variables the declaration already sets: ${join(", ", local.overridden)}."
    }

    precondition {
      condition     = length(local.missing_resources) == 0
      error_message = "The declaration's resource_environment names resources the stack did not pass: ${join(", ", local.missing_resources)}."
    }
  }

  depends_on = [aws_iam_role_policy.runtime, aws_iam_role_policy.access]
}
