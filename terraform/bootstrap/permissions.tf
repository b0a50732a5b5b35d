# What the roles may do: the state, reads for plans, the boundary of the stack's roles,
# applies, and the smoke test.

data "aws_iam_policy_document" "state_access" {
  for_each = local.roles

  statement {
    # Terraform lists the bucket to tell a missing state (first plan) from a forbidden one.
    sid       = "ListStateBucket"
    actions   = ["s3:ListBucket"]
    resources = [module.state_bucket.arn]
  }

  statement {
    sid       = "ReadState"
    actions   = ["s3:GetObject"]
    resources = ["${local.state_prefix[each.value.environment]}/*"]
  }

  dynamic "statement" {
    for_each = each.value.kind == "smoke" ? [] : [1]

    content {
      sid       = "Lock"
      actions   = ["s3:PutObject", "s3:DeleteObject"]
      resources = ["${local.state_prefix[each.value.environment]}/terraform.tfstate.tflock"]
    }
  }

  dynamic "statement" {
    for_each = each.value.kind == "deploy" ? [1] : []

    content {
      sid       = "WriteState"
      actions   = ["s3:PutObject"]
      resources = ["${local.state_prefix[each.value.environment]}/terraform.tfstate"]
    }
  }

  statement {
    sid       = "StateKey"
    actions   = each.value.kind == "smoke" ? ["kms:Decrypt"] : ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.state.arn]
  }
}

resource "aws_iam_role_policy" "state" {
  for_each = local.roles

  name   = "terraform-state"
  role   = aws_iam_role.github[each.key].id
  policy = data.aws_iam_policy_document.state_access[each.key].json
}

# Plans read every resource type the stack manages (refresh), and no data: no object, item,
# record or message reads.
data "aws_iam_policy_document" "read" {
  # checkov:skip=CKV_AWS_356: describe/list/get of configuration has no narrower resource for most of these services.
  statement {
    sid = "ReadConfiguration"
    actions = [
      "apigateway:GET",
      "cloudwatch:Describe*", "cloudwatch:GetDashboard", "cloudwatch:ListTagsForResource", "cloudwatch:ListDashboards",
      "codebuild:BatchGetProjects", "codebuild:ListProjects",
      "codecommit:GetRepository", "codecommit:ListRepositories", "codecommit:ListTagsForResource",
      "dynamodb:DescribeContinuousBackups", "dynamodb:DescribeTable", "dynamodb:DescribeTimeToLive",
      "dynamodb:DescribeKinesisStreamingDestination", "dynamodb:ListTagsOfResource", "dynamodb:GetResourcePolicy",
      "events:DescribeRule", "events:ListTargetsByRule", "events:ListTagsForResource",
      "iam:GetOpenIDConnectProvider", "iam:GetPolicy", "iam:GetPolicyVersion", "iam:GetRole", "iam:GetRolePolicy",
      "iam:ListAttachedRolePolicies", "iam:ListRolePolicies", "iam:ListInstanceProfilesForRole",
      "kinesis:DescribeStream", "kinesis:DescribeStreamSummary", "kinesis:ListTagsForStream",
      "kinesis:DescribeStreamConsumer", "kinesis:ListStreamConsumers", "kinesis:GetResourcePolicy",
      "kms:DescribeKey", "kms:GetKeyPolicy", "kms:GetKeyRotationStatus", "kms:ListAliases", "kms:ListResourceTags",
      "lambda:GetEventSourceMapping", "lambda:GetFunction", "lambda:GetFunctionCodeSigningConfig",
      "lambda:GetFunctionConcurrency", "lambda:GetFunctionConfiguration", "lambda:GetLayerVersion",
      "lambda:GetPolicy", "lambda:ListEventSourceMappings", "lambda:ListVersionsByFunction", "lambda:ListTags",
      "lambda:GetFunctionEventInvokeConfig", "lambda:GetRuntimeManagementConfig", "lambda:GetFunctionRecursionConfig",
      "logs:DescribeLogGroups", "logs:ListTagsForResource", "logs:ListTagsLogGroup",
      "s3:GetAccelerateConfiguration", "s3:GetBucket*", "s3:GetEncryptionConfiguration",
      "s3:GetLifecycleConfiguration", "s3:GetReplicationConfiguration", "s3:ListAllMyBuckets",
      "sns:GetSubscriptionAttributes", "sns:GetTopicAttributes", "sns:ListSubscriptionsByTopic",
      "sns:ListTagsForResource",
      "sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:ListQueueTags",
      "sts:GetCallerIdentity",
    ]
    resources = ["*"]
  }

  statement {
    # The provider reads a bucket with HeadBucket, which needs s3:ListBucket; object reads stay denied.
    sid       = "HeadStackBuckets"
    actions   = ["s3:ListBucket"]
    resources = ["arn:${local.partition}:s3:::${var.name}-*"]
  }
}

resource "aws_iam_role_policy" "read" {
  for_each = { for key, role in local.roles : key => role if role.kind != "smoke" }

  name   = "read-configuration"
  role   = aws_iam_role.github[each.key].id
  policy = data.aws_iam_policy_document.read.json
}

# The ceiling of every role the stack creates: data-plane actions of the services it uses, and
# no IAM, so a role created by a deploy can never grant more than the stack's own work needs.
data "aws_iam_policy_document" "boundary" {
  # checkov:skip=CKV_AWS_356: a permissions boundary caps, it grants nothing; the roles' own policies name their resources.
  # checkov:skip=CKV_AWS_111: a boundary caps the write actions; each role's own policy names its resources.
  # checkov:skip=CKV_AWS_108: as above: reads are granted, bucket by bucket, by the roles' own policies.
  # checkov:skip=CKV_AWS_109: as above: the stack's roles grant no permissions management.
  statement {
    sid = "StackDataPlane"
    actions = [
      "codebuild:StartBuild", "codecommit:GitPull", "codecommit:GitPush",
      "dynamodb:*", "kinesis:*", "s3:*", "sqs:*", "sns:Publish",
      "kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*",
      "logs:CreateLogStream", "logs:PutLogEvents",
      "xray:PutTelemetryRecords", "xray:PutTraceSegments",
    ]
    resources = ["*"]
  }
}

resource "aws_iam_policy" "boundary" {
  for_each = toset(var.environments)

  name        = "${var.name}-${each.key}-boundary"
  description = "Permissions boundary of every IAM role the ${var.name} ${each.key} stack creates"
  policy      = data.aws_iam_policy_document.boundary.json
}

# Applies may change only resources named after the environment's prefix (<name>-<env>-...),
# the naming every resource of the stack follows.
data "aws_iam_policy_document" "deploy" {
  for_each = toset(var.environments)

  statement {
    sid     = "StackResources"
    actions = ["codebuild:*", "codecommit:*", "dynamodb:*", "events:*", "kinesis:*", "lambda:*", "s3:*", "sns:*", "sqs:*"]
    resources = [
      "arn:${local.partition}:codebuild:${var.region}:${local.account_id}:project/${var.name}-${each.key}-*",
      "arn:${local.partition}:codecommit:${var.region}:${local.account_id}:${var.name}-${each.key}-*",
      "arn:${local.partition}:dynamodb:${var.region}:${local.account_id}:table/${var.name}-${each.key}-*",
      "arn:${local.partition}:events:${var.region}:${local.account_id}:rule/${var.name}-${each.key}-*",
      "arn:${local.partition}:kinesis:${var.region}:${local.account_id}:stream/${var.name}-${each.key}-*",
      "arn:${local.partition}:lambda:${var.region}:${local.account_id}:function:${var.name}-${each.key}-*",
      "arn:${local.partition}:lambda:${var.region}:${local.account_id}:layer:${var.name}-${each.key}-*",
      "arn:${local.partition}:s3:::${var.name}-${each.key}-*",
      "arn:${local.partition}:sns:${var.region}:${local.account_id}:${var.name}-${each.key}-*",
      "arn:${local.partition}:sqs:${var.region}:${local.account_id}:${var.name}-${each.key}-*",
    ]
  }

  statement {
    # Deploying changes configuration, never reads the data: objects, items, records, messages, code.
    sid     = "DenyDataReads"
    effect  = "Deny"
    actions = ["s3:GetObject*", "dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan", "dynamodb:BatchGetItem", "sqs:ReceiveMessage", "kinesis:GetRecords", "codecommit:GitPull"]
    resources = [
      "arn:${local.partition}:s3:::${var.name}-${each.key}-*/*",
      "arn:${local.partition}:dynamodb:${var.region}:${local.account_id}:table/${var.name}-${each.key}-*",
      "arn:${local.partition}:sqs:${var.region}:${local.account_id}:${var.name}-${each.key}-*",
      "arn:${local.partition}:kinesis:${var.region}:${local.account_id}:stream/${var.name}-${each.key}-*",
      "arn:${local.partition}:codecommit:${var.region}:${local.account_id}:${var.name}-${each.key}-*",
    ]
  }

  statement {
    sid       = "EventSourceMappings"
    actions   = ["lambda:CreateEventSourceMapping", "lambda:UpdateEventSourceMapping", "lambda:DeleteEventSourceMapping"]
    resources = ["*"]

    condition {
      test     = "ArnLike"
      variable = "lambda:FunctionArn"
      values   = ["arn:${local.partition}:lambda:${var.region}:${local.account_id}:function:${var.name}-${each.key}-*"]
    }
  }

  statement {
    # Mappings are named by generated ids; default_tags tag them.
    sid       = "TagEventSourceMappings"
    actions   = ["lambda:TagResource", "lambda:UntagResource", "lambda:ListTags"]
    resources = ["arn:${local.partition}:lambda:${var.region}:${local.account_id}:event-source-mapping:*"]
  }

  statement {
    sid       = "CreateHttpApi"
    actions   = ["apigateway:POST", "apigateway:TagResource"]
    resources = ["arn:${local.partition}:apigateway:${var.region}::/apis", "arn:${local.partition}:apigateway:${var.region}::/tags/*"]

    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/Environment"
      values   = [each.key]
    }
  }

  statement {
    # API Gateway ARNs carry generated ids, not names: only APIs tagged with this environment.
    sid       = "ManageHttpApi"
    actions   = ["apigateway:DELETE", "apigateway:PATCH", "apigateway:POST", "apigateway:PUT", "apigateway:TagResource", "apigateway:UntagResource"]
    resources = ["arn:${local.partition}:apigateway:${var.region}::/apis/*", "arn:${local.partition}:apigateway:${var.region}::/tags/*"]

    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/Environment"
      values   = [each.key]
    }
  }

  statement {
    sid = "LogsAndAlarms"
    actions = [
      "logs:CreateLogGroup", "logs:DeleteLogGroup", "logs:PutRetentionPolicy", "logs:AssociateKmsKey",
      "logs:TagResource", "logs:UntagResource", "logs:TagLogGroup",
      "cloudwatch:PutMetricAlarm", "cloudwatch:DeleteAlarms", "cloudwatch:TagResource", "cloudwatch:UntagResource",
      "cloudwatch:PutDashboard", "cloudwatch:DeleteDashboards",
    ]
    resources = [
      "arn:${local.partition}:logs:${var.region}:${local.account_id}:log-group:/aws/lambda/${var.name}-${each.key}-*",
      "arn:${local.partition}:logs:${var.region}:${local.account_id}:log-group:/aws/codebuild/${var.name}-${each.key}-*",
      "arn:${local.partition}:logs:${var.region}:${local.account_id}:log-group:/aws/apigateway/${var.name}-${each.key}-*",
      "arn:${local.partition}:cloudwatch:${var.region}:${local.account_id}:alarm:${var.name}-${each.key}-*",
      "arn:${local.partition}:cloudwatch::${local.account_id}:dashboard/${var.name}-${each.key}",
    ]
  }

  statement {
    # HTTP API access logging (CloudWatch Logs vended delivery): these actions have no resource-level permissions.
    sid       = "ApiAccessLogDelivery"
    actions   = ["logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery", "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies"]
    resources = ["*"]
  }

  statement {
    sid       = "RolesWithinTheBoundary"
    actions   = ["iam:CreateRole", "iam:PutRolePolicy", "iam:DeleteRolePolicy", "iam:PutRolePermissionsBoundary"]
    resources = ["arn:${local.partition}:iam::${local.account_id}:role/${var.name}-${each.key}-*"]

    condition {
      test     = "StringEquals"
      variable = "iam:PermissionsBoundary"
      values   = [aws_iam_policy.boundary[each.key].arn]
    }
  }

  statement {
    sid       = "Roles"
    actions   = ["iam:DeleteRole", "iam:TagRole", "iam:UntagRole", "iam:UpdateAssumeRolePolicy", "iam:UpdateRole", "iam:UpdateRoleDescription"]
    resources = ["arn:${local.partition}:iam::${local.account_id}:role/${var.name}-${each.key}-*"]
  }

  statement {
    sid       = "KeepTheBoundary"
    effect    = "Deny"
    actions   = ["iam:DeleteRolePermissionsBoundary", "iam:CreatePolicyVersion", "iam:SetDefaultPolicyVersion"]
    resources = ["*"]
  }

  statement {
    sid       = "PassRolesToTheStack"
    actions   = ["iam:PassRole"]
    resources = ["arn:${local.partition}:iam::${local.account_id}:role/${var.name}-${each.key}-*"]

    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["lambda.amazonaws.com", "codebuild.amazonaws.com", "events.amazonaws.com", "apigateway.amazonaws.com"]
    }
  }

  statement {
    sid       = "CreateKeys"
    actions   = ["kms:CreateKey", "kms:TagResource"]
    resources = ["*"]

    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/Environment"
      values   = [each.key]
    }
  }

  statement {
    sid = "ManageOwnKeys"
    actions = [
      "kms:CreateAlias", "kms:DeleteAlias", "kms:UpdateAlias", "kms:EnableKeyRotation", "kms:PutKeyPolicy",
      "kms:ScheduleKeyDeletion", "kms:TagResource", "kms:UntagResource", "kms:UpdateKeyDescription",
      "kms:CreateGrant", "kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey",
    ]
    resources = ["*"]

    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/Environment"
      values   = [each.key]
    }
  }

  statement {
    # Alias operations are authorised on the alias too, and aliases carry no tags.
    sid       = "OwnAliases"
    actions   = ["kms:CreateAlias", "kms:DeleteAlias", "kms:UpdateAlias"]
    resources = ["arn:${local.partition}:kms:${var.region}:${local.account_id}:alias/${var.name}-${each.key}*"]
  }
}

resource "aws_iam_role_policy" "deploy" {
  for_each = toset(var.environments)

  name   = "manage-stack"
  role   = aws_iam_role.github["${each.key}-deploy"].id
  policy = data.aws_iam_policy_document.deploy[each.key].json
}

# The smoke test after each apply: put one record through the ingest endpoint and read it back
# from the lake, write and delete one table1 item under smoke# keys and read table2.
data "aws_iam_policy_document" "smoke" {
  for_each = toset(var.environments)

  statement {
    sid       = "Ingest"
    actions   = ["execute-api:Invoke"]
    resources = ["arn:${local.partition}:execute-api:${var.region}:${local.account_id}:*/*/POST/v1/records"]
  }

  statement {
    sid       = "ReadLakeEvents"
    actions   = ["s3:ListBucket", "s3:GetObject"]
    resources = ["arn:${local.partition}:s3:::${var.name}-${each.key}-lake-${local.account_id}", "arn:${local.partition}:s3:::${var.name}-${each.key}-lake-${local.account_id}/events/*"]
  }

  statement {
    sid       = "SmokeItems"
    actions   = ["dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:GetItem"]
    resources = ["arn:${local.partition}:dynamodb:${var.region}:${local.account_id}:table/${var.name}-${each.key}-table1", "arn:${local.partition}:dynamodb:${var.region}:${local.account_id}:table/${var.name}-${each.key}-table2"]

    condition {
      test     = "ForAllValues:StringLike"
      variable = "dynamodb:LeadingKeys"
      values   = ["smoke#*"]
    }
  }

  statement {
    sid       = "StackKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = ["*"]

    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/Environment"
      values   = [each.key]
    }
  }

  statement {
    sid       = "Outputs"
    actions   = ["sts:GetCallerIdentity"]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "smoke" {
  for_each = toset(var.environments)

  name   = "smoke-test"
  role   = aws_iam_role.github["${each.key}-smoke"].id
  policy = data.aws_iam_policy_document.smoke[each.key].json
}
