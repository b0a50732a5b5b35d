# The root stack deploys what the declarations declare, watches every part of it and lets each
# function reach where it parks the changes it refuses: planned against a mocked provider (no
# AWS) with the real declarations (functions/*/function.json) and the zips `make build` made.

mock_provider "aws" {
  override_during = plan # the defaults below are known in the plan, so the assertions can read them

  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_region" {
    defaults = { id = "eu-west-1" }
  }
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
}

# Known, distinct ARNs (and a URL) for the queues the parking functions write to.
override_resource {
  target          = module.table_failures.aws_sqs_queue.this
  override_during = plan
  values = {
    arn = "arn:aws:sqs:eu-west-1:123456789012:tributary-test-table-failures"
    id  = "https://sqs.eu-west-1.amazonaws.com/123456789012/tributary-test-table-failures"
  }
}

override_resource {
  target          = module.changes_queue.aws_sqs_queue.this
  override_during = plan
  values          = { arn = "arn:aws:sqs:eu-west-1:123456789012:tributary-test-changes" }
}

override_resource {
  target          = module.changes_queue.aws_sqs_queue.dlq
  override_during = plan
  values          = { arn = "arn:aws:sqs:eu-west-1:123456789012:tributary-test-changes-dlq" }
}

variables {
  environment = "test"
}

# Both table-sync paths (the default): every function is deployed, so every part is checked.
run "every_declared_function_is_deployed_watched_and_may_send_what_it_parks" {
  command = plan

  # --- every declared function is deployed with its own policy and what its declaration names
  assert {
    condition     = toset(keys(module.function)) == toset([for path in fileset("../functions", "*/function.json") : dirname(path)])
    error_message = "with both table-sync paths, every directory with a function.json is one function, and nothing else is"
  }
  assert {
    condition     = toset(keys(local.function_policies)) == toset(keys(module.function))
    error_message = "every function has exactly one least-privilege policy (iam.tf function_policies)"
  }
  assert {
    condition = alltrue(flatten([
      for name, declaration in local.declarations : [
        for logical in values(try(declaration.resource_environment, {})) : contains(keys(local.resources), logical)
      ]
    ]))
    error_message = "every logical resource a declaration's resource_environment names exists in the stack"
  }
  assert {
    condition = alltrue([
      for name, trigger in local.stream_triggers :
      contains(keys(local.event_source_arns), trigger.source) && contains(keys(local.failure_destination_arns), trigger.on_failure)
    ])
    error_message = "every stream trigger's source and on_failure destination exist in the stack"
  }
  assert {
    condition     = toset(keys(module.stream_mapping)) == toset([for name, d in local.declarations : name if contains(["kinesis", "dynamodb"], d.trigger.type)])
    error_message = "every function with a kinesis or dynamodb trigger gets a stream mapping"
  }
  assert {
    condition     = toset(keys(module.queue_mapping)) == toset([for name, d in local.declarations : name if d.trigger.type == "sqs"])
    error_message = "every function with an sqs trigger gets a queue mapping"
  }

  # --- every function, mapping, queue and path raises an alarm (what each alarm watches: modules/monitoring/tests)
  assert {
    condition = alltrue([
      for kind in ["errors", "throttles", "duration"] :
      toset(module.monitoring.alarm_names[kind]) == toset([for name, fn in module.function : "${fn.function_name}-${kind}"])
    ])
    error_message = "every deployed function has an errors, a throttles and a duration alarm, and no other function does"
  }
  assert {
    condition     = toset(module.monitoring.alarm_names.iterator_age) == toset([for name, mapping in module.stream_mapping : "${module.function[name].function_name}-iterator-age"])
    error_message = "every stream mapping's function has an iterator-age alarm"
  }
  assert {
    condition = toset(module.monitoring.alarm_names.oldest_message) == toset([
      for name, mapping in module.queue_mapping :
      "${ { changes_queue = module.changes_queue.name, code_events_queue = module.code_events.name }[local.declarations[name].trigger.source]}-oldest-message"
    ])
    error_message = "every queue a mapping consumes has an oldest-message alarm"
  }
  assert {
    condition = toset(module.monitoring.alarm_names.dead_letters) == toset([
      for queue in [
        module.events_failures.name, module.table_failures.name, module.changes_queue.dlq_name, module.code_events.dlq_name,
        module.git_mirror.dead_letter_queue_name, module.schedule_dlq["code_sync_reconcile"].name, module.schedule_dlq["lake_compaction"].name,
      ] : "${queue}-not-empty"
    ])
    error_message = "every dead-letter queue and on-failure destination has a not-empty alarm"
  }
  assert {
    condition     = module.monitoring.alarm_names.quarantine == ["tributary-test-stream_to_lake-quarantine"]
    error_message = "the stream path alarms on quarantined records"
  }
  assert {
    condition = alltrue([
      for metric in ["dedupestateunreadable", "accountingmismatch"] : contains(module.monitoring.alarm_names.integrity, "tributary-test-stream_to_lake-${metric}")
    ]) && contains(module.monitoring.alarm_names.integrity, "tributary-test-code_sync-objectsfailed")
    error_message = "the stream path alarms on its integrity metrics, the code sync on objects it failed to copy or delete"
  }
  assert {
    condition     = module.monitoring.alarm_names.failed_builds == ["${module.git_mirror.project_name}-failed"]
    error_message = "the git mirror's build alarms when it fails"
  }
  assert {
    condition = toset(module.monitoring.alarm_names.lost_events) == toset([
      for rule in [module.git_mirror.rule_names.push, module.git_mirror.rule_names.nightly, aws_cloudwatch_event_rule.schedule["code_sync_reconcile"].name, aws_cloudwatch_event_rule.schedule["lake_compaction"].name] :
      "${rule}-dead-letter-failed"
    ])
    error_message = "every rule with a dead-letter queue alarms when an event is lost"
  }
  assert {
    condition     = output.dashboard_name == "tributary-test"
    error_message = "the stack has one dashboard, named after the environment's prefix"
  }

  # --- every function that parks changes alarms on them and may send them where it parks them
  assert {
    condition = alltrue([
      for name in ["table_sync", "change_publisher", "change_applier"] : contains(module.monitoring.alarm_names.integrity, "tributary-test-${name}-changesparked")
    ])
    error_message = "every function that parks changes alarms on ChangesParked"
  }
  assert {
    condition = alltrue([
      for name in ["table_sync", "change_publisher"] :
      local.resources[local.declarations[name].resource_environment.PARKED_QUEUE_URL] == module.table_failures.url
    ])
    error_message = "table_sync and change_publisher park refused changes in the table failures queue (PARKED_QUEUE_URL)"
  }
  assert {
    condition = anytrue([
      for s in data.aws_iam_policy_document.table1_stream_reader.statement :
      coalesce(s.effect, "Allow") == "Allow" && s.actions == toset(["sqs:SendMessage"]) && s.resources == toset([module.table_failures.arn])
    ])
    error_message = "a reader of table1's stream may send to the table failures queue"
  }
  assert {
    condition = anytrue([
      for s in data.aws_iam_policy_document.change_applier.statement :
      coalesce(s.effect, "Allow") == "Allow" && s.actions == toset(["sqs:SendMessage"]) && s.resources == toset([module.changes_queue.dlq_arn])
    ])
    error_message = "change_applier may send a refused change to the changes DLQ"
  }
  assert {
    condition = anytrue([
      for s in data.aws_iam_policy_document.change_applier.statement :
      coalesce(s.effect, "Allow") == "Allow" && s.actions == toset(["sqs:GetQueueUrl"]) && s.resources == toset([module.changes_queue.arn, module.changes_queue.dlq_arn])
    ])
    error_message = "change_applier may look up the URL of the changes queue and of its DLQ"
  }
  assert {
    condition = anytrue([
      for s in data.aws_iam_policy_document.change_applier.statement :
      coalesce(s.effect, "Allow") == "Allow" && contains(s.actions, "sqs:GetQueueAttributes") && s.resources == toset([module.changes_queue.arn])
    ])
    error_message = "change_applier may read the changes queue's attributes (its redrive policy names the DLQ)"
  }
}

run "a_path_that_is_off_has_no_function_to_watch" {
  command = plan

  variables {
    table_sync_paths = "direct"
  }

  assert {
    condition     = !contains(keys(module.function), "change_applier") && !contains(keys(module.function), "change_publisher") && contains(keys(module.function), "table_sync")
    error_message = "the direct path alone deploys table_sync and not the fan-out path's functions"
  }
  assert {
    condition     = toset(module.monitoring.alarm_names.errors) == toset([for name, fn in module.function : "${fn.function_name}-errors"])
    error_message = "only deployed functions have alarms"
  }
  assert {
    condition = (
      contains(module.monitoring.alarm_names.integrity, "tributary-test-table_sync-changesparked") &&
      !contains(module.monitoring.alarm_names.integrity, "tributary-test-change_publisher-changesparked") &&
      !contains(module.monitoring.alarm_names.integrity, "tributary-test-change_applier-changesparked")
    )
    error_message = "ChangesParked is watched only on the parking functions of the selected path"
  }
  assert {
    condition     = module.monitoring.alarm_names.oldest_message == ["${module.code_events.name}-oldest-message"]
    error_message = "without the fan-out path only the code events queue is consumed"
  }
}

run "a_third_reader_of_table1s_stream_is_refused" {
  command = plan

  variables {
    table1_extra_stream_readers = 1
  }

  expect_failures = [terraform_data.table1_stream_readers]
}

run "one_path_leaves_room_for_one_other_reader_and_no_more" {
  command = plan

  variables {
    table_sync_paths            = "fanout"
    table1_extra_stream_readers = 1
  }

  assert {
    condition     = terraform_data.table1_stream_readers.input == ["change_publisher"]
    error_message = "the fan-out path alone reads table1's stream with change_publisher, the readers the stack declares"
  }
}

run "the_lake_codec_reaches_the_processor_and_the_catalog" {
  command = plan

  assert {
    condition     = local.function_environments.stream_processor == { LAKE_CODEC = "gzip" }
    error_message = "by default the processor writes gzip at the codec's own level"
  }
}

run "a_zstd_lake_sets_the_processors_codec_and_level" {
  command = plan

  variables {
    lake_codec = { codec = "zstd", level = 5 }
  }

  assert {
    condition     = local.function_environments.stream_processor == { LAKE_CODEC = "zstd", COMPRESSION_LEVEL = "5" }
    error_message = "lake_codec sets LAKE_CODEC and COMPRESSION_LEVEL for the stream processor"
  }
}

run "a_level_the_codec_does_not_have_is_refused" {
  command = plan

  variables {
    lake_codec = { codec = "gzip", level = 12 }
  }

  expect_failures = [var.lake_codec]
}

run "a_deployment_picks_the_events_streams_batching_window" {
  command = plan

  variables {
    stream_batching_window_s = 1
  }

  assert {
    condition     = local.stream_triggers.stream_processor.maximum_batching_window_s == 1
    error_message = "stream_batching_window_s replaces the declared window of the stream processor's mapping"
  }
  assert {
    condition     = local.stream_triggers.stream_processor.batch_size == jsondecode(file("${path.module}/../functions/stream_processor/function.json")).trigger.batch_size
    error_message = "the rest of the declared trigger stays"
  }
}
