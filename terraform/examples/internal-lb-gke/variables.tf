variable "project_id" {
  description = "Project to deploy into."
  type        = string
}

variable "region" {
  description = "Region of the services, the cluster and the load balancer."
  type        = string
  default     = "us-central1"
}

variable "image" {
  description = "acmera container image."
  type        = string
  default     = "us-docker.pkg.dev/acmera-public/acmera/acmera:latest"
}

variable "ca_pool_id" {
  description = "Existing ENTERPRISE CAS pool, projects/PROJECT/locations/LOCATION/caPools/POOL."
  type        = string
}

variable "network" {
  description = "VPC network of the GKE cluster."
  type        = string
  default     = "default"
}

variable "subnetwork" {
  description = "Subnetwork (in region) for Direct VPC egress and the load balancer address."
  type        = string
  default     = "default"
}

variable "resolvers" {
  description = "DNS servers in the VPC (host:port) for dns-01 lookups."
  type        = list(string)
  default     = []
}

variable "lb_hostname" {
  description = "Private DNS name of the load balancer, e.g. acme.internal.example.com."
  type        = string
  default     = "acme.internal.example.com"
}

variable "lb_ip_address" {
  description = "Internal address for the load balancer, or null."
  type        = string
  default     = null
}

variable "proxy_only_subnet_cidr" {
  description = "Range for a new proxy-only subnet, or null when the VPC has one in region."
  type        = string
  default     = null
}

variable "lb_ssl_certificate_id" {
  description = "Existing regional SSL certificate for lb_hostname, or null to upload lb_ssl_certificate."
  type        = string
  default     = null
}

variable "lb_ssl_certificate" {
  description = "PEM chain for lb_hostname (when lb_ssl_certificate_id is null)."
  type        = string
  default     = null
}

variable "lb_ssl_private_key" {
  description = "PEM key of lb_ssl_certificate."
  type        = string
  default     = null
  sensitive   = true
}

variable "allowed_dns_suffixes" {
  description = "DNS suffixes the default profile may issue for."
  type        = list(string)
  default     = ["internal.example.com"]
}
