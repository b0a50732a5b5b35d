# --- the functions' own schedules -----------------------------------------------------------
# A function declares its schedules beside its trigger, in function.json
# ("schedules": {"<rule>": "<cron() or rate()>"}); the rule's name and description are the
# logical resource of the same key in topology.json. Each becomes an EventBridge rule that
# invokes the function, with retries and a dead-letter queue for the starts it gave up on.

locals {
  schedules = merge([
    for function in local.enabled_functions : {
      for rule, expression in try(local.declarations[function].schedules, {}) : rule => {
        function   = function
        expression = expression
      }
    }
  ]...)
}

resource "aws_cloudwatch_event_rule" "schedule" {
  for_each = local.schedules

  name                = local.names[each.key]
  description         = local.topology[each.key].description
  schedule_expression = each.value.expression

  lifecycle {
    precondition {
      condition     = local.topology[each.key].schedule_function == each.value.function
      error_message = "topology.json's ${each.key} names the function whose function.json declares the schedule."
    }
  }
}

resource "aws_cloudwatch_event_target" "schedule" {
  for_each = local.schedules

  rule = aws_cloudwatch_event_rule.schedule[each.key].name
  arn  = module.function[each.value.function].function_arn

  # Throttles and server errors are retried for an hour; anything left goes to the queue. The
  # scheduled functions pick up what a lost run left at their next run.
  retry_policy {
    maximum_event_age_in_seconds = 3600
    maximum_retry_attempts       = 185
  }

  dead_letter_config {
    arn = module.schedule_dlq[each.key].arn
  }
}

# Scheduled runs EventBridge could not start.
module "schedule_dlq" {
  source   = "./modules/queue"
  for_each = local.schedules

  name                = "${local.names[each.key]}-dlq"
  kms_key_arn         = aws_kms_key.this.arn
  max_receive_count   = 0
  allowed_sender_arns = { "events.amazonaws.com" = [aws_cloudwatch_event_rule.schedule[each.key].arn] }
}

resource "aws_lambda_permission" "schedule" {
  for_each = local.schedules

  statement_id  = "AllowSchedule-${each.key}"
  action        = "lambda:InvokeFunction"
  function_name = module.function[each.value.function].function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.schedule[each.key].arn

  # A changed statement id replaces the permission: the new one first, so no run is refused.
  lifecycle {
    create_before_destroy = true
  }
}

# Where the two schedules lived before they were declared in function.json.
moved {
  from = aws_cloudwatch_event_rule.code_sync_reconcile
  to   = aws_cloudwatch_event_rule.schedule["code_sync_reconcile"]
}
moved {
  from = aws_cloudwatch_event_target.code_sync_reconcile
  to   = aws_cloudwatch_event_target.schedule["code_sync_reconcile"]
}
moved {
  from = module.code_sync_reconcile_dlq
  to   = module.schedule_dlq["code_sync_reconcile"]
}
moved {
  from = aws_lambda_permission.code_sync_reconcile
  to   = aws_lambda_permission.schedule["code_sync_reconcile"]
}
moved {
  from = aws_cloudwatch_event_rule.lake_compaction
  to   = aws_cloudwatch_event_rule.schedule["lake_compaction"]
}
moved {
  from = aws_cloudwatch_event_target.lake_compaction
  to   = aws_cloudwatch_event_target.schedule["lake_compaction"]
}
moved {
  from = module.lake_compaction_dlq
  to   = module.schedule_dlq["lake_compaction"]
}
moved {
  from = aws_lambda_permission.lake_compaction
  to   = aws_lambda_permission.schedule["lake_compaction"]
}
