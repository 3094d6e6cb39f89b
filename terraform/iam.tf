# Three service accounts with least privilege:
#   acme      - the ACME service (RFC 8555 front end and RA)
#   validator - the validator service (challenge checks, finalize retries)
#   tasks     - the identity Cloud Tasks signs OIDC tokens as; may only invoke the validator

resource "google_service_account" "acme" {
  project      = var.project_id
  account_id   = "${var.name_prefix}-acme"
  display_name = "acmera ACME service"
  description  = "Runs the acmera ACME Cloud Run service."
  depends_on   = [google_project_service.this]
}

resource "google_service_account" "validator" {
  project      = var.project_id
  account_id   = "${var.name_prefix}-validator"
  display_name = "acmera validator"
  description  = "Runs the acmera validator Cloud Run service."
  depends_on   = [google_project_service.this]
}

resource "google_service_account" "tasks" {
  project      = var.project_id
  account_id   = "${var.name_prefix}-tasks"
  display_name = "acmera Cloud Tasks invoker"
  description  = "Identity of Cloud Tasks OIDC tokens sent to the acmera validator."
  depends_on   = [google_project_service.this]
}

locals {
  # Service-account emails are deterministic; spelling them out (rather than
  # reading the computed attribute) makes the bindings and the services'
  # configuration reviewable in a plan. The bindings depend on the accounts
  # explicitly.
  acme_email       = "${var.name_prefix}-acme@${var.project_id}.iam.gserviceaccount.com"
  validator_email  = "${var.name_prefix}-validator@${var.project_id}.iam.gserviceaccount.com"
  tasks_email      = "${var.name_prefix}-tasks@${var.project_id}.iam.gserviceaccount.com"
  acme_member      = "serviceAccount:${local.acme_email}"
  validator_member = "serviceAccount:${local.validator_email}"
  tasks_member     = "serviceAccount:${local.tasks_email}"

  # The identities of both Cloud Run services.
  runtime_members = {
    acme      = local.acme_member
    validator = local.validator_member
  }

  # Issuing needs certificateRequester; revocation (RFC 8555 §7.6) needs
  # certificateManager, which includes it. The validator retries finalize, so
  # it issues too.
  cas_role = var.enable_revocation ? "roles/privateca.certificateManager" : "roles/privateca.certificateRequester"
}

resource "google_project_iam_member" "firestore_user" {
  for_each = local.runtime_members

  project = var.project_id
  role    = "roles/datastore.user"
  member  = each.value

  condition {
    title       = "acmera-database-only"
    description = "Only the acmera Firestore database."
    expression  = "resource.name == \"projects/${var.project_id}/databases/${local.firestore_database}\""
  }

  depends_on = [google_service_account.acme, google_service_account.validator]
}

resource "google_cloud_tasks_queue_iam_member" "acme_enqueuer" {
  project  = var.project_id
  location = google_cloud_tasks_queue.validations.location
  name     = google_cloud_tasks_queue.validations.name
  role     = "roles/cloudtasks.enqueuer"
  member   = local.acme_member

  depends_on = [google_service_account.acme]
}

# Creating a task with an OIDC token of the tasks account needs actAs on it.
resource "google_service_account_iam_member" "acme_acts_as_tasks" {
  service_account_id = google_service_account.tasks.name
  role               = "roles/iam.serviceAccountUser"
  member             = local.acme_member

  depends_on = [google_service_account.acme]
}

resource "google_privateca_ca_pool_iam_member" "issuer" {
  for_each = local.runtime_members

  ca_pool = local.ca_pool_id
  role    = local.cas_role
  member  = each.value

  depends_on = [google_service_account.acme, google_service_account.validator]
}

resource "google_cloud_run_v2_service_iam_member" "tasks_invokes_validator" {
  project  = var.project_id
  location = google_cloud_run_v2_service.validator.location
  name     = google_cloud_run_v2_service.validator.name
  role     = "roles/run.invoker"
  member   = local.tasks_member

  depends_on = [google_service_account.tasks]
}

# Only the ACME function reads the nonce key: the validator serves no nonces.
resource "google_secret_manager_secret_iam_member" "nonce_key" {
  for_each = { acme = local.acme_member }

  project   = var.project_id
  secret_id = google_secret_manager_secret.nonce_key.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = each.value

  depends_on = [google_service_account.acme, google_service_account.validator]
}

resource "google_secret_manager_secret_iam_member" "profiles" {
  for_each = var.profiles_secret_id != null ? local.runtime_members : {}

  project   = local.profiles_secret_project
  secret_id = local.profiles_secret_name
  role      = "roles/secretmanager.secretAccessor"
  member    = each.value

  depends_on = [google_service_account.acme, google_service_account.validator]
}
