resource "aws_lambda_event_source_mapping" "this" {
  function_name                      = var.function_name
  event_source_arn                   = var.event_source_arn
  starting_position                  = var.trigger.starting_position
  batch_size                         = var.trigger.batch_size
  maximum_batching_window_in_seconds = var.trigger.maximum_batching_window_s
  parallelization_factor             = var.trigger.parallelization_factor
  bisect_batch_on_function_error     = var.trigger.bisect_batch_on_function_error
  maximum_retry_attempts             = var.trigger.maximum_retry_attempts
  maximum_record_age_in_seconds      = var.trigger.maximum_record_age_s
  function_response_types            = ["ReportBatchItemFailures"]

  destination_config {
    on_failure {
      destination_arn = var.on_failure_arn
    }
  }
}
