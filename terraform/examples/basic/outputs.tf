output "directory_url" {
  description = "certbot --server URL."
  value       = module.acmera.directory_url
}

output "acme_service_url" {
  description = "URL of the ACME service."
  value       = module.acmera.acme_service_url
}

output "validator_service_url" {
  description = "URL of the validator service."
  value       = module.acmera.validator_service_url
}

output "nonce_key_secret_id" {
  description = "Secret to add the nonce key version to."
  value       = module.acmera.nonce_key_secret_id
}
