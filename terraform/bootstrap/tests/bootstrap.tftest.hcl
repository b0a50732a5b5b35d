# The bootstrap's state bucket, GitHub trust and CI roles, planned against a mocked provider (no
# AWS) for the two environments of environments/ (their backend files and tfvars are read as data).

mock_provider "aws" {
  override_during = plan # the defaults below are known in the plan, so the assertions can read them

  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
}

# Known ARNs for what the policies name: the OIDC provider, the state bucket and key, the boundaries.
override_resource {
  target          = aws_iam_openid_connect_provider.github
  override_during = plan
  values          = { arn = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com" }
}

override_resource {
  target          = module.state_bucket.aws_s3_bucket.this
  override_during = plan
  values          = { arn = "arn:aws:s3:::tributary-terraform-state-123456789012" }
}

override_resource {
  target          = aws_kms_key.state
  override_during = plan
  values          = { arn = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000" }
}

override_resource {
  target          = aws_iam_policy.boundary["dev"]
  override_during = plan
  values          = { arn = "arn:aws:iam::123456789012:policy/tributary-dev-boundary" }
}

override_resource {
  target          = aws_iam_policy.boundary["prod"]
  override_during = plan
  values          = { arn = "arn:aws:iam::123456789012:policy/tributary-prod-boundary" }
}

variables {
  github_repository = "example/tributary"
}

run "trust_is_conditioned_on_the_repository_and_the_github_environment" {
  command = plan

  assert {
    condition     = toset(keys(aws_iam_role.github)) == toset(["dev-plan", "dev-deploy", "dev-smoke", "prod-plan", "prod-deploy", "prod-smoke"])
    error_message = "each environment has a plan, a deploy and a smoke role"
  }
  assert {
    condition = alltrue([
      for key, github_environment in {
        dev-plan = "dev-plan", dev-deploy = "dev", dev-smoke = "dev", prod-plan = "prod-plan", prod-deploy = "prod", prod-smoke = "prod"
        } : (
        one(data.aws_iam_policy_document.trust[key].statement).actions == toset(["sts:AssumeRoleWithWebIdentity"]) &&
        one(one(data.aws_iam_policy_document.trust[key].statement).principals).type == "Federated" &&
        one(one(data.aws_iam_policy_document.trust[key].statement).principals).identifiers == toset(["arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"]) &&
        one(data.aws_iam_policy_document.trust[key].statement).condition == toset([
          { test = "StringEquals", variable = "token.actions.githubusercontent.com:aud", values = tolist(["sts.amazonaws.com"]) },
          { test = "StringEquals", variable = "token.actions.githubusercontent.com:sub", values = tolist(["repo:example/tributary:environment:${github_environment}"]) },
        ])
      )
    ])
    error_message = "a role trusts GitHub's tokens for sts.amazonaws.com from this repository's one GitHub environment (<env>-plan for plans, <env> otherwise), exactly: no other condition, no wildcard"
  }
  assert {
    condition = alltrue([
      for key, role in aws_iam_role.github :
      role.name == "tributary-ci-${key}" && !startswith(role.name, "tributary-dev-") && !startswith(role.name, "tributary-prod-")
    ])
    error_message = "the CI roles are named tributary-ci-<env>-<kind>, outside the <name>-<env>- prefix a deploy may change"
  }
}

run "the_state_key_rotates_and_the_backends_name_its_alias" {
  command = plan

  assert {
    condition     = aws_kms_key.state.enable_key_rotation == true
    error_message = "the state key rotates"
  }
  assert {
    condition = alltrue([
      for env in ["dev", "prod"] :
      aws_kms_alias.state.name == regex("(?m)^kms_key_id\\s*=\\s*\"([^\"]+)\"", file("../environments/${env}.s3.tfbackend"))[0]
    ])
    error_message = "each backend encrypts its state with the bootstrap's state key, by alias"
  }
}

run "the_roles_state_paths_are_the_backend_keys" {
  command = plan

  assert {
    condition = alltrue([
      for env in ["dev", "prod"] : one([
        for s in data.aws_iam_policy_document.state_access["${env}-deploy"].statement : s.resources if s.sid == "WriteState"
        ]) == toset([
        format("arn:aws:s3:::tributary-terraform-state-123456789012/%s", regex("(?m)^key\\s*=\\s*\"([^\"]+)\"", file("../environments/${env}.s3.tfbackend"))[0])
      ])
    ])
    error_message = "the deploy role writes exactly the state object its environment's backend key names"
  }
  assert {
    condition = alltrue(flatten([
      for env in ["dev", "prod"] : [
        for kind in ["plan", "deploy"] : one([
          for s in data.aws_iam_policy_document.state_access["${env}-${kind}"].statement : s.resources if s.sid == "Lock"
          ]) == toset([
          format("arn:aws:s3:::tributary-terraform-state-123456789012/%s.tflock", regex("(?m)^key\\s*=\\s*\"([^\"]+)\"", file("../environments/${env}.s3.tfbackend"))[0])
        ])
      ]
    ]))
    error_message = "the plan and deploy roles take the lock file S3 native locking writes beside the backend key"
  }
  assert {
    condition = alltrue(flatten([
      for env in ["dev", "prod"] : [
        for kind in ["plan", "deploy", "smoke"] : one([
          for s in data.aws_iam_policy_document.state_access["${env}-${kind}"].statement : s.resources if s.sid == "ReadState"
          ]) == toset([
          format("arn:aws:s3:::tributary-terraform-state-123456789012/%s/*", dirname(regex("(?m)^key\\s*=\\s*\"([^\"]+)\"", file("../environments/${env}.s3.tfbackend"))[0]))
        ])
      ]
    ]))
    error_message = "every role reads its own environment's state only"
  }
}

run "plan_roles_cannot_write_the_state_and_deploy_roles_cannot_read_data" {
  command = plan

  assert {
    condition = alltrue(flatten([
      for env in ["dev", "prod"] : [
        for kind in ["plan", "smoke"] : [
          for s in data.aws_iam_policy_document.state_access["${env}-${kind}"].statement :
          !contains(s.actions, "s3:PutObject") || alltrue([for r in s.resources : endswith(r, ".tflock")])
        ]
      ]
    ]))
    error_message = "plan and smoke roles write no state object (at most the lock file)"
  }
  assert {
    condition = alltrue([
      for env in ["dev", "prod"] : alltrue([
        for s in data.aws_iam_policy_document.state_access["${env}-smoke"].statement : !contains(s.actions, "s3:PutObject")
      ])
    ])
    error_message = "the smoke role does not even take the lock"
  }
  assert {
    condition = alltrue([
      for env in ["dev", "prod"] : anytrue([
        for s in data.aws_iam_policy_document.deploy[env].statement :
        s.effect == "Deny" &&
        length(setintersection(s.actions, ["s3:GetObject*", "dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan", "sqs:ReceiveMessage", "kinesis:GetRecords"])) == 6 &&
        contains(s.resources, "arn:aws:s3:::tributary-${env}-*/*")
      ])
    ])
    error_message = "the deploy role is denied reading the stack's objects, items, messages and records"
  }
  assert {
    condition = alltrue(flatten([
      for env in ["dev", "prod"] : [
        for s in data.aws_iam_policy_document.deploy[env].statement : [
          for r in s.resources :
          !startswith("arn:aws:s3:::tributary-terraform-state-123456789012/tributary/${env}/terraform.tfstate", split("*", r)[0])
        ] if s.effect == "Deny" && contains(s.actions, "s3:GetObject*")
      ]
    ]))
    error_message = "the data-read denial matches no state object: the deploy role still reads the state"
  }
}

run "roles_a_deploy_creates_must_carry_the_boundary" {
  command = plan

  assert {
    condition = alltrue(flatten([
      for env in ["dev", "prod"] : [
        for s in data.aws_iam_policy_document.deploy[env].statement :
        s.condition == toset([{ test = "StringEquals", variable = "iam:PermissionsBoundary", values = tolist(["arn:aws:iam::123456789012:policy/tributary-${env}-boundary"]) }])
        if coalesce(s.effect, "Allow") == "Allow" && length(setintersection(s.actions, ["iam:CreateRole", "iam:PutRolePolicy", "iam:PutRolePermissionsBoundary"])) > 0
      ]
    ]))
    error_message = "the deploy role may create a role, or put a policy or a boundary on one, only with its environment's boundary"
  }
  assert {
    condition = alltrue([
      for env in ["dev", "prod"] : length([
        for s in data.aws_iam_policy_document.deploy[env].statement : s
        if coalesce(s.effect, "Allow") == "Allow" && contains(s.actions, "iam:CreateRole") && contains(s.actions, "iam:PutRolePolicy")
      ]) == 1
    ])
    error_message = "the deploy role can create the stack's roles and give them their policies (within the boundary)"
  }
  assert {
    condition = alltrue([
      for env in ["dev", "prod"] : alltrue([
        for s in data.aws_iam_policy_document.deploy[env].statement :
        coalesce(s.effect, "Allow") == "Deny" || length(setintersection(s.actions, ["*", "iam:*"])) == 0
      ])
    ])
    error_message = "the deploy role is granted no wildcard IAM"
  }
  assert {
    condition = alltrue([
      for env in ["dev", "prod"] : anytrue([
        for s in data.aws_iam_policy_document.deploy[env].statement :
        s.effect == "Deny" && contains(s.actions, "iam:DeleteRolePermissionsBoundary") && s.resources == toset(["*"])
      ])
    ])
    error_message = "no role's boundary can be removed"
  }
  assert {
    condition     = alltrue([for s in data.aws_iam_policy_document.boundary.statement : alltrue([for a in s.actions : !startswith(a, "iam:")])])
    error_message = "the boundary grants no IAM, so a role made within it cannot make more"
  }
  assert {
    condition = alltrue([
      for env in ["dev", "prod"] : aws_iam_policy.boundary[env].name == jsondecode(file("../environments/${env}.tfvars.json")).permissions_boundary
    ])
    error_message = "each environment's tfvars names the boundary the bootstrap creates for it"
  }
}
