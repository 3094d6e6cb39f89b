# Secret Manager: the nonce sealing key (one per deployment, shared by every
# ACME instance so a nonce issued by one is accepted by another, RFC 8555 §6.5)
# and, optionally, the profiles JSON.

resource "google_secret_manager_secret" "nonce_key" {
  project   = var.project_id
  secret_id = "${var.name_prefix}-nonce-key"
  labels    = local.labels

  replication {
    auto {}
  }

  depends_on = [google_project_service.this]
}

# Without var.nonce_key the operator adds the version out of band, before the
# services start:
#   openssl rand -base64 32 | gcloud secrets versions add PREFIX-nonce-key --data-file=-
resource "google_secret_manager_secret_version" "nonce_key" {
  count = var.nonce_key != null ? 1 : 0

  secret      = google_secret_manager_secret.nonce_key.id
  secret_data = var.nonce_key
}

locals {
  # profiles_secret_id is either a bare secret ID (in var.project_id) or
  # projects/PROJECT/secrets/NAME.
  profiles_secret_parts   = var.profiles_secret_id == null ? [] : split("/", var.profiles_secret_id)
  profiles_secret_project = length(local.profiles_secret_parts) == 4 ? local.profiles_secret_parts[1] : var.project_id
  profiles_secret_name    = length(local.profiles_secret_parts) == 4 ? local.profiles_secret_parts[3] : var.profiles_secret_id
}
