# The stream mapping takes every setting from the function's declared trigger, planned against a
# mocked provider with the real declarations of the two stream functions.

mock_provider "aws" {}

variables {
  function_name    = "tributary-test-stream-processor"
  event_source_arn = "arn:aws:kinesis:eu-west-1:123456789012:stream/tributary-test-events"
  on_failure_arn   = "arn:aws:sqs:eu-west-1:123456789012:tributary-test-events-failures"
  trigger          = jsondecode(file("../../../functions/stream_processor/function.json")).trigger
}

run "the_stream_processors_trigger_is_the_mapping" {
  command = plan

  assert {
    condition = (
      aws_lambda_event_source_mapping.this.starting_position == var.trigger.starting_position &&
      aws_lambda_event_source_mapping.this.batch_size == var.trigger.batch_size &&
      aws_lambda_event_source_mapping.this.maximum_batching_window_in_seconds == var.trigger.maximum_batching_window_s &&
      aws_lambda_event_source_mapping.this.parallelization_factor == var.trigger.parallelization_factor &&
      aws_lambda_event_source_mapping.this.bisect_batch_on_function_error == var.trigger.bisect_batch_on_function_error &&
      aws_lambda_event_source_mapping.this.maximum_retry_attempts == var.trigger.maximum_retry_attempts &&
      aws_lambda_event_source_mapping.this.maximum_record_age_in_seconds == var.trigger.maximum_record_age_s
    )
    error_message = "every setting of the mapping comes from the declaration's trigger"
  }
  assert {
    condition     = aws_lambda_event_source_mapping.this.function_response_types == toset(["ReportBatchItemFailures"])
    error_message = "the mapping reports batch item failures, as the handlers answer"
  }
  assert {
    condition     = aws_lambda_event_source_mapping.this.destination_config[0].on_failure[0].destination_arn == var.on_failure_arn
    error_message = "batches that exhaust their retries go to the on-failure destination"
  }
}

run "table_syncs_trigger_is_the_mapping_too" {
  command = plan

  variables {
    event_source_arn = "arn:aws:dynamodb:eu-west-1:123456789012:table/table1/stream/2026-01-01T00:00:00.000"
    trigger          = jsondecode(file("../../../functions/table_sync/function.json")).trigger
  }

  assert {
    condition     = aws_lambda_event_source_mapping.this.batch_size == var.trigger.batch_size && aws_lambda_event_source_mapping.this.maximum_retry_attempts == var.trigger.maximum_retry_attempts
    error_message = "the DynamoDB stream mapping follows table_sync's declaration"
  }
}

run "a_queue_trigger_is_refused" {
  command = plan

  variables {
    trigger = merge(jsondecode(file("../../../functions/stream_processor/function.json")).trigger, { type = "sqs" })
  }

  expect_failures = [var.trigger]
}
