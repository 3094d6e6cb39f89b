# vault: acmera with a second profile, "corp", issued by an on-prem HashiCorp
# Vault PKI mount reached over the VPC (VPN or Interconnect). Both services log
# in to Vault keylessly: JWT auth with their Google ID tokens. The default
# profile, "acme", stays on the CAS pool.

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

  # The validator and (because a backend is set) the ACME service egress
  # through the connector; the ACME service sends only private ranges there.
  vpc_egress              = "connector"
  network                 = var.network
  vpc_connector_cidr      = var.vpc_connector_cidr
  acme_vpc_egress_traffic = var.acme_vpc_egress_traffic

  nonce_key = var.nonce_key

  vault_backends = {
    onprem = {
      address     = var.vault_address
      mount       = var.vault_pki_mount
      role        = var.vault_pki_role
      namespace   = var.vault_namespace
      ca_cert_pem = var.vault_ca_cert_pem
      auth = {
        method   = "jwt"
        path     = var.vault_jwt_path
        role     = var.vault_jwt_role
        audience = var.vault_jwt_audience
      }
    }
  }

  profiles_json = jsonencode({
    profiles = {
      acme = {
        description     = "Cloud names from the CAS pool, 24-hour certificates"
        dnsSuffixes     = var.cas_dns_suffixes
        defaultLifetime = "24h"
      }
      corp = {
        description     = "Corporate names from the on-prem Vault"
        backend         = "onprem"
        dnsSuffixes     = var.vault_dns_suffixes
        defaultLifetime = "24h"
      }
    }
  })
}
