output "directory_url" {
  description = "Directory of the default profile (CAS pool)."
  value       = module.acmera.directory_url
}

output "corp_directory_url" {
  description = "Directory of the corp profile (AD CS)."
  value       = "${trimsuffix(module.acmera.base_url, "/")}/acme/corp/directory"
}

output "keytab_secret_id" {
  description = "Secret Manager secret of the corp backend's keytab (gcloud secrets versions add SECRET --data-file=svc-acmera.keytab)."
  value       = module.acmera.adcs_auth_secret_ids["corp"]
}
