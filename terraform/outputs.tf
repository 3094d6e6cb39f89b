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

output "acme_service_account_unique_id" {
  description = "Unique ID of the ACME service's service account: the sub (and azp) of its Google ID tokens, for Vault JWT roles and AWS trust policies."
  value       = google_service_account.acme.unique_id
}

output "validator_service_account_unique_id" {
  description = "Unique ID of the validator service's service account: the sub (and azp) of its Google ID tokens, for Vault JWT roles and AWS trust policies."
  value       = google_service_account.validator.unique_id
}

output "backends_json" {
  description = "The \"backends\" object generated from vault_backends, awspca_backends and adcs_backends (addresses, ARNs, file paths; no secrets): merged into profiles_json, or to copy into the profiles secret (profiles_secret_id)."
  value       = jsonencode(local.backends_json)
}

output "vault_auth_secret_ids" {
  description = "Secret Manager secrets holding each approle or token vault backend's secret ID or token, by backend name; add a version with gcloud when vault_auth_secrets leaves it out."
  value       = { for k, f in local.backend_auth_files : f.backend => google_secret_manager_secret.backend[k].id if startswith(k, "vault-") }
}

output "adcs_auth_secret_ids" {
  description = "Secret Manager secrets holding each adcs backend's keytab or password, by backend name; add a version with gcloud (gcloud secrets versions add SECRET --data-file=svc-acmera.keytab) when adcs_auth_secrets leaves it out."
  value       = { for k, f in local.backend_auth_files : f.backend => google_secret_manager_secret.backend[k].id if startswith(k, "adcs-") }
}

output "vault_policies" {
  description = "Vault policy (HCL) per vault backend, by name: what acmera calls on the PKI mount (sign/ROLE, revoke, list certs, read cert/*, read roles/ROLE). Write it as NAME_PREFIX-BACKEND, the policy vault_jwt_roles grants."
  value       = { for k, v in var.vault_backends : k => local.vault_policy_hcl[k] }
}

output "vault_jwt_roles" {
  description = "Per vault backend with auth method jwt, by name: the JWT auth method's path, its config and the role's settings as JSON (vault write auth/PATH/config @config.json; vault write auth/PATH/role/ROLE @role.json), bound to both services' service accounts."
  value       = local.vault_jwt_roles
}

output "awspca_trust_policies" {
  description = "Trust policy JSON per awspca backend, by name, for its role_arn: sts:AssumeRoleWithWebIdentity from accounts.google.com for both services' service accounts (aud and sub: their unique IDs; oaud: the backend's audience)."
  value       = local.awspca_trust_policies
}

output "awspca_permission_policies" {
  description = "IAM permission policy JSON per awspca backend, by name, for its role_arn: IssueCertificate (limited to the templates acmera uses), GetCertificate, RevokeCertificate, GetCertificateAuthorityCertificate and DescribeCertificateAuthority on ca_arn."
  value       = local.awspca_permission_policies
}
