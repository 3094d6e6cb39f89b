# new-ca-pool: acmera with its own CAS pool and self-signed root CA, e.g. for a
# test environment. No VPC egress: challenges are checked over the internet.

provider "google" {
  project = var.project_id
  region  = var.region
}

module "acmera" {
  source = "../.."

  project_id = var.project_id
  region     = var.region
  image      = var.image

  create_ca_pool         = true
  ca_pool_name           = var.ca_pool_name
  ca_pool_tier           = "ENTERPRISE"
  ca_common_name         = var.ca_common_name
  ca_deletion_protection = var.ca_deletion_protection
  enable_revocation      = true

  vpc_egress = "none"

  profiles_json = jsonencode({
    profiles = {
      acme = {
        description     = "Test names, 24-hour certificates"
        dnsSuffixes     = var.allowed_dns_suffixes
        allowWildcards  = false
        challenges      = ["http-01", "dns-01", "tls-alpn-01"]
        defaultLifetime = "24h"
        maxLifetime     = "168h"
      }
    }
  })
}
