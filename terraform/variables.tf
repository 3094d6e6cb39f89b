# ---------------------------------------------------------------- project

variable "project_id" {
  description = "ID of the Google Cloud project to deploy acmera into."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a Google Cloud project ID (6-30 lowercase letters, digits and hyphens)."
  }
}

variable "region" {
  description = "Region for Cloud Run, Cloud Tasks, the CAS pool (when created) and the internal load balancer."
  type        = string
  default     = "us-central1"

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]+$", var.region))
    error_message = "region must be a Google Cloud region such as us-central1 or europe-west1."
  }
}

variable "name_prefix" {
  description = "Prefix of every resource name (services, service accounts, queue, secrets)."
  type        = string
  default     = "acmera"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,14}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 2-16 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "image" {
  description = "Container image of acmera (deploy/Dockerfile), preferably pinned by digest; both services run it."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9.-]+(:[0-9]+)?/[^\\s:@]+(:[A-Za-z0-9_.-]+)?(@sha256:[a-f0-9]{64})?$", var.image))
    error_message = "image must be a container image reference such as us-docker.pkg.dev/PROJECT/REPO/acmera@sha256:...."
  }
}

variable "enable_apis" {
  description = "Enable the project services the module needs. Set false when they are managed elsewhere."
  type        = bool
  default     = true
}

variable "labels" {
  description = "Labels added to every resource that takes labels."
  type        = map(string)
  default     = {}
}

variable "deletion_protection" {
  description = "Protect both Cloud Run services from terraform destroy."
  type        = bool
  default     = false
}

# ---------------------------------------------------------------- Firestore

variable "create_firestore_database" {
  description = "Create the Firestore (native mode) database. Set false to use an existing one named firestore_database_id."
  type        = bool
  default     = true
}

variable "firestore_database_id" {
  description = "Firestore database ID, created or existing; \"(default)\" is allowed."
  type        = string
  default     = "acmera"

  validation {
    condition     = var.firestore_database_id == "(default)" || can(regex("^[a-z][a-z0-9-]{2,61}[a-z0-9]$", var.firestore_database_id))
    error_message = "firestore_database_id must be \"(default)\" or 4-63 lowercase letters, digits and hyphens."
  }
}

variable "firestore_location" {
  description = "Location of a created Firestore database (a region or nam5/eur3). Null means var.region."
  type        = string
  default     = null
}

variable "firestore_delete_protection" {
  description = "Turn on delete protection of a created Firestore database."
  type        = bool
  default     = true
}

# ---------------------------------------------------------------- CA Service

variable "ca_pool_id" {
  description = "Existing CAS pool as projects/PROJECT/locations/LOCATION/caPools/POOL. Null when create_ca_pool is true."
  type        = string
  default     = null

  validation {
    condition     = var.ca_pool_id == null || can(regex("^projects/[^/]+/locations/[^/]+/caPools/[^/]+$", var.ca_pool_id))
    error_message = "ca_pool_id must look like projects/PROJECT/locations/LOCATION/caPools/POOL."
  }
}

variable "create_ca_pool" {
  description = "Create a CAS pool with a self-signed root CA in var.region instead of using ca_pool_id."
  type        = bool
  default     = false
}

variable "ca_pool_name" {
  description = "Name of the created CAS pool (create_ca_pool)."
  type        = string
  default     = "acmera-pool"

  validation {
    condition     = can(regex("^[a-zA-Z0-9_-]{1,63}$", var.ca_pool_name))
    error_message = "ca_pool_name must be 1-63 letters, digits, hyphens or underscores."
  }
}

variable "ca_pool_tier" {
  description = "Tier of the created CAS pool: ENTERPRISE (revocation, CRLs) or DEVOPS (higher QPS, no revocation)."
  type        = string
  default     = "ENTERPRISE"

  validation {
    condition     = contains(["ENTERPRISE", "DEVOPS"], var.ca_pool_tier)
    error_message = "ca_pool_tier must be ENTERPRISE or DEVOPS."
  }
}

variable "ca_common_name" {
  description = "Subject common name of the created root CA."
  type        = string
  default     = "acmera root CA"
}

variable "ca_organization" {
  description = "Subject organization of the created root CA."
  type        = string
  default     = "acmera"
}

variable "ca_lifetime" {
  description = "Lifetime of the created root CA, in seconds with an s suffix (default ten years)."
  type        = string
  default     = "315360000s"

  validation {
    condition     = can(regex("^[0-9]+s$", var.ca_lifetime))
    error_message = "ca_lifetime must be a duration in seconds such as 315360000s."
  }
}

variable "ca_key_algorithm" {
  description = "Key algorithm of the created root CA (a Google-managed key)."
  type        = string
  default     = "EC_P256_SHA256"

  validation {
    condition     = contains(["EC_P256_SHA256", "EC_P384_SHA384", "RSA_PKCS1_2048_SHA256", "RSA_PKCS1_3072_SHA256", "RSA_PKCS1_4096_SHA256", "RSA_PSS_2048_SHA256", "RSA_PSS_3072_SHA256", "RSA_PSS_4096_SHA256"], var.ca_key_algorithm)
    error_message = "ca_key_algorithm must be one of the CAS key algorithms, e.g. EC_P256_SHA256."
  }
}

variable "ca_deletion_protection" {
  description = "Protect the created root CA from terraform destroy."
  type        = bool
  default     = true
}

variable "enable_revocation" {
  description = "Let acmera revoke certificates (RFC 8555 §7.6): grants certificateManager instead of certificateRequester on the pool. Needs an ENTERPRISE pool."
  type        = bool
  default     = false
}

# ---------------------------------------------------------------- Cloud Tasks

variable "reconcile_schedule" {
  description = "Cloud Scheduler cron schedule of the reconciler, which finishes or fails validations and finalizes whose task was lost (a reconcile task posted to the validator with the queue's OIDC identity); empty creates no schedule."
  type        = string
  default     = "*/2 * * * *"

  validation {
    condition     = var.reconcile_schedule == "" || length(split(" ", trimspace(var.reconcile_schedule))) == 5
    error_message = "reconcile_schedule must be a 5-field cron schedule such as \"*/2 * * * *\", or empty for none."
  }
}

variable "queue_name" {
  description = "Name of the Cloud Tasks queue that feeds the validator, after name_prefix and a hyphen."
  type        = string
  default     = "validations"

  validation {
    condition     = can(regex("^[A-Za-z0-9-]{1,100}$", var.queue_name))
    error_message = "queue_name must be 1-100 letters, digits or hyphens."
  }
}

variable "queue_rate_limits" {
  description = "Dispatch limits of the queue; keep max_dispatches_per_second below the CA's QPS quota when finalize retries run there."
  type = object({
    max_dispatches_per_second = optional(number, 20)
    max_concurrent_dispatches = optional(number, 50)
  })
  default = {}

  validation {
    condition     = var.queue_rate_limits.max_dispatches_per_second > 0 && var.queue_rate_limits.max_concurrent_dispatches >= 1
    error_message = "queue_rate_limits values must be positive."
  }
}

variable "queue_retry_config" {
  description = "Retry policy of the queue: validation and finalize tasks are idempotent, so redelivery is safe."
  type = object({
    max_attempts       = optional(number, 10)
    max_retry_duration = optional(string, "3600s")
    min_backoff        = optional(string, "2s")
    max_backoff        = optional(string, "300s")
    max_doublings      = optional(number, 5)
  })
  default = {}

  validation {
    condition = alltrue([
      for d in [var.queue_retry_config.max_retry_duration, var.queue_retry_config.min_backoff, var.queue_retry_config.max_backoff] :
      can(regex("^[0-9]+(\\.[0-9]+)?s$", d))
    ])
    error_message = "queue_retry_config durations must be seconds with an s suffix, e.g. 2s."
  }
}

# ---------------------------------------------------------------- Cloud Run

variable "ingress" {
  description = "Ingress of both services: internal (VPC, internal load balancers, Cloud Tasks) or internal-and-cloud-load-balancing."
  type        = string
  default     = "internal"

  validation {
    condition     = contains(["internal", "internal-and-cloud-load-balancing"], var.ingress)
    error_message = "ingress must be internal or internal-and-cloud-load-balancing."
  }
}

variable "acme_allow_unauthenticated" {
  description = "Let ACME clients call the ACME service without a Google identity token (they authenticate with JWS). The validator is never public."
  type        = bool
  default     = true
}

variable "acme_scaling" {
  description = "Instance bounds of the ACME service."
  type = object({
    min_instances = optional(number, 0)
    max_instances = optional(number, 10)
  })
  default = {}

  validation {
    condition     = var.acme_scaling.min_instances >= 0 && var.acme_scaling.max_instances >= max(1, var.acme_scaling.min_instances)
    error_message = "acme_scaling needs 0 <= min_instances <= max_instances and max_instances >= 1."
  }
}

variable "validator_scaling" {
  description = "Instance bounds of the validator service."
  type = object({
    min_instances = optional(number, 0)
    max_instances = optional(number, 10)
  })
  default = {}

  validation {
    condition     = var.validator_scaling.min_instances >= 0 && var.validator_scaling.max_instances >= max(1, var.validator_scaling.min_instances)
    error_message = "validator_scaling needs 0 <= min_instances <= max_instances and max_instances >= 1."
  }
}

variable "container_resources" {
  description = "CPU and memory limits of each container instance."
  type = object({
    cpu    = optional(string, "1")
    memory = optional(string, "512Mi")
  })
  default = {}

  validation {
    condition     = can(regex("^[0-9]+(m)?$", var.container_resources.cpu)) && can(regex("^[0-9]+(Mi|Gi)$", var.container_resources.memory))
    error_message = "container_resources.cpu must look like 1 or 1000m and memory like 512Mi or 1Gi."
  }
}

# ---------------------------------------------------------------- network

variable "vpc_egress" {
  description = "How the validator reaches private hosts and DNS: connector (Serverless VPC Access), direct (Direct VPC egress) or none."
  type        = string
  default     = "connector"

  validation {
    condition     = contains(["connector", "direct", "none"], var.vpc_egress)
    error_message = "vpc_egress must be connector, direct or none."
  }
}

variable "vpc_egress_traffic" {
  description = "Which validator traffic goes through the VPC: ALL_TRAFFIC (private DNS and hosts with public IPs too) or PRIVATE_RANGES_ONLY."
  type        = string
  default     = "ALL_TRAFFIC"

  validation {
    condition     = contains(["ALL_TRAFFIC", "PRIVATE_RANGES_ONLY"], var.vpc_egress_traffic)
    error_message = "vpc_egress_traffic must be ALL_TRAFFIC or PRIVATE_RANGES_ONLY."
  }
}

variable "network" {
  description = "VPC network name or self link, for a created connector, Direct VPC egress and the internal load balancer."
  type        = string
  default     = "default"
}

variable "subnetwork" {
  description = "Subnetwork name or self link in var.region, for Direct VPC egress and the internal load balancer's address."
  type        = string
  default     = null
}

variable "vpc_connector_id" {
  description = "Existing Serverless VPC Access connector as projects/PROJECT/locations/REGION/connectors/NAME (vpc_egress = connector)."
  type        = string
  default     = null

  validation {
    condition     = var.vpc_connector_id == null || can(regex("^projects/[^/]+/locations/[^/]+/connectors/[^/]+$", var.vpc_connector_id))
    error_message = "vpc_connector_id must look like projects/PROJECT/locations/REGION/connectors/NAME."
  }
}

variable "vpc_connector_cidr" {
  description = "Unused /28 range in var.network for a new Serverless VPC Access connector, when vpc_connector_id is null."
  type        = string
  default     = null

  validation {
    condition     = var.vpc_connector_cidr == null || can(regex("^[0-9.]+/28$", var.vpc_connector_cidr))
    error_message = "vpc_connector_cidr must be an IPv4 /28 range such as 10.8.0.0/28."
  }
}

variable "resolvers" {
  description = "DNS resolvers (host:port) the validator uses for dns-01 and name lookups, e.g. 169.254.169.254:53 for the VPC's Cloud DNS. Empty means the system resolver."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for r in var.resolvers : can(regex("^(\\[[0-9a-fA-F:]+\\]|[A-Za-z0-9.-]+):[0-9]{1,5}$", r))])
    error_message = "Each resolver must be host:port, e.g. 10.0.0.2:53 or [fd00::53]:53."
  }
}

variable "validation_networks" {
  description = "CIDR ranges the validator may reach although its network policy denies them (loopback, link-local and the metadata server, unspecified, multicast, broadcast); it only reopens denied ranges, every other address is reachable anyway. Empty keeps the deny list whole."
  type        = list(string)
  default     = []

  validation {
    # IPv4 ranges must have no host bits (acmera refuses them at start);
    # IPv6 ranges are checked by acmera itself, whatever their spelling.
    condition = alltrue([
      for n in var.validation_networks :
      can(cidrhost(n, 0)) && !startswith(lower(n), "::ffff:") && (length(regexall(":", n)) > 0 || try(cidrsubnet(n, 0, 0) == n, false))
    ])
    error_message = "Each validation network must be a CIDR range such as 10.0.0.0/8 or fd00::/8, with no host bits (IPv4 ranges in dotted form)."
  }
}

# ---------------------------------------------------------------- ACME configuration

variable "base_url" {
  description = "External https URL ACME clients use, when it is neither the internal load balancer nor the ACME service URL."
  type        = string
  default     = null

  validation {
    condition     = var.base_url == null || can(regex("^https://[^/\\s]+(/[^\\s]*)?$", var.base_url))
    error_message = "base_url must be an https URL."
  }
}

variable "profiles_json" {
  description = "Profiles and policy as inline JSON (ACMERA_PROFILES_JSON). One of profiles_json, profiles_secret_id or profiles_allow_any is required."
  type        = string
  default     = null

  validation {
    condition     = var.profiles_json == null || can(jsondecode(var.profiles_json))
    error_message = "profiles_json must be valid JSON."
  }
}

variable "profiles_secret_id" {
  description = "Secret Manager secret (ID or projects/PROJECT/secrets/NAME) whose latest version holds the profiles JSON."
  type        = string
  default     = null
}

variable "profiles_allow_any" {
  description = "Development only: a profile allowing any identifier (ACMERA_PROFILES_ALLOW_ANY)."
  type        = bool
  default     = false
}

variable "nonce_key" {
  description = "Base64 of 32 random bytes that seal replay nonces (RFC 8555 §6.5) across ACME instances. Stored in Terraform state; null means add the secret version with gcloud."
  type        = string
  default     = null
  sensitive   = true

  validation {
    condition     = var.nonce_key == null || can(regex("^[A-Za-z0-9+/]{43}=$", var.nonce_key))
    error_message = "nonce_key must be the standard base64 encoding of exactly 32 bytes (e.g. openssl rand -base64 32)."
  }
}

# ---------------------------------------------------------------- CA backends

variable "vault_backends" {
  description = "HashiCorp Vault PKI backends by name, added to the profiles' \"backends\" object; a profile picks one with \"backend\": NAME. Each: address (https), mount and role of the PKI engine, namespace, ca_cert_pem (roots of Vault's TLS certificate, mounted from Secret Manager), auth: method jwt (default; the service accounts' Google ID tokens; path, role, audience), approle (role_id; secret ID in vault_auth_secrets) or token (in vault_auth_secrets)."
  type = map(object({
    address     = string
    mount       = string
    role        = string
    namespace   = optional(string)
    ca_cert_pem = optional(string)
    auth = optional(object({
      method   = optional(string, "jwt")
      path     = optional(string)
      role     = optional(string)
      audience = optional(string)
      role_id  = optional(string)
    }), {})
  }))
  default = {}

  validation {
    condition     = alltrue([for k in keys(var.vault_backends) : can(regex("^[a-z0-9][a-z0-9-]{0,39}$", k)) && !contains(["cas", "local"], k)])
    error_message = "vault_backends names must be 1-40 lowercase letters, digits or hyphens, starting with a letter or digit, and not \"cas\" or \"local\" (reserved for the deployment's own CA)."
  }
  validation {
    condition     = alltrue([for v in values(var.vault_backends) : can(regex("^https://(\\[[0-9A-Fa-f:]+\\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?/?$", v.address))])
    error_message = "vault_backends address must be an https URL with no path, such as https://vault.corp.example:8200."
  }
  validation {
    condition     = alltrue([for v in values(var.vault_backends) : can(regex("^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$", v.mount)) && can(regex("^[A-Za-z0-9_.@-]+$", v.role))])
    error_message = "vault_backends mount must be a Vault path such as pki_int (no leading or trailing slash) and role a PKI role name."
  }
  validation {
    condition     = alltrue([for v in values(var.vault_backends) : contains(["jwt", "approle", "token"], v.auth.method)])
    error_message = "vault_backends auth.method must be jwt, approle or token."
  }
  validation {
    condition = alltrue([for v in values(var.vault_backends) :
      v.auth.method != "jwt" || (v.auth.role != null && v.auth.audience != null && v.auth.role_id == null)
    ])
    error_message = "vault_backends auth method jwt needs role (the Vault JWT role) and audience (its bound_audiences), and takes no role_id."
  }
  validation {
    condition = alltrue([for v in values(var.vault_backends) :
      v.auth.method != "approle" || (v.auth.role_id != null && v.auth.role == null && v.auth.audience == null)
    ])
    error_message = "vault_backends auth method approle needs role_id (its secret ID goes in vault_auth_secrets) and takes no role or audience."
  }
  validation {
    condition = alltrue([for v in values(var.vault_backends) :
      v.auth.method != "token" || (v.auth.role_id == null && v.auth.role == null && v.auth.audience == null && v.auth.path == null)
    ])
    error_message = "vault_backends auth method token takes no path, role, audience or role_id (the token goes in vault_auth_secrets)."
  }
  validation {
    condition     = alltrue([for v in values(var.vault_backends) : v.auth.path == null || can(regex("^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$", v.auth.path))])
    error_message = "vault_backends auth.path must be the auth method's mount path, such as jwt or gcp/jwt (no leading or trailing slash)."
  }
  validation {
    condition     = alltrue([for v in values(var.vault_backends) : v.ca_cert_pem == null || can(regex("-----BEGIN CERTIFICATE-----", v.ca_cert_pem))])
    error_message = "vault_backends ca_cert_pem must be PEM certificates (-----BEGIN CERTIFICATE-----)."
  }
}

variable "vault_auth_secrets" {
  description = "AppRole secret IDs and Vault tokens by vault_backends name (auth methods approle and token), stored as the latest version of the backend's Secret Manager secret and so in Terraform state. Leave a backend out to add the version with gcloud instead."
  type        = map(string)
  default     = {}
  sensitive   = true

  validation {
    condition     = alltrue([for v in values(var.vault_auth_secrets) : length(trimspace(v)) > 0])
    error_message = "vault_auth_secrets values must not be empty."
  }
}

variable "awspca_backends" {
  description = "AWS Private CA backends by name, added to the profiles' \"backends\" object; a profile picks one with \"backend\": NAME. Each: ca_arn, role_arn (assumed with the service accounts' Google ID tokens, STS AssumeRoleWithWebIdentity), audience (the tokens' aud, the trust policy's accounts.google.com:oaud), template_arn, region and signing_algorithm (optional)."
  type = map(object({
    ca_arn            = string
    role_arn          = string
    audience          = string
    template_arn      = optional(string)
    region            = optional(string)
    signing_algorithm = optional(string)
  }))
  default = {}

  validation {
    condition     = alltrue([for k in keys(var.awspca_backends) : can(regex("^[a-z0-9][a-z0-9-]{0,39}$", k)) && !contains(["cas", "local"], k)])
    error_message = "awspca_backends names must be 1-40 lowercase letters, digits or hyphens, starting with a letter or digit, and not \"cas\" or \"local\" (reserved for the deployment's own CA)."
  }
  validation {
    condition     = alltrue([for v in values(var.awspca_backends) : can(regex("^arn:aws[a-z-]*:acm-pca:[a-z0-9-]+:[0-9]{12}:certificate-authority/[A-Za-z0-9-]+$", v.ca_arn))])
    error_message = "awspca_backends ca_arn must be arn:aws:acm-pca:REGION:ACCOUNT:certificate-authority/ID."
  }
  validation {
    condition     = alltrue([for v in values(var.awspca_backends) : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]+$", v.role_arn))])
    error_message = "awspca_backends role_arn must be an IAM role ARN, arn:aws:iam::ACCOUNT:role/NAME."
  }
  validation {
    condition     = alltrue([for v in values(var.awspca_backends) : length(trimspace(v.audience)) > 0])
    error_message = "awspca_backends audience is required: the ID-token audience the role's trust policy names (accounts.google.com:oaud), e.g. sts.amazonaws.com."
  }
  validation {
    condition     = alltrue([for v in values(var.awspca_backends) : v.template_arn == null || can(regex("^arn:aws[a-z-]*:acm-pca:::template/[A-Za-z0-9_]+/V[0-9]+$", v.template_arn))])
    error_message = "awspca_backends template_arn must be arn:aws:acm-pca:::template/NAME/VN, e.g. arn:aws:acm-pca:::template/EndEntityServerAuthCertificate/V1."
  }
  validation {
    condition     = alltrue([for v in values(var.awspca_backends) : v.region == null || try(v.region == split(":", v.ca_arn)[3], false)])
    error_message = "awspca_backends region, when set, must be the region of ca_arn."
  }
  validation {
    # null derives the algorithm from the CA's key (Terraform < 1.12 does not short-circuit ||).
    condition = alltrue([for v in values(var.awspca_backends) : contains([
      "SHA256WITHECDSA", "SHA384WITHECDSA", "SHA512WITHECDSA", "SHA256WITHRSA", "SHA384WITHRSA", "SHA512WITHRSA",
      "SHA256WITHRSA_PSS", "SHA384WITHRSA_PSS", "SHA512WITHRSA_PSS", "SM3WITHSM2", "ML_DSA_44", "ML_DSA_65", "ML_DSA_87",
    ], coalesce(v.signing_algorithm, "SHA256WITHECDSA"))])
    error_message = "awspca_backends signing_algorithm must be an AWS Private CA SigningAlgorithm such as SHA256WITHECDSA or SHA256WITHRSA (null derives it from the CA's key)."
  }
}

variable "adcs_backends" {
  description = "Microsoft AD CS enterprise CAs by name, reached through their Web Enrollment pages (certsrv), added to the profiles' \"backends\" object; a profile picks one with \"backend\": NAME. Each: base_url (https://HOST[/certsrv]), template (the template's name), auth: method kerberos (realm, kdc host:port list, spn) or ntlm (domain), username, credential keytab (kerberos only, the default there) or password (in adcs_auth_secrets); revocation none (default) or dcom (needs ca_name), approval_deadline (a Go duration, default 24h), ca_bundle_pem (roots of IIS's TLS certificate, mounted from Secret Manager)."
  type = map(object({
    base_url = string
    template = optional(string)
    auth = object({
      method     = string
      username   = string
      credential = optional(string)
      realm      = optional(string)
      kdc        = optional(list(string))
      spn        = optional(string)
      domain     = optional(string)
    })
    revocation        = optional(string)
    ca_name           = optional(string)
    approval_deadline = optional(string)
    ca_bundle_pem     = optional(string)
  }))
  default = {}

  validation {
    condition     = alltrue([for k in keys(var.adcs_backends) : can(regex("^[a-z0-9][a-z0-9-]{0,39}$", k)) && !contains(["cas", "local"], k)])
    error_message = "adcs_backends names must be 1-40 lowercase letters, digits or hyphens, starting with a letter or digit, and not \"cas\" or \"local\" (reserved for the deployment's own CA)."
  }
  validation {
    condition     = alltrue([for v in values(var.adcs_backends) : can(regex("^https://(\\[[0-9A-Fa-f:]+\\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?(/[^\\s?#]*)?$", v.base_url))])
    error_message = "adcs_backends base_url must be https://HOST[/certsrv] (https only)."
  }
  validation {
    condition     = alltrue([for v in values(var.adcs_backends) : v.template == null || can(regex("^[^\\r\\n:]+$", coalesce(v.template, "x")))])
    error_message = "adcs_backends template must be a template name (not its display name): not empty, no colon or line break."
  }
  validation {
    condition     = alltrue([for v in values(var.adcs_backends) : contains(["kerberos", "ntlm"], v.auth.method)])
    error_message = "adcs_backends auth.method must be kerberos or ntlm."
  }
  validation {
    condition     = alltrue([for v in values(var.adcs_backends) : length(trimspace(v.auth.username)) > 0])
    error_message = "adcs_backends auth.username is required (the service account's name, without realm or domain)."
  }
  validation {
    condition = alltrue([for v in values(var.adcs_backends) :
      v.auth.method != "kerberos" || (length(trimspace(coalesce(v.auth.realm, " "))) > 0 && length(coalesce(v.auth.kdc, [])) > 0)
    ])
    error_message = "adcs_backends auth method kerberos needs realm (the AD domain in capitals) and kdc (host:port of the KDCs, e.g. [\"dc01.corp.example:88\"])."
  }
  validation {
    condition = alltrue(flatten([for v in values(var.adcs_backends) : [
      for kdc in coalesce(v.auth.kdc, []) : can(regex("^(\\[[0-9A-Fa-f:]+\\]|[A-Za-z0-9.-]+):[0-9]{1,5}$", kdc))
    ]]))
    error_message = "adcs_backends auth.kdc entries must be host:port, e.g. dc01.corp.example:88."
  }
  validation {
    condition     = alltrue([for v in values(var.adcs_backends) : v.auth.spn == null || startswith(coalesce(v.auth.spn, "HTTP/"), "HTTP/")])
    error_message = "adcs_backends auth.spn must be HTTP/<web server host> (null means HTTP/<base_url host>)."
  }
  validation {
    condition = alltrue([for v in values(var.adcs_backends) :
      v.auth.method != "ntlm" || (length(trimspace(coalesce(v.auth.domain, " "))) > 0 && v.auth.realm == null && v.auth.kdc == null && v.auth.spn == null)
    ])
    error_message = "adcs_backends auth method ntlm needs domain (the NetBIOS domain) and takes no realm, kdc or spn."
  }
  validation {
    condition = alltrue([for v in values(var.adcs_backends) :
      contains(v.auth.method == "kerberos" ? ["keytab", "password"] : ["password"], coalesce(v.auth.credential, v.auth.method == "kerberos" ? "keytab" : "password"))
    ])
    error_message = "adcs_backends auth.credential must be keytab (kerberos only; the default there) or password (the default with ntlm)."
  }
  validation {
    condition     = alltrue([for v in values(var.adcs_backends) : contains(["none", "dcom"], coalesce(v.revocation, "none"))])
    error_message = "adcs_backends revocation must be none (Web Enrollment cannot revoke; the default) or dcom (MS-CSRA over DCOM)."
  }
  validation {
    condition     = alltrue([for v in values(var.adcs_backends) : v.revocation != "dcom" || length(trimspace(coalesce(v.ca_name, " "))) > 0])
    error_message = "adcs_backends ca_name is required with revocation dcom (the CA's name, as in certutil -config HOST\\NAME)."
  }
  validation {
    condition = alltrue([for v in values(var.adcs_backends) :
      v.approval_deadline == null || (can(regex("^(([0-9]+(\\.[0-9]*)?|\\.[0-9]+)(ns|us|µs|ms|s|m|h))+$", coalesce(v.approval_deadline, "24h"))) && can(regex("[1-9]", coalesce(v.approval_deadline, "24h"))))
    ])
    error_message = "adcs_backends approval_deadline must be a positive Go duration such as 24h or 90m."
  }
  validation {
    condition     = alltrue([for v in values(var.adcs_backends) : v.ca_bundle_pem == null || can(regex("-----BEGIN CERTIFICATE-----", coalesce(v.ca_bundle_pem, "x")))])
    error_message = "adcs_backends ca_bundle_pem must be PEM certificates (-----BEGIN CERTIFICATE-----)."
  }
}

variable "adcs_auth_secrets" {
  description = "Credentials by adcs_backends name: the base64 of the keytab (filebase64(\"svc-acmera.keytab\"); auth.credential keytab) or the password (credential password), stored as the latest version of the backend's Secret Manager secret and so in Terraform state. Leave a backend out to add the version with gcloud instead."
  type        = map(string)
  default     = {}
  sensitive   = true

  validation {
    condition     = alltrue([for v in values(var.adcs_auth_secrets) : length(trimspace(v)) > 0])
    error_message = "adcs_auth_secrets values must not be empty."
  }
}

variable "acme_vpc_egress_traffic" {
  description = "Which ACME-service traffic goes through the VPC (vpc_egress) when vault_backends, awspca_backends or adcs_backends are set, so finalize reaches the CA: PRIVATE_RANGES_ONLY (a CA on private addresses, over VPN or Interconnect) or ALL_TRAFFIC (a CA only private DNS resolves, or one that allow-lists the VPC's Cloud NAT address). The validator keeps vpc_egress_traffic."
  type        = string
  default     = "PRIVATE_RANGES_ONLY"

  validation {
    condition     = contains(["ALL_TRAFFIC", "PRIVATE_RANGES_ONLY"], var.acme_vpc_egress_traffic)
    error_message = "acme_vpc_egress_traffic must be ALL_TRAFFIC or PRIVATE_RANGES_ONLY."
  }
}

# ---------------------------------------------------------------- internal load balancer

variable "create_internal_lb" {
  description = "Create a regional internal Application Load Balancer in front of the ACME service (for cert-manager in GKE)."
  type        = bool
  default     = false
}

variable "lb_hostname" {
  description = "DNS name of the internal load balancer, covered by its certificate; the directory URL is built from it."
  type        = string
  default     = null

  validation {
    condition     = var.lb_hostname == null || can(regex("^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$", var.lb_hostname))
    error_message = "lb_hostname must be a lowercase DNS name such as acme.internal.example.com."
  }
}

variable "lb_ip_address" {
  description = "Internal IPv4 address in subnetwork for the load balancer. Null lets Google pick one (reserved either way)."
  type        = string
  default     = null
}

variable "proxy_only_subnet_cidr" {
  description = "Create the REGIONAL_MANAGED_PROXY subnet the internal load balancer needs, with this range. Null when the network already has one in var.region."
  type        = string
  default     = null

  validation {
    condition     = var.proxy_only_subnet_cidr == null || can(cidrnetmask(var.proxy_only_subnet_cidr))
    error_message = "proxy_only_subnet_cidr must be an IPv4 CIDR range such as 10.129.0.0/23."
  }
}

variable "lb_ssl_certificate_id" {
  description = "Existing regional SSL certificate (self link or ID) for the load balancer, instead of lb_ssl_certificate and lb_ssl_private_key."
  type        = string
  default     = null
}

variable "lb_ssl_certificate" {
  description = "PEM certificate chain of lb_hostname for the load balancer."
  type        = string
  default     = null
}

variable "lb_ssl_private_key" {
  description = "PEM private key of lb_ssl_certificate. Stored in Terraform state."
  type        = string
  default     = null
  sensitive   = true
}

# ---------------------------------------------------------------- monitoring

variable "enable_monitoring" {
  description = "Export acmera's metrics to Cloud Monitoring (ACMERA_METRICS=cloudmonitoring, roles/monitoring.metricWriter for both services) and create its dashboard and alert policies; false sets ACMERA_METRICS=off and creates none of them."
  type        = bool
  default     = true
}

variable "monitoring_notification_channels" {
  description = "Notification channel IDs (projects/P/notificationChannels/N) the alert policies notify; empty creates the policies without notifications (they still open incidents)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.monitoring_notification_channels : can(regex("^projects/[^/]+/notificationChannels/[^/]+$", c))])
    error_message = "monitoring_notification_channels entries must be projects/P/notificationChannels/N."
  }
}

variable "monitoring_alert_thresholds" {
  description = "Thresholds of the alert policies: the share of finalizes that end other than issued, failed validations per second, the share of CA calls that fail transiently (per backend), the p95 finalize latency in seconds, and the validation queue's depth in tasks."
  type = object({
    issuance_error_ratio      = optional(number, 0.05)
    validation_failures_per_s = optional(number, 0.5)
    ca_transient_ratio        = optional(number, 0.5)
    finalize_p95_seconds      = optional(number, 30)
    queue_depth               = optional(number, 1000)
  })
  default = {}

  validation {
    condition = (var.monitoring_alert_thresholds.issuance_error_ratio > 0 && var.monitoring_alert_thresholds.issuance_error_ratio <= 1 &&
      var.monitoring_alert_thresholds.ca_transient_ratio > 0 && var.monitoring_alert_thresholds.ca_transient_ratio <= 1 &&
      var.monitoring_alert_thresholds.validation_failures_per_s > 0 && var.monitoring_alert_thresholds.finalize_p95_seconds > 0 &&
    var.monitoring_alert_thresholds.queue_depth > 0)
    error_message = "monitoring_alert_thresholds: the ratios must be in (0, 1], the other values positive."
  }
}
