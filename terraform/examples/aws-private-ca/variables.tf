variable "project_id" {
  description = "Project to deploy into."
  type        = string
}

variable "region" {
  description = "Region of the services and the connector."
  type        = string
  default     = "us-central1"
}

variable "image" {
  description = "acmera container image."
  type        = string
  default     = "us-docker.pkg.dev/acmera-public/acmera/acmera:latest"
}

variable "ca_pool_id" {
  description = "Existing CAS pool for the default profile, projects/PROJECT/locations/LOCATION/caPools/POOL."
  type        = string
}

variable "network" {
  description = "VPC network of the hosts the validator checks."
  type        = string
  default     = "default"
}

variable "vpc_connector_cidr" {
  description = "Unused /28 range for the Serverless VPC Access connector."
  type        = string
  default     = "10.8.0.0/28"
}

variable "nonce_key" {
  description = "Base64 of 32 random bytes (openssl rand -base64 32), or null to add the secret version with gcloud."
  type        = string
  default     = null
  sensitive   = true
}

variable "aws_ca_arn" {
  description = "AWS Private CA, arn:aws:acm-pca:REGION:ACCOUNT:certificate-authority/ID."
  type        = string
  default     = "arn:aws:acm-pca:eu-west-1:111122223333:certificate-authority/11111111-2222-3333-4444-555555555555"
}

variable "aws_role_arn" {
  description = "IAM role acmera assumes (create it with the trust_policy and permission_policy outputs)."
  type        = string
  default     = "arn:aws:iam::111122223333:role/acmera"
}

variable "aws_audience" {
  description = "Audience of the Google ID tokens, the trust policy's accounts.google.com:oaud."
  type        = string
  default     = "sts.amazonaws.com"
}

variable "aws_template_arn" {
  description = "Certificate template, or null for the base end-entity template matching each profile's key usages."
  type        = string
  default     = null
}

variable "cas_dns_suffixes" {
  description = "DNS suffixes of the default profile (CAS pool)."
  type        = list(string)
  default     = ["internal.example.com"]
}

variable "aws_dns_suffixes" {
  description = "DNS suffixes of the aws profile (AWS Private CA)."
  type        = list(string)
  default     = ["aws.internal.example.com"]
}
