# GitHub's OIDC provider, and per environment the roles GitHub Actions assume with it.

resource "aws_iam_openid_connect_provider" "github" {
  count = var.create_oidc_provider ? 1 : 0

  url            = "https://${local.issuer}"
  client_id_list = ["sts.amazonaws.com"]
}

data "aws_iam_openid_connect_provider" "github" {
  count = var.create_oidc_provider ? 0 : 1

  url = "https://${local.issuer}"
}

locals {
  oidc_provider_arn = var.create_oidc_provider ? aws_iam_openid_connect_provider.github[0].arn : data.aws_iam_openid_connect_provider.github[0].arn

  # GitHub environment per role: plans run in <env>-plan (no reviewers), applies and the smoke
  # test after them in <env>. The roles are named <name>-ci-<env>-<kind>: outside the stack's
  # <name>-<env>- prefix, so the deploy role cannot change its own or another CI role.
  kinds = { plan = "%s-plan", deploy = "%s", smoke = "%s" }
  roles = merge([
    for env in var.environments : {
      for kind, github in local.kinds : "${env}-${kind}" => {
        environment = env, kind = kind, github_environment = format(github, env)
      }
    }
  ]...)
  state_prefix = { for env in var.environments : env => "${module.state_bucket.arn}/${var.name}/${env}" }
}

data "aws_iam_policy_document" "trust" {
  for_each = local.roles

  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [local.oidc_provider_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.issuer}:aud"
      values   = ["sts.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.issuer}:sub"
      values   = ["repo:${var.github_repository}:environment:${each.value.github_environment}"]
    }
  }
}

resource "aws_iam_role" "github" {
  for_each = local.roles

  name                 = "${var.name}-ci-${each.key}"
  description          = "GitHub Actions ${each.value.kind} role for ${var.name} ${each.value.environment} (environment ${each.value.github_environment} of ${var.github_repository})"
  assume_role_policy   = data.aws_iam_policy_document.trust[each.key].json
  max_session_duration = 3600
}

