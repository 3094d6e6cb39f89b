# Cloud Monitoring: both services write acmera's metrics (pkg/metrics) as
# custom metrics workload.googleapis.com/acmera.* on generic_task resources
# (job = the service, task_id = the instance); a dashboard shows them and
# alert policies watch issuance errors, validation failures, the CA, finalize
# latency and the Cloud Tasks backlog. All behind var.enable_monitoring.

locals {
  metric_prefix       = "workload.googleapis.com/acmera."
  monitoring_channels = var.monitoring_notification_channels
  thresholds          = var.monitoring_alert_thresholds

  # The dashboard tiles (xyChart, one query each).
  dashboard_tiles = [
    { title = "Issuances per second, by outcome", filter = "metric.type=\"${local.metric_prefix}issuances\" resource.type=\"generic_task\"",
    aligner = "ALIGN_RATE", reducer = "REDUCE_SUM", group = ["metric.label.outcome"] },
    { title = "Validation failures per second, by challenge type", filter = "metric.type=\"${local.metric_prefix}validations\" resource.type=\"generic_task\" metric.label.outcome=\"invalid\"",
    aligner = "ALIGN_RATE", reducer = "REDUCE_SUM", group = ["metric.label.challenge_type"] },
    { title = "CA call latency p95 (s), by backend and operation", filter = "metric.type=\"${local.metric_prefix}ca.call.duration\" resource.type=\"generic_task\"",
    aligner = "ALIGN_DELTA", reducer = "REDUCE_PERCENTILE_95", group = ["metric.label.backend", "metric.label.operation"] },
    { title = "CA calls per second, by backend and outcome", filter = "metric.type=\"${local.metric_prefix}ca.calls\" resource.type=\"generic_task\"",
    aligner = "ALIGN_RATE", reducer = "REDUCE_SUM", group = ["metric.label.backend", "metric.label.outcome"] },
    { title = "Rate-limit refusals per second, by limit", filter = "metric.type=\"${local.metric_prefix}ratelimit.refusals\" resource.type=\"generic_task\"",
    aligner = "ALIGN_RATE", reducer = "REDUCE_SUM", group = ["metric.label.limit"] },
    { title = "Stuck orders and challenges (last reconcile pass)", filter = "metric.type=\"${local.metric_prefix}reconcile.stuck\" resource.type=\"generic_task\"",
    aligner = "ALIGN_MAX", reducer = "REDUCE_MAX", group = ["metric.label.kind"] },
    { title = "Finalize latency p95 (s), by profile", filter = "metric.type=\"${local.metric_prefix}issuance.duration\" resource.type=\"generic_task\"",
    aligner = "ALIGN_DELTA", reducer = "REDUCE_PERCENTILE_95", group = ["metric.label.profile"] },
    { title = "Validation queue depth (tasks)", filter = "metric.type=\"cloudtasks.googleapis.com/queue/depth\" resource.type=\"cloud_tasks_queue\" resource.label.queue_id=\"${google_cloud_tasks_queue.validations.name}\"",
    aligner = "ALIGN_MAX", reducer = "REDUCE_MAX", group = [] },
  ]
}

resource "google_project_iam_member" "metric_writer" {
  for_each = var.enable_monitoring ? local.runtime_members : {}

  project    = var.project_id
  role       = "roles/monitoring.metricWriter"
  member     = each.value
  depends_on = [google_service_account.acme, google_service_account.validator]
}

resource "google_monitoring_dashboard" "acmera" {
  count   = var.enable_monitoring ? 1 : 0
  project = var.project_id

  dashboard_json = jsonencode({
    displayName = "acmera (${var.name_prefix})"
    mosaicLayout = {
      columns = 12
      tiles = [for i, t in local.dashboard_tiles : {
        xPos   = (i % 2) * 6
        yPos   = floor(i / 2) * 4
        width  = 6
        height = 4
        widget = {
          title = t.title
          xyChart = {
            dataSets = [{
              plotType = "LINE"
              timeSeriesQuery = {
                timeSeriesFilter = {
                  filter = t.filter
                  aggregation = {
                    alignmentPeriod    = "60s"
                    perSeriesAligner   = t.aligner
                    crossSeriesReducer = t.reducer
                    groupByFields      = t.group
                  }
                }
              }
            }]
          }
        }
      }]
    }
  })

  depends_on = [google_project_service.this]
}

# The share of finalizes that ended other than issued (rejected,
# misconfigured, misissued, timeout, error).
resource "google_monitoring_alert_policy" "issuance_errors" {
  count                 = var.enable_monitoring ? 1 : 0
  project               = var.project_id
  display_name          = "acmera ${var.name_prefix}: issuance error rate"
  combiner              = "OR"
  notification_channels = local.monitoring_channels
  user_labels           = local.labels

  conditions {
    display_name = "finalizes ending other than issued > ${local.thresholds.issuance_error_ratio * 100}% for 10 min"
    condition_threshold {
      filter          = "metric.type=\"${local.metric_prefix}issuances\" resource.type=\"generic_task\" metric.label.outcome!=\"issued\""
      comparison      = "COMPARISON_GT"
      threshold_value = local.thresholds.issuance_error_ratio
      duration        = "600s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_RATE"
        cross_series_reducer = "REDUCE_SUM"
      }
      denominator_filter = "metric.type=\"${local.metric_prefix}issuances\" resource.type=\"generic_task\""
      denominator_aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_RATE"
        cross_series_reducer = "REDUCE_SUM"
      }
    }
  }
  documentation {
    mime_type = "text/markdown"
    content   = "Finalizes are ending invalid. Group acmera.issuances by outcome: rejected (the CA refused), misconfigured (pool, template or permissions: see event ca.misconfigured in the logs), misissued, timeout. See the acmera README, Metrics."
  }
  depends_on = [google_project_service.this]
}

resource "google_monitoring_alert_policy" "validation_failures" {
  count                 = var.enable_monitoring ? 1 : 0
  project               = var.project_id
  display_name          = "acmera ${var.name_prefix}: validation failure spike"
  combiner              = "OR"
  notification_channels = local.monitoring_channels
  user_labels           = local.labels

  conditions {
    display_name = "failed validations > ${local.thresholds.validation_failures_per_s}/s for 10 min"
    condition_threshold {
      filter          = "metric.type=\"${local.metric_prefix}validations\" resource.type=\"generic_task\" metric.label.outcome=\"invalid\""
      comparison      = "COMPARISON_GT"
      threshold_value = local.thresholds.validation_failures_per_s
      duration        = "600s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_RATE"
        cross_series_reducer = "REDUCE_SUM"
      }
    }
  }
  documentation {
    mime_type = "text/markdown"
    content   = "Challenge validations are failing in numbers: a DNS or network change between the validator and the clients (VPC egress, resolvers, validation_networks), or a client in a loop. The maxFailedValidationsPerHour limit stops one identifier."
  }
  depends_on = [google_project_service.this]
}

resource "google_monitoring_alert_policy" "ca_unavailable" {
  count                 = var.enable_monitoring ? 1 : 0
  project               = var.project_id
  display_name          = "acmera ${var.name_prefix}: CA unavailable"
  combiner              = "OR"
  notification_channels = local.monitoring_channels
  user_labels           = local.labels

  conditions {
    display_name = "CA calls failing transiently > ${local.thresholds.ca_transient_ratio * 100}% for 10 min, per backend"
    condition_threshold {
      filter          = "metric.type=\"${local.metric_prefix}ca.calls\" resource.type=\"generic_task\" metric.label.outcome=\"transient\""
      comparison      = "COMPARISON_GT"
      threshold_value = local.thresholds.ca_transient_ratio
      duration        = "600s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_RATE"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["metric.label.backend"]
      }
      denominator_filter = "metric.type=\"${local.metric_prefix}ca.calls\" resource.type=\"generic_task\""
      denominator_aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_RATE"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["metric.label.backend"]
      }
    }
  }
  documentation {
    mime_type = "text/markdown"
    content   = "A CA backend cannot be reached or keeps answering errors: orders stay processing and the outbox finalize task retries them. Check the backend (CAS pool, Vault, AWS Private CA, AD CS) and the services' egress."
  }
  depends_on = [google_project_service.this]
}

resource "google_monitoring_alert_policy" "finalize_latency" {
  count                 = var.enable_monitoring ? 1 : 0
  project               = var.project_id
  display_name          = "acmera ${var.name_prefix}: p95 finalize latency"
  combiner              = "OR"
  notification_channels = local.monitoring_channels
  user_labels           = local.labels

  conditions {
    display_name = "p95 time from processing to the end of finalize > ${local.thresholds.finalize_p95_seconds} s for 15 min"
    condition_threshold {
      filter          = "metric.type=\"${local.metric_prefix}issuance.duration\" resource.type=\"generic_task\""
      comparison      = "COMPARISON_GT"
      threshold_value = local.thresholds.finalize_p95_seconds
      duration        = "900s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_PERCENTILE_95"
      }
    }
  }
  documentation {
    mime_type = "text/markdown"
    content   = "Certificates take long to issue: the CA is slow or failing (see the CA latency tile) and finalizes wait for the outbox task's retry."
  }
  depends_on = [google_project_service.this]
}

resource "google_monitoring_alert_policy" "queue_backlog" {
  count                 = var.enable_monitoring ? 1 : 0
  project               = var.project_id
  display_name          = "acmera ${var.name_prefix}: validation queue backlog"
  combiner              = "OR"
  notification_channels = local.monitoring_channels
  user_labels           = local.labels

  conditions {
    display_name = "Cloud Tasks queue depth > ${local.thresholds.queue_depth} tasks for 15 min"
    condition_threshold {
      filter          = "metric.type=\"cloudtasks.googleapis.com/queue/depth\" resource.type=\"cloud_tasks_queue\" resource.label.queue_id=\"${google_cloud_tasks_queue.validations.name}\""
      comparison      = "COMPARISON_GT"
      threshold_value = local.thresholds.queue_depth
      duration        = "900s"
      aggregations {
        alignment_period   = "300s"
        per_series_aligner = "ALIGN_MAX"
      }
    }
  }
  documentation {
    mime_type = "text/markdown"
    content   = "Validation and finalize tasks are piling up: the validator is failing or throttled (queue_rate_limits, validator_scaling)."
  }
  depends_on = [google_project_service.this]
}
