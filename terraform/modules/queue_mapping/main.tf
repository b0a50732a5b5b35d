resource "aws_lambda_event_source_mapping" "this" {
  function_name                      = var.function_name
  event_source_arn                   = var.queue_arn
  batch_size                         = var.trigger.batch_size
  maximum_batching_window_in_seconds = var.trigger.maximum_batching_window_s
  function_response_types            = ["ReportBatchItemFailures"]

  dynamic "scaling_config" {
    for_each = var.maximum_concurrency == null ? [] : [var.maximum_concurrency]

    content {
      maximum_concurrency = scaling_config.value
    }
  }
}
