output "directory_url" {
  description = "ACME directory URL."
  value       = module.acmera.directory_url
}

output "ca_pool_id" {
  description = "The created CAS pool."
  value       = module.acmera.ca_pool_id
}

output "root_ca_certificate" {
  description = "PEM of the new root CA, to trust on clients."
  value       = module.acmera.root_ca_certificate
}
