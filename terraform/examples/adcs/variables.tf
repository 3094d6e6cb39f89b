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
  description = "VPC network with the route to the domain (VPN or Interconnect)."
  type        = string
  default     = "default"
}

variable "vpc_connector_cidr" {
  description = "Unused /28 range for the Serverless VPC Access connector."
  type        = string
  default     = "10.8.0.0/28"
}

variable "acme_vpc_egress_traffic" {
  description = "ALL_TRAFFIC when the CA's and the KDCs' names resolve only in AD DNS (a Cloud DNS forwarding zone); PRIVATE_RANGES_ONLY when they resolve publicly to private addresses or are given as addresses."
  type        = string
  default     = "ALL_TRAFFIC"
}

variable "nonce_key" {
  description = "Base64 of 32 random bytes (openssl rand -base64 32), or null to add the secret version with gcloud."
  type        = string
  default     = null
  sensitive   = true
}

variable "adcs_base_url" {
  description = "The CA's Web Enrollment, https://HOST/certsrv."
  type        = string
  default     = "https://ca01.corp.example/certsrv"
}

variable "adcs_template" {
  description = "Name (not display name) of the certificate template acmera enrolls in."
  type        = string
  default     = "AcmeraWebServer"
}

variable "adcs_realm" {
  description = "Kerberos realm: the AD domain in capitals."
  type        = string
  default     = "CORP.EXAMPLE"
}

variable "adcs_kdcs" {
  description = "Domain controllers as host:port (Kerberos, port 88)."
  type        = list(string)
  default     = ["dc01.corp.example:88", "dc02.corp.example:88"]
}

variable "adcs_username" {
  description = "acmera's service account in the domain (sAMAccountName, without the realm)."
  type        = string
  default     = "svc-acmera"
}

variable "adcs_keytab_base64" {
  description = "Base64 of the account's keytab (base64 -w0 svc-acmera.keytab), stored in Terraform state; null to add the secret version with gcloud."
  type        = string
  default     = null
  sensitive   = true
}

variable "adcs_ca_name" {
  description = "The CA's name (certutil -config HOST\\NAME) to revoke over DCOM, which needs the account to hold Issue and Manage Certificates; null: no revocation through acmera."
  type        = string
  default     = null
}

variable "adcs_ca_bundle_pem" {
  description = "PEM roots of IIS's TLS certificate (usually the AD CS root: file(\"corp-root.pem\")), or null when the system roots hold them."
  type        = string
  default     = null
}

variable "adcs_lifetime" {
  description = "Lifetime of the corp profile's certificates: the template's validity period (AD CS ignores the requested one; acmera rejects a certificate whose validity differs)."
  type        = string
  default     = "168h"
}

variable "cas_dns_suffixes" {
  description = "DNS suffixes of the default profile (CAS pool)."
  type        = list(string)
  default     = ["internal.example.com"]
}

variable "adcs_dns_suffixes" {
  description = "DNS suffixes of the corp profile (AD CS)."
  type        = list(string)
  default     = ["corp.example"]
}
