variable "project_id" {
  description = "Project to deploy into."
  type        = string
}

variable "region" {
  description = "Region of the services and the CAS pool."
  type        = string
  default     = "us-central1"
}

variable "image" {
  description = "acmera container image."
  type        = string
  default     = "us-docker.pkg.dev/acmera-public/acmera/acmera:latest"
}

variable "ca_pool_name" {
  description = "Name of the new CAS pool."
  type        = string
  default     = "acmera-test-pool"
}

variable "ca_common_name" {
  description = "Common name of the new root CA."
  type        = string
  default     = "acmera test root"
}

variable "ca_deletion_protection" {
  description = "Protect the root CA from destroy; false for throwaway environments."
  type        = bool
  default     = false
}

variable "allowed_dns_suffixes" {
  description = "DNS suffixes the default profile may issue for."
  type        = list(string)
  default     = ["test.example.com"]
}
