# The reconciler: a Cloud Scheduler job posts a reconcile task to the
# validator on a schedule, signed with the same OIDC identity as Cloud
# Tasks (the only caller the validator accepts). Each pass finishes or
# fails the validations and finalizes whose task was lost; a background
# loop would get no CPU on Cloud Run between requests.

resource "google_cloud_scheduler_job" "reconcile" {
  count = var.reconcile_schedule == "" ? 0 : 1

  project          = var.project_id
  region           = var.region
  name             = "${var.name_prefix}-reconcile"
  description      = "acmera: finish or fail work whose Cloud Tasks task was lost"
  schedule         = var.reconcile_schedule
  time_zone        = "Etc/UTC"
  attempt_deadline = "120s"

  retry_config {
    retry_count = 0 # the next run is a retry
  }

  http_target {
    http_method = "POST"
    uri         = local.validator_url
    body        = base64encode(jsonencode({ kind = "reconcile" }))
    headers = {
      "Content-Type" = "application/json"
    }
    oidc_token {
      service_account_email = google_service_account.tasks.email
      audience              = local.validator_url
    }
  }

  depends_on = [google_project_service.this]
}
