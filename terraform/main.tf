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
  # Functions that belong to one table-sync path run only when that path is selected.
  function_paths    = { for name, path in jsondecode(file("${path.module}/topology.json")).paths : name => path if name != "description" }
  selected_paths    = var.table_sync_paths == "both" ? ["direct", "fanout"] : [var.table_sync_paths]
  enabled_functions = toset([for name in local.function_names : name if !contains(keys(local.function_paths), name) || contains(local.selected_paths, lookup(local.function_paths, name, ""))])
  declarations = {
    for name in local.function_names : name => jsondecode(file("${local.functions_dir}/${name}/function.json"))
  }

  # Logical resources (topology.json): the names here and in the local runtime come from the
  # same templates.
  topology  = jsondecode(file("${path.module}/topology.json")).resources
  naming    = jsondecode(file("${path.module}/topology.json")).naming
  name_vars = { prefix = local.prefix, account_id = local.account_id, region = data.aws_region.current.id }
  names     = { for key, resource in local.topology : key => templatestring(resource.name, local.name_vars) }

  permissions_boundary_arn = var.permissions_boundary == null ? null : "arn:${data.aws_partition.current.partition}:iam::${local.account_id}:policy/${var.permissions_boundary}"

  # Logical names used by the declarations (resource_environment, trigger.source,
  # trigger.on_failure), mapped to this stack's resources.
  resources = {
    lake_bucket           = module.lake.name
    events_stream         = module.events_stream.name
    events_failures_queue = module.events_failures.url
    table1                = module.table1.name
    table2                = module.table2.name
    changes_topic         = module.changes_topic.arn
    changes_queue         = module.changes_queue.url
    table_failures_queue  = module.table_failures.url
    code_bucket1          = module.code_bucket1.name
    code_bucket2          = module.code_bucket2.name
    code_events_queue     = module.code_events.url
  }
  event_source_arns = {
    events_stream = module.events_stream.arn
    table1        = module.table1.stream_arn
  }
  failure_destination_arns = {
    events_failures_queue = module.events_failures.arn
    table_failures_queue  = module.table_failures.arn
  }
  queue_arns = {
    changes_queue     = module.changes_queue.arn
    code_events_queue = module.code_events.arn
  }
  stream_triggers = {
    for name, decl in local.declarations : name => (
      # The events stream's batching window is a deployment's choice of latency against cost.
      name == "stream_processor" && var.stream_batching_window_s != null
      ? merge(decl.trigger, { maximum_batching_window_s = var.stream_batching_window_s })
      : decl.trigger
    )
    if contains(["kinesis", "dynamodb"], decl.trigger.type) && contains(local.enabled_functions, name)
  }
  queue_triggers = {
    for name, decl in local.declarations : name => decl.trigger
    if decl.trigger.type == "sqs" && contains(local.enabled_functions, name)
  }
  # Settings of the stack (tfvars) a function reads, beside its declaration's environment.
  function_environments = {
    lake_compactor = local.compactor_environment
    stream_processor = merge(
      { LAKE_CODEC = var.lake_codec.codec },
      var.lake_codec.level == null ? {} : { COMPRESSION_LEVEL = tostring(var.lake_codec.level) },
    )
  }
  # Functions that set aside the changes they refuse (metric ChangesParked) instead of failing on them.
  parking_functions = ["table_sync", "change_publisher", "change_applier"]
  # The stack's own readers of table1's stream: each enabled function it triggers.
  table1_stream_readers = [for name, trigger in local.stream_triggers : name if trigger.source == "table1"]
}

# A DynamoDB stream shard serves at most two concurrent readers: the ones this stack declares and
# the ones outside it (var.table1_extra_stream_readers) together.
resource "terraform_data" "table1_stream_readers" {
  input = local.table1_stream_readers

  lifecycle {
    precondition {
      condition     = length(local.table1_stream_readers) + var.table1_extra_stream_readers <= 2
      error_message = "A DynamoDB stream shard serves at most two readers: this stack reads table1's stream with ${join(" and ", local.table1_stream_readers)}, so at most ${2 - length(local.table1_stream_readers)} other reader may."
    }
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
    # SNS delivering to encrypted queues, S3 notifying them, CloudWatch alarms publishing to the
    # encrypted alarm topic, EventBridge sending failed target invocations to their encrypted
    # dead-letter queues: each service encrypts with the key on this account's behalf only.
    sid       = "ServicesWriteToEncryptedQueuesAndTopics"
    actions   = ["kms:GenerateDataKey*", "kms:Decrypt"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["sns.amazonaws.com", "s3.amazonaws.com", "cloudwatch.amazonaws.com", "events.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }

  statement {
    sid       = "CloudWatchLogsOfThisAccount"
    actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["logs.${data.aws_region.current.id}.amazonaws.com"]
    }

    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${data.aws_partition.current.partition}:logs:${data.aws_region.current.id}:${local.account_id}:log-group:*"]
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
  source = "./modules/secure_bucket"

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

# --- table -> table -------------------------------------------------------------------------

module "table1" {
  source = "./modules/dynamodb_table"

  name                = local.names.table1
  hash_key            = local.topology.table1.hash_key
  range_key           = local.topology.table1.range_key
  stream_view_type    = local.topology.table1.stream_view_type
  kms_key_arn         = aws_kms_key.this.arn
  deletion_protection = var.table_deletion_protection
}

module "table2" {
  source = "./modules/dynamodb_table"

  name                = local.names.table2
  hash_key            = local.topology.table2.hash_key
  range_key           = local.topology.table2.range_key
  ttl_attribute       = local.topology.table2.ttl_attribute
  kms_key_arn         = aws_kms_key.this.arn
  deletion_protection = var.table_deletion_protection
}

module "table_failures" {
  source = "./modules/queue"

  name              = local.names.table_failures_queue
  kms_key_arn       = aws_kms_key.this.arn
  max_receive_count = local.topology.table_failures_queue.max_receive_count
}

module "changes_queue" {
  source = "./modules/queue"

  name                       = local.names.changes_queue
  kms_key_arn                = aws_kms_key.this.arn
  max_receive_count          = local.topology.changes_queue.max_receive_count
  visibility_timeout_seconds = local.topology.changes_queue.visibility_timeout_seconds
  allowed_sender_arns        = { "sns.amazonaws.com" = [module.changes_topic.arn] }
}

module "changes_topic" {
  source = "./modules/sns_topic"

  name        = local.names.changes_topic
  kms_key_arn = aws_kms_key.this.arn
  queue_subscriptions = {
    for label, subscription in local.topology.changes_topic.subscriptions : label => {
      queue_arn            = local.queue_arns[label]
      raw_message_delivery = subscription.raw_message_delivery
      filter_policy        = replace(jsonencode(subscription.filter_policy), "$${prefix}", local.prefix)
    }
  }
}

# --- code -> code ---------------------------------------------------------------------------

module "git_mirror" {
  source = "./modules/git_mirror"

  name                   = local.names.git_mirror
  source_repository_name = local.names[local.topology.git_mirror.source_repository]
  target_repository_name = local.names[local.topology.git_mirror.target_repository]
  push_rule_name         = local.names.git_mirror_push
  push_event_pattern     = local.topology.git_mirror_push.event_pattern
  nightly_rule_name      = local.names.git_mirror_nightly
  schedule_expression    = var.git_mirror_schedule
  kms_key_arn            = aws_kms_key.this.arn
  log_retention_days     = var.log_retention_days

  permissions_boundary_arn = local.permissions_boundary_arn
}

module "code_bucket1" {
  source = "./modules/secure_bucket"

  name                    = local.names.code_bucket1
  kms_key_arn             = aws_kms_key.this.arn
  noncurrent_version_days = var.noncurrent_version_days
  force_destroy           = var.force_destroy_buckets
}

module "code_bucket2" {
  source = "./modules/secure_bucket"

  name                    = local.names.code_bucket2
  kms_key_arn             = aws_kms_key.this.arn
  noncurrent_version_days = var.noncurrent_version_days
  force_destroy           = var.force_destroy_buckets
}

module "code_events" {
  source = "./modules/queue"

  name                       = local.names.code_events_queue
  kms_key_arn                = aws_kms_key.this.arn
  max_receive_count          = local.topology.code_events_queue.max_receive_count
  visibility_timeout_seconds = local.topology.code_events_queue.visibility_timeout_seconds
  allowed_sender_arns        = { "s3.amazonaws.com" = [module.code_bucket1.arn] }
}

resource "aws_s3_bucket_notification" "code_bucket1" {
  bucket = module.code_bucket1.name

  dynamic "queue" {
    for_each = local.topology.code_bucket1.notifications

    content {
      id            = queue.key
      queue_arn     = local.queue_arns[queue.key]
      events        = queue.value.events
      filter_prefix = queue.value.prefix
    }
  }

  depends_on = [module.code_events]
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
  for_each = local.enabled_functions

  name               = templatestring(local.naming.function, merge(local.name_vars, { function = replace(each.key, "_", "-") }))
  function_dir       = "${local.functions_dir}/${each.key}"
  package_path       = "${var.dist_dir}/functions/${each.key}.zip"
  architecture       = var.architecture
  layer_arns         = [module.layer.arn]
  resources          = local.resources
  environment        = lookup(local.function_environments, each.key, {})
  policy_json        = local.function_policies[each.key]
  kms_key_arn        = aws_kms_key.this.arn
  log_retention_days = var.log_retention_days

  permissions_boundary_arn = local.permissions_boundary_arn
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

module "queue_mapping" {
  source   = "./modules/queue_mapping"
  for_each = local.queue_triggers

  function_name = module.function[each.key].function_arn
  queue_arn     = local.queue_arns[each.value.source]
  trigger       = each.value
}

module "stream_mapping" {
  source   = "./modules/stream_mapping"
  for_each = local.stream_triggers

  function_name    = module.function[each.key].function_arn
  event_source_arn = local.event_source_arns[each.value.source]
  trigger          = each.value
  on_failure_arn   = local.failure_destination_arns[each.value.on_failure]
}

# --- operations -----------------------------------------------------------------------------

module "monitoring" {
  source = "./modules/monitoring"

  name         = local.name_vars.prefix
  kms_key_arn  = aws_kms_key.this.arn
  alarm_emails = var.alarm_emails

  functions = {
    for name in local.enabled_functions : name => {
      function_name = module.function[name].function_name
      timeout_s     = local.declarations[name].timeout_s
    }
  }
  stream_functions = toset(keys(local.stream_triggers))

  # A consumed queue falls behind when its oldest message waits longer than a few visibility timeouts.
  work_queues = {
    for name, trigger in local.queue_triggers : trigger.source => {
      queue_name    = local.names[trigger.source]
      max_age_s     = 3 * local.topology[trigger.source].visibility_timeout_seconds
      function_name = name
    }
  }
  dead_letter_queues = merge(
    {
      events_failures = module.events_failures.name
      table_failures  = module.table_failures.name
      changes_dlq     = module.changes_queue.dlq_name
      code_events_dlq = module.code_events.dlq_name
      # Starts EventBridge gave up on (a start refused while a build ran lands here too, and
      # that build mirrored the push: docs/runbooks/rerun-git-mirror.md).
      git_mirror_dlq = module.git_mirror.dead_letter_queue_name
    },
    # Scheduled runs EventBridge could not start (schedules.tf).
    { for rule, queue in module.schedule_dlq : "${rule}_dlq" => queue.name },
  )
  event_rules = merge(
    {
      git_mirror_push    = module.git_mirror.rule_names.push
      git_mirror_nightly = module.git_mirror.rule_names.nightly
    },
    { for rule, schedule in aws_cloudwatch_event_rule.schedule : rule => schedule.name },
  )
  quarantine = {
    stream_to_lake = {
      function_name = module.function["stream_processor"].function_name
      threshold     = var.quarantine_alarm_threshold
    }
  }
  integrity = merge(
    {
      stream_to_lake = {
        function_name = module.function["stream_processor"].function_name
        # An unreadable dedupe state restarts the shard's window; a count that does not balance is a bug.
        metrics = ["DedupeStateUnreadable", "AccountingMismatch"]
      }
    },
    # A parked change is one table2 does not have: it waits in the table failures queue or the changes DLQ.
    {
      for name in local.parking_functions : name => {
        function_name = module.function[name].function_name
        metrics       = ["ChangesParked"]
      } if contains(local.enabled_functions, name)
    },
    # An object the reconciliation could not copy or delete (an archived one, a permission): bucket2 differs.
    {
      code_sync = {
        function_name = module.function["code_sync"].function_name
        metrics       = ["ObjectsFailed"]
      }
    },
    # An hour that could not be compacted stays raw (queries stay right, only slower); a replaced
    # object written again after compaction may be counted twice or not at all.
    {
      lake_compactor = {
        function_name = module.function["lake_compactor"].function_name
        metrics       = ["HoursFailed", "CompactionConflicts"]
      }
    },
  )
  codebuild_projects = toset([module.git_mirror.project_name])
}
