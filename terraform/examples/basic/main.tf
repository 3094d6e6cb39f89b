# basic: acmera in front of an existing CAS pool, the validator egressing into
# the VPC through a Serverless VPC Access connector, certbot on a VM in that VPC.

provider "google" {
  project = var.project_id
  region  = var.region
}

module "acmera" {
  source = "../.."

  project_id = var.project_id
  region     = var.region
  image      = var.image

  ca_pool_id = var.ca_pool_id

  vpc_egress         = "connector"
  network            = var.network
  vpc_connector_cidr = var.vpc_connector_cidr
  resolvers          = var.resolvers

  nonce_key = var.nonce_key

  profiles_json = jsonencode({
    profiles = {
      acme = {
        description     = "Internal names, 24-hour certificates"
        dnsSuffixes     = var.allowed_dns_suffixes
        allowWildcards  = false
        defaultLifetime = "24h"
      }
    }
  })
}
