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
  description = "Existing CAS pool, projects/PROJECT/locations/LOCATION/caPools/POOL."
  type        = string
}

variable "network" {
  description = "VPC network of the certbot hosts."
  type        = string
  default     = "default"
}

variable "vpc_connector_cidr" {
  description = "Unused /28 range for the Serverless VPC Access connector."
  type        = string
  default     = "10.8.0.0/28"
}

variable "resolvers" {
  description = "DNS servers reachable through the connector (e.g. a Cloud DNS inbound server policy address), host:port."
  type        = list(string)
  default     = []
}

variable "nonce_key" {
  description = "Base64 of 32 random bytes (openssl rand -base64 32), or null to add the secret version with gcloud."
  type        = string
  default     = null
  sensitive   = true
}

variable "allowed_dns_suffixes" {
  description = "DNS suffixes the default profile may issue for."
  type        = list(string)
  default     = ["internal.example.com"]
}
