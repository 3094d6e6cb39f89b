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
  description = "VPC network with the route to Vault (VPN or Interconnect)."
  type        = string
  default     = "default"
}

variable "vpc_connector_cidr" {
  description = "Unused /28 range for the Serverless VPC Access connector."
  type        = string
  default     = "10.8.0.0/28"
}

variable "acme_vpc_egress_traffic" {
  description = "ALL_TRAFFIC when Vault's name resolves only in private DNS; PRIVATE_RANGES_ONLY when it resolves publicly to a private address."
  type        = string
  default     = "PRIVATE_RANGES_ONLY"
}

variable "nonce_key" {
  description = "Base64 of 32 random bytes (openssl rand -base64 32), or null to add the secret version with gcloud."
  type        = string
  default     = null
  sensitive   = true
}

variable "vault_address" {
  description = "Vault's URL."
  type        = string
  default     = "https://vault.corp.example:8200"
}

variable "vault_namespace" {
  description = "Vault Enterprise namespace, or null."
  type        = string
  default     = null
}

variable "vault_pki_mount" {
  description = "Path of the PKI secrets engine."
  type        = string
  default     = "pki_int"
}

variable "vault_pki_role" {
  description = "PKI role acmera signs with."
  type        = string
  default     = "acmera"
}

variable "vault_ca_cert_pem" {
  description = "PEM roots of Vault's TLS certificate when a public CA did not issue it (e.g. file(\"vault-ca.pem\")), or null."
  type        = string
  default     = null
}

variable "vault_jwt_path" {
  description = "Mount path of Vault's JWT auth method configured for Google ID tokens."
  type        = string
  default     = "jwt"
}

variable "vault_jwt_role" {
  description = "Vault JWT role acmera logs in with."
  type        = string
  default     = "acmera"
}

variable "vault_jwt_audience" {
  description = "Audience of the ID tokens, the JWT role's bound_audiences."
  type        = string
  default     = "vault.corp.example"
}

variable "cas_dns_suffixes" {
  description = "DNS suffixes of the default profile (CAS pool)."
  type        = list(string)
  default     = ["internal.example.com"]
}

variable "vault_dns_suffixes" {
  description = "DNS suffixes of the corp profile (Vault)."
  type        = list(string)
  default     = ["corp.example"]
}
