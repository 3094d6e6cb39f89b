# internal-lb-gke: acmera behind a regional internal Application Load Balancer,
# for cert-manager running in a GKE cluster on the same VPC. The validator uses
# Direct VPC egress into the cluster's network to reach http-01 solver pods
# (through their ingress) and private DNS.

provider "google" {
  project = var.project_id
  region  = var.region
}

module "acmera" {
  source = "../.."

  project_id = var.project_id
  region     = var.region
  image      = var.image

  ca_pool_id        = var.ca_pool_id
  enable_revocation = true

  vpc_egress = "direct"
  network    = var.network
  subnetwork = var.subnetwork
  resolvers  = var.resolvers

  create_internal_lb     = true
  lb_hostname            = var.lb_hostname
  lb_ip_address          = var.lb_ip_address
  proxy_only_subnet_cidr = var.proxy_only_subnet_cidr
  lb_ssl_certificate_id  = var.lb_ssl_certificate_id
  lb_ssl_certificate     = var.lb_ssl_certificate
  lb_ssl_private_key     = var.lb_ssl_private_key

  acme_scaling = {
    min_instances = 1
  }

  profiles_json = jsonencode({
    profiles = {
      acme = {
        description     = "Internal names, 24-hour certificates"
        dnsSuffixes     = var.allowed_dns_suffixes
        allowWildcards  = true
        defaultLifetime = "24h"
      }
    }
  })
}
