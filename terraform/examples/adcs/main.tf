# adcs: acmera with a second profile, "corp", issued by an on-prem Microsoft
# AD CS enterprise CA through its Web Enrollment pages (certsrv), reached over
# the VPC (VPN or Interconnect). Both services sign in at IIS with Kerberos as
# one domain service account, from a keytab kept in Secret Manager. The
# default profile, "acme", stays on the CAS pool.

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
  # through the connector: IIS on 443, the KDCs on 88 and, with revocation
  # dcom, the CA's RPC endpoint mapper (135) and dynamic ports.
  vpc_egress              = "connector"
  network                 = var.network
  vpc_connector_cidr      = var.vpc_connector_cidr
  acme_vpc_egress_traffic = var.acme_vpc_egress_traffic

  nonce_key = var.nonce_key

  adcs_backends = {
    corp = {
      base_url = var.adcs_base_url
      template = var.adcs_template
      auth = {
        method   = "kerberos"
        realm    = var.adcs_realm
        kdc      = var.adcs_kdcs
        username = var.adcs_username
      }
      revocation    = var.adcs_ca_name != null ? "dcom" : "none"
      ca_name       = var.adcs_ca_name
      ca_bundle_pem = var.adcs_ca_bundle_pem
    }
  }
  # Null keeps the keytab out of Terraform state: add it with gcloud.
  adcs_auth_secrets = var.adcs_keytab_base64 != null ? { corp = var.adcs_keytab_base64 } : {}

  profiles_json = jsonencode({
    profiles = {
      acme = {
        description     = "Cloud names from the CAS pool, 24-hour certificates"
        dnsSuffixes     = var.cas_dns_suffixes
        defaultLifetime = "24h"
      }
      corp = {
        description     = "Corporate names from the AD CS enterprise CA"
        backend         = "corp"
        dnsSuffixes     = var.adcs_dns_suffixes
        defaultLifetime = var.adcs_lifetime
        maxLifetime     = var.adcs_lifetime
      }
    }
  })
}
