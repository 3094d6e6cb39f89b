# CA backends beside the deployment's own CAS pool: HashiCorp Vault PKI
# mounts (vault_backends), AWS Private CAs (awspca_backends) and Microsoft
# AD CS enterprise CAs (adcs_backends). They become the "backends" object of
# the profiles JSON (pkg/config/backends.go), merged into profiles_json; a
# profile names one in "backend".
#
# The files a backend reads (Vault's or IIS's TLS roots, an AppRole secret
# ID, a Vault token, an AD keytab or password) are Secret Manager secrets
# mounted into both services under /secrets/<name>/, readable by the two
# runtime service accounts only. Both services issue: the ACME service at
# finalize, the validator when it retries a finalize.

locals {
  vault_auth_file = { approle = "secret-id", token = "token" }

  # One secret per file, keyed by its volume name (also the secret's name
  # after name_prefix and the directory it is mounted at).
  # An AD CS backend's secret: a keytab (binary; given base64) or a password.
  adcs_credential = {
    for k, v in var.adcs_backends : k => coalesce(v.auth.credential, v.auth.method == "kerberos" ? "keytab" : "password")
  }

  # The CA roots (public, from the variables) by volume name.
  backend_ca_pem = merge(
    { for k, v in var.vault_backends : "vault-${k}-ca" => v.ca_cert_pem if v.ca_cert_pem != null },
    { for k, v in var.adcs_backends : "adcs-${k}-ca" => v.ca_bundle_pem if v.ca_bundle_pem != null },
  )
  backend_ca_files = merge(
    { for k, v in var.vault_backends : "vault-${k}-ca" => { backend = k, file = "ca.pem" } if v.ca_cert_pem != null },
    { for k, v in var.adcs_backends : "adcs-${k}-ca" => { backend = k, file = "ca.pem" } if v.ca_bundle_pem != null },
  )
  # base64: the secret's value is given base64 (a keytab is binary).
  backend_auth_files = merge(
    {
      for k, v in var.vault_backends : "vault-${k}-${local.vault_auth_file[v.auth.method]}" => {
        backend = k
        file    = local.vault_auth_file[v.auth.method]
        base64  = false
      } if contains(keys(local.vault_auth_file), v.auth.method)
    },
    {
      for k, c in local.adcs_credential : "adcs-${k}-${c}" => { backend = k, file = c, base64 = c == "keytab" }
    },
  )
  backend_files = merge(local.backend_ca_files, local.backend_auth_files)
  backend_path  = { for k, f in local.backend_files : k => "/secrets/${k}/${f.file}" }

  # The auth secrets whose value the operator gave (the rest get their
  # version with gcloud). Only the names are read here, never the values.
  # Backend names are unique across the maps (main.tf), so one lookup
  # serves both.
  backend_auth_values = merge(var.vault_auth_secrets, var.adcs_auth_secrets)
  backend_auth_given = {
    for k, f in local.backend_auth_files : k => f if contains(nonsensitive(keys(local.backend_auth_values)), f.backend)
  }

  # The "backends" object, with unset fields left out (acmera decodes it
  # strictly). Field names are pkg/config's.
  vault_backends_json = {
    for k, v in var.vault_backends : k => {
      vault = { for f, x in {
        address    = v.address
        mount      = v.mount
        role       = v.role
        namespace  = v.namespace
        caCertFile = v.ca_cert_pem != null ? local.backend_path["vault-${k}-ca"] : null
        auth = { for f2, x2 in {
          method       = v.auth.method
          path         = v.auth.path
          role         = v.auth.role
          audience     = v.auth.audience
          roleID       = v.auth.role_id
          secretIDFile = v.auth.method == "approle" ? local.backend_path["vault-${k}-secret-id"] : null
          tokenFile    = v.auth.method == "token" ? local.backend_path["vault-${k}-token"] : null
        } : f2 => x2 if x2 != null }
      } : f => x if x != null }
    }
  }
  awspca_backends_json = {
    for k, v in var.awspca_backends : k => {
      awspca = { for f, x in {
        caArn            = v.ca_arn
        roleArn          = v.role_arn
        audience         = v.audience
        templateArn      = v.template_arn
        region           = v.region
        signingAlgorithm = v.signing_algorithm
      } : f => x if x != null }
    }
  }
  adcs_backends_json = {
    for k, v in var.adcs_backends : k => {
      adcs = { for f, x in {
        baseURL          = v.base_url
        template         = v.template
        caBundleFile     = v.ca_bundle_pem != null ? local.backend_path["adcs-${k}-ca"] : null
        revocation       = v.revocation
        caName           = v.ca_name
        approvalDeadline = v.approval_deadline
        auth = { for f2, x2 in {
          method       = v.auth.method
          realm        = v.auth.realm
          kdc          = v.auth.kdc
          spn          = v.auth.spn
          username     = v.auth.username
          domain       = v.auth.domain
          keytabFile   = local.adcs_credential[k] == "keytab" ? local.backend_path["adcs-${k}-keytab"] : null
          passwordFile = local.adcs_credential[k] == "password" ? local.backend_path["adcs-${k}-password"] : null
        } : f2 => x2 if x2 != null }
      } : f => x if x != null }
    }
  }
  backends_json = merge(local.vault_backends_json, local.awspca_backends_json, local.adcs_backends_json)
  has_backends  = length(local.backends_json) > 0

  # What profiles_json already holds (it may define backends of its own,
  # e.g. another CAS pool).
  profiles_decoded      = var.profiles_json != null ? try(jsondecode(var.profiles_json), null) : null
  profiles_own_backends = try(keys(local.profiles_decoded.backends), [])
  profiles_backend_refs = [
    for p in try(values(local.profiles_decoded.profiles), []) : try(tostring(p.backend), null) if try(p.backend, null) != null
  ]

  # ACMERA_PROFILES_JSON: profiles_json verbatim without module backends,
  # else re-encoded with the generated backends merged into its own.
  profiles_json_env = (
    var.profiles_json == null || !local.has_backends ? var.profiles_json :
    try(jsonencode(merge(local.profiles_decoded, {
      backends = merge(try(local.profiles_decoded.backends, {}), local.backends_json)
    })), var.profiles_json)
  )

  # The ACME service joins the VPC when a backend may live behind it.
  acme_vpc_access = local.has_backends && var.vpc_egress != "none"
}

resource "google_secret_manager_secret" "backend" {
  for_each = local.backend_files

  project   = var.project_id
  secret_id = "${var.name_prefix}-${each.key}"
  labels    = merge(local.labels, { "acmera-backend" = each.value.backend })

  replication {
    auto {}
  }

  depends_on = [google_project_service.this]
}

# Vault's and IIS's TLS roots are public, so the module always writes them.
resource "google_secret_manager_secret_version" "backend_ca" {
  for_each = local.backend_ca_files

  secret      = google_secret_manager_secret.backend[each.key].id
  secret_data = local.backend_ca_pem[each.key]
}

# Without a value in vault_auth_secrets or adcs_auth_secrets the operator
# adds the version before the services start:
#   printf %s "$SECRET_ID" | gcloud secrets versions add PREFIX-vault-NAME-secret-id --data-file=-
#   gcloud secrets versions add PREFIX-adcs-NAME-keytab --data-file=svc-acmera.keytab
# A keytab is given base64 (Terraform strings are UTF-8) and stored as its
# bytes.
resource "google_secret_manager_secret_version" "backend_auth" {
  for_each = local.backend_auth_given

  secret                = google_secret_manager_secret.backend[each.key].id
  secret_data           = local.backend_auth_values[each.value.backend]
  is_secret_data_base64 = each.value.base64 ? true : null
}

resource "google_secret_manager_secret_iam_member" "backend" {
  for_each = {
    for pair in setproduct(keys(local.backend_files), keys(local.runtime_members)) : "${pair[0]}/${pair[1]}" => {
      secret = pair[0]
      member = local.runtime_members[pair[1]]
    }
  }

  project   = var.project_id
  secret_id = google_secret_manager_secret.backend[each.value.secret].secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = each.value.member

  depends_on = [google_service_account.acme, google_service_account.validator]
}

# ---------------------------------------------------------------- what the CA side needs
# Copy-paste material for the operator (outputs.tf); nothing here is applied.

locals {
  # The sub (and azp) of the services' Google ID tokens.
  runtime_unique_ids = [google_service_account.acme.unique_id, google_service_account.validator.unique_id]

  vault_policy_hcl = {
    for k, v in var.vault_backends : k => <<-EOT
      # acmera (${var.name_prefix}): Vault PKI backend "${k}", mount ${v.mount}, role ${v.role}
      path "${v.mount}/sign/${v.role}" {
        capabilities = ["create", "update"]
      }
      path "${v.mount}/revoke" {
        capabilities = ["create", "update"]
      }
      path "${v.mount}/certs" {
        capabilities = ["list"]
      }
      path "${v.mount}/cert/*" {
        capabilities = ["read"]
      }
      path "${v.mount}/roles/${v.role}" {
        capabilities = ["read"]
      }
    EOT
  }

  # Vault's bound_subject takes one subject and two services log in, so the
  # role binds sub through bound_claims instead.
  vault_jwt_roles = {
    for k, v in var.vault_backends : k => {
      path = coalesce(v.auth.path, "jwt")
      role = v.auth.role
      config_json = jsonencode({
        oidc_discovery_url = "https://accounts.google.com"
        bound_issuer       = "https://accounts.google.com"
      })
      role_json = jsonencode({
        role_type         = "jwt"
        user_claim        = "sub"
        bound_audiences   = [v.auth.audience]
        bound_claims_type = "string"
        bound_claims      = { sub = local.runtime_unique_ids }
        token_policies    = ["${var.name_prefix}-${k}"]
        token_ttl         = "1h"
        token_max_ttl     = "4h"
      })
    } if v.auth.method == "jwt"
  }

  awspca_trust_policies = {
    for k, v in var.awspca_backends : k => jsonencode({
      Version = "2012-10-17"
      Statement = [{
        Sid       = "AcmeraGoogleWebIdentity"
        Effect    = "Allow"
        Principal = { Federated = "accounts.google.com" }
        Action    = "sts:AssumeRoleWithWebIdentity"
        Condition = {
          StringEquals = {
            "accounts.google.com:aud"  = local.runtime_unique_ids
            "accounts.google.com:oaud" = v.audience
            "accounts.google.com:sub"  = local.runtime_unique_ids
          }
        }
      }]
    })
  }

  # With no template_arn acmera picks the base end-entity template that
  # matches the profile's extended key usages (pkg/ca/awspca).
  awspca_templates = {
    for k, v in var.awspca_backends : k => v.template_arn != null ? [v.template_arn] : [
      for t in ["EndEntityServerAuthCertificate", "EndEntityClientAuthCertificate", "EndEntityCertificate"] :
      "arn:${split(":", v.ca_arn)[1]}:acm-pca:::template/${t}/V1"
    ]
  }
  awspca_permission_policies = {
    for k, v in var.awspca_backends : k => jsonencode({
      Version = "2012-10-17"
      Statement = [
        {
          Sid       = "AcmeraIssue"
          Effect    = "Allow"
          Action    = "acm-pca:IssueCertificate"
          Resource  = v.ca_arn
          Condition = { StringLike = { "acm-pca:TemplateArn" = local.awspca_templates[k] } }
        },
        {
          Sid    = "AcmeraCollectRevokeDescribe"
          Effect = "Allow"
          Action = [
            "acm-pca:GetCertificate",
            "acm-pca:RevokeCertificate",
            "acm-pca:GetCertificateAuthorityCertificate",
            "acm-pca:DescribeCertificateAuthority",
          ]
          Resource = v.ca_arn
        },
      ]
    })
  }
}
