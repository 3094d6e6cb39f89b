output "directory_url" {
  description = "ACME directory URL of the default profile (RFC 8555 §7.1.1), for certbot --server and cert-manager."
  value       = local.directory_url
}

output "base_url" {
  description = "External base URL of acmera (ACMERA_BASE_URL)."
  value       = local.base_url
}

output "acme_service_url" {
  description = "URL of the ACME Cloud Run service."
  value       = google_cloud_run_v2_service.acme.uri
}

output "validator_service_url" {
  description = "URL of the validator Cloud Run service (the Cloud Tasks target and OIDC audience)."
  value       = google_cloud_run_v2_service.validator.uri
}

output "acme_service_account_email" {
  description = "Email of the ACME service's service account."
  value       = google_service_account.acme.email
}

output "validator_service_account_email" {
  description = "Email of the validator service's service account."
  value       = google_service_account.validator.email
}

output "tasks_service_account_email" {
  description = "Email of the service account Cloud Tasks signs validator calls as."
  value       = google_service_account.tasks.email
}

output "tasks_queue_id" {
  description = "Cloud Tasks queue as projects/PROJECT/locations/REGION/queues/NAME."
  value       = local.queue_id
}

output "firestore_database" {
  description = "Firestore database ID acmera uses."
  value       = local.firestore_database
}

output "ca_pool_id" {
  description = "CAS pool acmera issues from."
  value       = local.ca_pool_id
}

output "root_ca_certificate" {
  description = "PEM of the created root CA (create_ca_pool), for client trust stores and the cert-manager caBundle; null otherwise."
  value       = var.create_ca_pool ? try(google_privateca_certificate_authority.root[0].pem_ca_certificates[0], null) : null
}

output "nonce_key_secret_id" {
  description = "Secret Manager secret that holds the nonce sealing key (add a version with gcloud when nonce_key is null)."
  value       = google_secret_manager_secret.nonce_key.id
}

output "lb_ip_address" {
  description = "Internal IP address of the load balancer (create_internal_lb); point lb_hostname at it. Null otherwise."
  value       = var.create_internal_lb ? google_compute_address.lb[0].address : null
}
