output "directory_url" {
  description = "ClusterIssuer spec.acme.server."
  value       = module.acmera.directory_url
}

output "lb_ip_address" {
  description = "Address to put behind lb_hostname in private DNS."
  value       = module.acmera.lb_ip_address
}

output "acme_service_account_email" {
  description = "ACME service identity."
  value       = module.acmera.acme_service_account_email
}
