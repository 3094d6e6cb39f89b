# Certificate Authority Service: an existing pool by ID, or a new pool with a
# self-signed root CA (create_ca_pool). acmera sends the pool a certificate
# config it built from the validated order (never the client's CSR), so the
# pool allows config-based issuance only; the profile picks the template.

resource "google_privateca_ca_pool" "this" {
  count = var.create_ca_pool ? 1 : 0

  project  = var.project_id
  name     = var.ca_pool_name
  location = var.region
  tier     = var.ca_pool_tier
  labels   = local.labels

  publishing_options {
    publish_ca_cert = true
    # CRLs need an ENTERPRISE pool; DEVOPS pools cannot revoke at all.
    publish_crl = var.ca_pool_tier == "ENTERPRISE"
  }

  issuance_policy {
    # acmera issues short-lived leaf certificates (24 hours by default).
    maximum_lifetime = "2592000s"

    allowed_issuance_modes {
      allow_csr_based_issuance    = false
      allow_config_based_issuance = true
    }

    # acmera sets the subject and names from the order; the pool accepts
    # them and, as a second line of defence, only DNS and IP names.
    identity_constraints {
      allow_subject_passthrough           = true
      allow_subject_alt_names_passthrough = true
      cel_expression {
        title      = "DNS and IP names only"
        expression = "subject_alt_names.all(san, san.type == DNS || san.type == IP)"
      }
    }

    # acmera asks for digitalSignature and serverAuth always, clientAuth
    # where the profile says and keyEncipherment for RSA keys, and refuses
    # (and revokes) any certificate that differs from what it asked. The
    # baseline repeats only what every leaf has, and pins it as no CA.
    baseline_values {
      ca_options {
        is_ca = false
      }
      key_usage {
        base_key_usage {
          digital_signature = true
        }
        extended_key_usage {
          server_auth = true
        }
      }
    }
  }

  depends_on = [google_project_service.this]
}

resource "google_privateca_certificate_authority" "root" {
  count = var.create_ca_pool ? 1 : 0

  project                  = var.project_id
  location                 = var.region
  pool                     = google_privateca_ca_pool.this[0].name
  certificate_authority_id = "${var.name_prefix}-root"
  type                     = "SELF_SIGNED"
  lifetime                 = var.ca_lifetime
  labels                   = local.labels

  deletion_protection                    = var.ca_deletion_protection
  skip_grace_period                      = !var.ca_deletion_protection
  ignore_active_certificates_on_deletion = !var.ca_deletion_protection

  config {
    subject_config {
      subject {
        common_name  = var.ca_common_name
        organization = var.ca_organization
      }
    }
    x509_config {
      ca_options {
        is_ca = true
      }
      key_usage {
        base_key_usage {
          cert_sign = true
          crl_sign  = true
        }
        extended_key_usage {
          server_auth = true
          client_auth = true
        }
      }
    }
  }

  key_spec {
    algorithm = var.ca_key_algorithm
  }
}

locals {
  # The pool's resource name, spelled out so it is known at plan time.
  ca_pool_id = var.create_ca_pool ? "projects/${var.project_id}/locations/${var.region}/caPools/${google_privateca_ca_pool.this[0].name}" : var.ca_pool_id
}
