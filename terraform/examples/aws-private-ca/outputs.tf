output "directory_url" {
  description = "Directory of the default profile (CAS pool)."
  value       = module.acmera.directory_url
}

output "aws_directory_url" {
  description = "Directory of the aws profile (AWS Private CA)."
  value       = "${trimsuffix(module.acmera.base_url, "/")}/acme/aws/directory"
}

output "trust_policy" {
  description = "Trust policy JSON of aws_role_arn."
  value       = module.acmera.awspca_trust_policies["aws"]
}

output "permission_policy" {
  description = "Permission policy JSON of aws_role_arn."
  value       = module.acmera.awspca_permission_policies["aws"]
}
