/**
 * acmera: an ACME (RFC 8555) registration authority on Cloud Run, Firestore,
 * Cloud Tasks and Certificate Authority Service.
 *
 * This file holds the shared names, the project services and the cross-variable
 * checks; the other files are split by concern (iam.tf, firestore.tf, tasks.tf,
 * cas.tf, backends.tf, secrets.tf, network.tf, cloudrun.tf, lb.tf, monitoring.tf).
 */

data "google_project" "this" {
  project_id = var.project_id

  # Cross-variable rules that a variable's own validation block cannot express
  # on Terraform < 1.9. They fail the plan with a readable message.
  lifecycle {
    precondition {
      condition     = var.create_ca_pool != (var.ca_pool_id != null)
      error_message = "Set exactly one of ca_pool_id (an existing pool) or create_ca_pool = true."
    }
    precondition {
      condition     = !(var.profiles_json != null && var.profiles_secret_id != null)
      error_message = "Set at most one of profiles_json and profiles_secret_id."
    }
    precondition {
      condition     = var.profiles_json != null || var.profiles_secret_id != null || var.profiles_allow_any
      error_message = "acmera needs an issuance policy: set profiles_json or profiles_secret_id (or profiles_allow_any for development)."
    }
    precondition {
      condition     = var.vpc_egress != "direct" || var.subnetwork != null
      error_message = "vpc_egress = \"direct\" needs subnetwork."
    }
    precondition {
      condition     = var.vpc_egress != "connector" || var.vpc_connector_id != null || var.vpc_connector_cidr != null
      error_message = "vpc_egress = \"connector\" needs vpc_connector_id (an existing connector) or vpc_connector_cidr (to create one)."
    }
    precondition {
      condition     = !var.create_internal_lb || (var.subnetwork != null && var.lb_hostname != null)
      error_message = "create_internal_lb needs subnetwork and lb_hostname."
    }
    precondition {
      condition     = !var.create_internal_lb || var.lb_ssl_certificate_id != null || (var.lb_ssl_certificate != null && var.lb_ssl_private_key != null)
      error_message = "create_internal_lb needs lb_ssl_certificate_id, or lb_ssl_certificate and lb_ssl_private_key."
    }
    precondition {
      condition     = length(keys(local.backends_json)) == length(keys(var.vault_backends)) + length(keys(var.awspca_backends)) + length(keys(var.adcs_backends))
      error_message = "A backend name may be used once, in vault_backends, awspca_backends or adcs_backends."
    }
    precondition {
      condition     = !local.has_backends || var.profiles_json != null || var.profiles_secret_id != null
      error_message = "vault_backends, awspca_backends and adcs_backends are used by profiles: set profiles_json (the backends are merged into it) or profiles_secret_id (copy output backends_json into the secret)."
    }
    precondition {
      condition     = !local.has_backends || var.profiles_json == null || can(merge(local.profiles_decoded, {}))
      error_message = "profiles_json must be a JSON object to take vault_backends, awspca_backends and adcs_backends."
    }
    precondition {
      condition     = length(setintersection(local.profiles_own_backends, keys(local.backends_json))) == 0
      error_message = "profiles_json's own \"backends\" object defines a name that vault_backends, awspca_backends or adcs_backends also defines."
    }
    precondition {
      condition     = var.profiles_json == null || alltrue([for b in local.profiles_backend_refs : contains(concat(["cas"], local.profiles_own_backends, keys(local.backends_json)), b)])
      error_message = "A profile in profiles_json names a \"backend\" that is neither \"cas\" nor defined in vault_backends, awspca_backends, adcs_backends or profiles_json's \"backends\"."
    }
    precondition {
      condition     = alltrue([for k in nonsensitive(keys(var.vault_auth_secrets)) : contains(["approle", "token"], try(var.vault_backends[k].auth.method, ""))])
      error_message = "vault_auth_secrets names must be vault_backends entries whose auth method is approle or token."
    }
    precondition {
      condition     = alltrue([for k in nonsensitive(keys(var.adcs_auth_secrets)) : contains(keys(var.adcs_backends), k)])
      error_message = "adcs_auth_secrets names must be adcs_backends entries."
    }
    precondition {
      # Only whether each keytab is base64 is revealed, never a value.
      condition = nonsensitive(alltrue([for k, v in var.adcs_auth_secrets :
        try(local.adcs_credential[k], "") != "keytab" || (can(regex("^[A-Za-z0-9+/]+={0,2}$", v)) && length(v) % 4 == 0)
      ]))
      error_message = "adcs_auth_secrets: a keytab (auth.credential keytab, kerberos's default) must be given base64, e.g. filebase64(\"svc-acmera.keytab\")."
    }
  }
}

locals {
  acme_service_name      = "${var.name_prefix}-acme"
  validator_service_name = "${var.name_prefix}-validator"

  # Cloud Run's deterministic service URL (https://SERVICE-PROJECT_NUMBER.REGION.run.app)
  # is known before the service exists, which lets each service be told both
  # URLs without a dependency cycle. The validator uses its own URL as the
  # expected OIDC audience of Cloud Tasks calls; the ACME service uses it as the
  # task target and audience.
  run_url_suffix = "${data.google_project.this.number}.${var.region}.run.app"
  acme_url       = "https://${local.acme_service_name}-${local.run_url_suffix}"
  validator_url  = "https://${local.validator_service_name}-${local.run_url_suffix}"

  # The URL ACME clients use: an operator-supplied URL, else the internal load
  # balancer's hostname when it is created, else the ACME service's own URL.
  base_url = (
    var.base_url != null ? var.base_url :
    var.create_internal_lb && var.lb_hostname != null ? "https://${var.lb_hostname}" :
    local.acme_url
  )
  # RFC 8555 §7.1.1: the directory of the default profile ("acme").
  directory_url = "${trimsuffix(local.base_url, "/")}/acme/acme/directory"

  labels = merge({ "app" = "acmera" }, var.labels)

  services = distinct(compact([
    "run.googleapis.com",
    "firestore.googleapis.com",
    "cloudtasks.googleapis.com",
    var.reconcile_schedule != "" ? "cloudscheduler.googleapis.com" : "",
    "privateca.googleapis.com",
    "secretmanager.googleapis.com",
    "iam.googleapis.com",
    "cloudresourcemanager.googleapis.com",
    var.vpc_egress == "connector" ? "vpcaccess.googleapis.com" : "",
    var.enable_monitoring ? "monitoring.googleapis.com" : "",
    var.vpc_egress == "direct" || var.create_internal_lb ? "compute.googleapis.com" : "",
  ]))
}

resource "google_project_service" "this" {
  for_each = var.enable_apis ? toset(local.services) : toset([])

  project            = var.project_id
  service            = each.value
  disable_on_destroy = false
}
