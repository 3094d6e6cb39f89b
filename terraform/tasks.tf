# Cloud Tasks: the queue that carries challenge validations and finalize
# retries from the ACME service to the validator. Task names derive from
# challenge IDs and attempts, so redelivery is harmless.

resource "google_cloud_tasks_queue" "validations" {
  project  = var.project_id
  name     = "${var.name_prefix}-${var.queue_name}"
  location = var.region

  rate_limits {
    max_dispatches_per_second = var.queue_rate_limits.max_dispatches_per_second
    max_concurrent_dispatches = var.queue_rate_limits.max_concurrent_dispatches
  }

  retry_config {
    max_attempts       = var.queue_retry_config.max_attempts
    max_retry_duration = var.queue_retry_config.max_retry_duration
    min_backoff        = var.queue_retry_config.min_backoff
    max_backoff        = var.queue_retry_config.max_backoff
    max_doublings      = var.queue_retry_config.max_doublings
  }

  stackdriver_logging_config {
    sampling_ratio = 1.0
  }

  depends_on = [google_project_service.this]
}

locals {
  # The queue's resource name, spelled out so it is known at plan time.
  queue_id = "projects/${var.project_id}/locations/${var.region}/queues/${google_cloud_tasks_queue.validations.name}"
}
