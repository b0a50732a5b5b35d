# The tributary stack for one environment. Functions are discovered from their
# declarations (functions/*/function.json): adding a directory with a declaration adds
# a function here, with its settings read from that file and nowhere else.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  prefix        = "${var.name}-${var.environment}"
  account_id    = data.aws_caller_identity.current.account_id
  functions_dir = "${path.root}/../functions"
  function_names = toset([
    for path in fileset(local.functions_dir, "*/function.json") : dirname(path)
  ])
  declarations = {
    for name in local.function_names : name => jsondecode(file("${local.functions_dir}/${name}/function.json"))
  }

  # Logical resources (topology.json): the names here and in the local runtime come from the
  # same templates.
  topology  = jsondecode(file("${path.module}/topology.json")).resources
  naming    = jsondecode(file("${path.module}/topology.json")).naming
  name_vars = { prefix = local.prefix, account_id = local.account_id, region = data.aws_region.current.region }
  names     = { for key, resource in local.topology : key => templatestring(resource.name, local.name_vars) }

  # Logical names used by the declarations (resource_environment, trigger.source,
  # trigger.on_failure), mapped to this stack's resources.
  resources = {
    lake_bucket           = module.lake.name
    events_stream         = module.events_stream.name
    events_failures_queue = module.events_failures.url
  }
  event_source_arns = {
    events_stream = module.events_stream.arn
  }
  failure_destination_arns = {
    events_failures_queue = module.events_failures.arn
  }
  stream_triggers = {
    for name, decl in local.declarations : name => decl.trigger
    if contains(["kinesis", "dynamodb"], decl.trigger.type)
  }
}

# --- encryption -----------------------------------------------------------------------------

data "aws_iam_policy_document" "key" {
  # checkov:skip=CKV_AWS_109: in a key policy "*" is this key; the account root statement is what lets IAM policies grant use of the key.
  # checkov:skip=CKV_AWS_111: as above, key policies can only name the key itself as "*".
  # checkov:skip=CKV_AWS_356: as above, key policies can only name the key itself as "*".
  statement {
    sid       = "AccountAdministersThroughIam"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${local.account_id}:root"]
    }
  }

  statement {
    sid       = "CloudWatchLogsOfThisAccount"
    actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["logs.${data.aws_region.current.region}.amazonaws.com"]
    }

    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${data.aws_partition.current.partition}:logs:${data.aws_region.current.region}:${local.account_id}:log-group:*"]
    }
  }
}

resource "aws_kms_key" "this" {
  description             = "${local.prefix}: streams, buckets, queues, logs and function environments"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.key.json
}

resource "aws_kms_alias" "this" {
  name          = "alias/${local.prefix}"
  target_key_id = aws_kms_key.this.key_id
}

# --- stream -> lake -------------------------------------------------------------------------

module "events_stream" {
  source = "./modules/kinesis_stream"

  name            = local.names.events_stream
  on_demand       = var.stream_on_demand
  shard_count     = var.stream_shard_count
  retention_hours = var.stream_retention_hours
  kms_key_arn     = aws_kms_key.this.arn
}

module "lake" {
  source = "./modules/lake_bucket"

  name                    = local.names.lake_bucket
  kms_key_arn             = aws_kms_key.this.arn
  noncurrent_version_days = var.noncurrent_version_days
  force_destroy           = var.force_destroy_buckets
  expiring_prefixes = {
    "${local.declarations.stream_processor.environment.QUARANTINE_PREFIX}/" = var.quarantine_expiry_days
  }
  # The dedupe state is rewritten every batch; its old versions are worth nothing after a day.
  noncurrent_expiring_prefixes = {
    "${local.declarations.stream_processor.environment.STATE_PREFIX}/" = 1
  }
}

module "events_failures" {
  source = "./modules/queue"

  name              = local.names.events_failures_queue
  kms_key_arn       = aws_kms_key.this.arn
  max_receive_count = local.topology.events_failures_queue.max_receive_count
}

# --- functions ------------------------------------------------------------------------------

module "layer" {
  source = "./modules/layer"

  name         = templatestring(local.naming.layer, local.name_vars)
  package_path = "${var.dist_dir}/layers/common.zip"
  architecture = var.architecture
}

module "function" {
  source   = "./modules/function"
  for_each = local.function_names

  name               = templatestring(local.naming.function, merge(local.name_vars, { function = replace(each.key, "_", "-") }))
  function_dir       = "${local.functions_dir}/${each.key}"
  package_path       = "${var.dist_dir}/functions/${each.key}.zip"
  architecture       = var.architecture
  layer_arns         = [module.layer.arn]
  resources          = local.resources
  policy_json        = local.function_policies[each.key]
  kms_key_arn        = aws_kms_key.this.arn
  log_retention_days = var.log_retention_days
}

module "ingest_http_api" {
  source = "./modules/http_api"

  name                   = local.names.ingest_http_api
  route_key              = local.declarations.ingest_api.trigger.route
  function_name          = module.function["ingest_api"].function_name
  function_invoke_arn    = module.function["ingest_api"].invoke_arn
  throttling_rate_limit  = var.http_throttling_rate_limit
  throttling_burst_limit = var.http_throttling_burst_limit
  kms_key_arn            = aws_kms_key.this.arn
  log_retention_days     = var.log_retention_days
}

module "stream_mapping" {
  source   = "./modules/stream_mapping"
  for_each = local.stream_triggers

  function_name    = module.function[each.key].function_arn
  event_source_arn = local.event_source_arns[each.value.source]
  trigger          = each.value
  on_failure_arn   = local.failure_destination_arns[each.value.on_failure]
}
