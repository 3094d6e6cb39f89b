output "directory_url" {
  description = "Directory of the default profile (CAS pool)."
  value       = module.acmera.directory_url
}

output "corp_directory_url" {
  description = "Directory of the corp profile (Vault)."
  value       = "${trimsuffix(module.acmera.base_url, "/")}/acme/corp/directory"
}

output "vault_policy" {
  description = "Vault policy to write as acmera-onprem (vault policy write acmera-onprem -)."
  value       = module.acmera.vault_policies["onprem"]
}

output "vault_jwt_role" {
  description = "Vault JWT auth path, config JSON and role JSON for the onprem backend."
  value       = module.acmera.vault_jwt_roles["onprem"]
}

output "service_account_unique_ids" {
  description = "The sub claims Vault's JWT role binds."
  value       = [module.acmera.acme_service_account_unique_id, module.acmera.validator_service_account_unique_id]
}
