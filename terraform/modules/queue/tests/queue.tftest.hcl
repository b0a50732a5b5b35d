# The queue module's behaviour, planned against a mocked provider (no AWS).

mock_provider "aws" {
  mock_data "aws_iam_policy_document" {
    defaults = {
      json = "{}"
    }
  }
}

variables {
  name        = "orders"
  kms_key_arn = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000"
}

run "a_queue_gets_an_encrypted_dead_letter_queue_and_a_redrive_policy" {
  command = plan

  assert {
    condition     = aws_sqs_queue.this.kms_master_key_id == var.kms_key_arn && aws_sqs_queue.dlq[0].kms_master_key_id == var.kms_key_arn
    error_message = "both queues are encrypted with the given key"
  }
  assert {
    condition     = aws_sqs_queue.dlq[0].name == "orders-dlq" && aws_sqs_queue.this.name == "orders"
    error_message = "the dead-letter queue is named after the queue"
  }
  assert {
    condition     = aws_sqs_queue.dlq[0].message_retention_seconds == 1209600
    error_message = "dead letters are kept the longest SQS allows, 14 days"
  }
  assert {
    condition     = length(aws_sqs_queue_redrive_allow_policy.dlq) == 1
    error_message = "only this queue may redrive into its dead-letter queue"
  }
}

run "a_final_destination_has_no_dead_letter_queue" {
  command = plan

  variables {
    max_receive_count = 0
  }

  assert {
    condition     = length(aws_sqs_queue.dlq) == 0 && length(aws_sqs_queue_redrive_allow_policy.dlq) == 0
    error_message = "max_receive_count = 0 means no dead-letter queue (and so no redrive into one)"
  }
}

run "fifo_queues_carry_the_suffix_on_both" {
  command = plan

  variables {
    fifo = true
  }

  assert {
    condition     = aws_sqs_queue.this.name == "orders.fifo" && aws_sqs_queue.dlq[0].name == "orders-dlq.fifo"
    error_message = "FIFO queue names end in .fifo, as SQS requires"
  }
}

run "a_name_sqs_refuses_is_refused_at_plan" {
  command = plan

  variables {
    name = "has spaces"
  }

  expect_failures = [var.name]
}

run "a_key_that_is_not_a_kms_arn_is_refused" {
  command = plan

  variables {
    kms_key_arn = "alias/aws/sqs"
  }

  expect_failures = [var.kms_key_arn]
}

# Last: an apply leaves state behind, which the plans above must not see.
run "the_redrive_policy_names_the_dead_letter_queue_and_the_receive_count" {
  command = apply # mocked: computed ARNs get values, so the policy can be read back

  variables {
    max_receive_count = 7
  }

  assert {
    condition     = jsondecode(aws_sqs_queue.this.redrive_policy).maxReceiveCount == 7
    error_message = "maxReceiveCount follows max_receive_count"
  }
  assert {
    condition     = jsondecode(aws_sqs_queue.this.redrive_policy).deadLetterTargetArn == aws_sqs_queue.dlq[0].arn
    error_message = "the redrive policy targets the module's own dead-letter queue"
  }
}
