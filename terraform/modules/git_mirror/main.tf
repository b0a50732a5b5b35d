data "aws_region" "current" {}

resource "aws_codecommit_repository" "source" {
  # checkov:skip=CKV2_AWS_37: pull-request approval rules are the owning team's policy for repo1, set where their templates live.
  repository_name = var.source_repository_name
  description     = "Mirrored to ${var.target_repository_name} on every push"
  kms_key_id      = var.kms_key_arn
  tags            = var.tags
}

resource "aws_codecommit_repository" "target" {
  # checkov:skip=CKV2_AWS_37: the mirror is written only by the build (force-pushes included); pull requests there are not used.
  repository_name = var.target_repository_name
  description     = "Mirror of ${var.source_repository_name}; written only by the mirror build"
  kms_key_id      = var.kms_key_arn
  tags            = var.tags
}

resource "aws_cloudwatch_log_group" "build" {
  name              = "/aws/codebuild/${var.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

data "aws_iam_policy_document" "build_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["codebuild.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "build" {
  name                 = "${var.name}-build"
  assume_role_policy   = data.aws_iam_policy_document.build_assume.json
  permissions_boundary = var.permissions_boundary_arn
  tags                 = var.tags
}

data "aws_iam_policy_document" "build" {
  statement {
    sid       = "PullSource"
    actions   = ["codecommit:GitPull"]
    resources = [aws_codecommit_repository.source.arn]
  }

  statement {
    sid       = "PushMirror"
    actions   = ["codecommit:GitPush"]
    resources = [aws_codecommit_repository.target.arn]
  }

  # mirror.sh sets repo2's default branch to repo1's before it deletes refs: CodeCommit refuses
  # to delete a default branch, so a renamed default would otherwise fail every build.
  statement {
    sid       = "MirrorDefaultBranch"
    actions   = ["codecommit:UpdateDefaultBranch"]
    resources = [aws_codecommit_repository.target.arn]
  }

  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.build.arn}:*"]
  }

  statement {
    sid       = "Key"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
  }
}

resource "aws_iam_role_policy" "build" {
  name   = "mirror"
  role   = aws_iam_role.build.id
  policy = data.aws_iam_policy_document.build.json
}

resource "aws_codebuild_project" "this" {
  name           = var.name
  description    = "Mirrors every branch and tag of ${var.source_repository_name} to ${var.target_repository_name}"
  service_role   = aws_iam_role.build.arn
  encryption_key = var.kms_key_arn
  build_timeout  = 30
  tags           = var.tags
  # One mirror at a time: two could finish out of order and force an older state onto the target.
  concurrent_build_limit = 1

  # No source download: mirror.sh reads repo1 itself, and a CODECOMMIT source would fail every
  # build while repo1 is empty (there is no default branch to check out).
  source {
    type = "NO_SOURCE"
    # The exact script tested in tests/unit/test_git_mirror.py, carried in the buildspec.
    buildspec = templatefile("${path.module}/buildspec.yml.tftpl", {
      script_base64 = base64encode(file("${path.module}/mirror.sh"))
    })
  }

  artifacts {
    type = "NO_ARTIFACTS"
  }

  environment {
    compute_type                = "BUILD_GENERAL1_SMALL"
    image                       = var.build_image
    type                        = "LINUX_CONTAINER"
    image_pull_credentials_type = "CODEBUILD"
    privileged_mode             = false

    environment_variable {
      name  = "SOURCE_URL"
      value = aws_codecommit_repository.source.clone_url_http
    }

    environment_variable {
      name  = "TARGET_URL"
      value = aws_codecommit_repository.target.clone_url_http
    }
  }

  logs_config {
    cloudwatch_logs {
      group_name = aws_cloudwatch_log_group.build.name
    }

    s3_logs {
      status = "DISABLED"
    }
  }
}

data "aws_iam_policy_document" "events_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "events" {
  name                 = "${var.name}-events"
  assume_role_policy   = data.aws_iam_policy_document.events_assume.json
  permissions_boundary = var.permissions_boundary_arn
  tags                 = var.tags
}

data "aws_iam_policy_document" "events" {
  statement {
    actions   = ["codebuild:StartBuild"]
    resources = [aws_codebuild_project.this.arn]
  }
}

resource "aws_iam_role_policy" "events" {
  name   = "start-mirror"
  role   = aws_iam_role.events.id
  policy = data.aws_iam_policy_document.events.json
}

resource "aws_cloudwatch_event_rule" "push" {
  name          = coalesce(var.push_rule_name, "${var.name}-push")
  description   = "A branch or tag of ${var.source_repository_name} was created, updated or deleted"
  tags          = var.tags
  event_pattern = jsonencode(merge(var.push_event_pattern, { resources = [aws_codecommit_repository.source.arn] }))
}

resource "aws_cloudwatch_event_rule" "nightly" {
  name                = coalesce(var.nightly_rule_name, "${var.name}-nightly")
  description         = "Runs the mirror even without a push: EventBridge delivery is best effort"
  schedule_expression = var.schedule_expression
  tags                = var.tags
}

# Starts EventBridge gave up on. A start while a build runs is refused with a client error,
# which EventBridge does not retry, so it lands here at once; the running build reads repo1
# again before it ends and mirrors that push (mirror.sh).
module "dead_letters" {
  source = "../queue"

  name              = "${var.name}-dlq"
  kms_key_arn       = var.kms_key_arn
  max_receive_count = 0
  allowed_sender_arns = {
    "events.amazonaws.com" = [aws_cloudwatch_event_rule.push.arn, aws_cloudwatch_event_rule.nightly.arn]
  }
  tags = var.tags
}

resource "aws_cloudwatch_event_target" "push" {
  rule     = aws_cloudwatch_event_rule.push.name
  arn      = aws_codebuild_project.this.arn
  role_arn = aws_iam_role.events.arn

  # Throttles and server errors are retried within this age; anything left goes to the queue.
  retry_policy {
    maximum_event_age_in_seconds = var.max_event_age_seconds
    maximum_retry_attempts       = 185
  }

  dead_letter_config {
    arn = module.dead_letters.arn
  }
}

resource "aws_cloudwatch_event_target" "nightly" {
  rule     = aws_cloudwatch_event_rule.nightly.name
  arn      = aws_codebuild_project.this.arn
  role_arn = aws_iam_role.events.arn

  retry_policy {
    maximum_event_age_in_seconds = var.max_event_age_seconds
    maximum_retry_attempts       = 185
  }

  dead_letter_config {
    arn = module.dead_letters.arn
  }
}
