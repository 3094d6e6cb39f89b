# Two Cloud Run services from one image; FUNCTION_TARGET (the functions-framework
# convention) picks the function: ACME (the RFC 8555 front end and RA) or
# Validate (the Cloud Tasks target).

locals {
  run_ingress = {
    "internal"                          = "INGRESS_TRAFFIC_INTERNAL_ONLY"
    "internal-and-cloud-load-balancing" = "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"
  }[var.ingress]

  # Plain configuration shared by both functions.
  common_env = merge(
    {
      GOOGLE_CLOUD_PROJECT         = var.project_id
      ACMERA_FIRESTORE_DATABASE    = local.firestore_database
      ACMERA_CAS_POOL              = local.ca_pool_id
      ACMERA_TASKS_QUEUE           = local.queue_id
      ACMERA_TASKS_SERVICE_ACCOUNT = local.tasks_email
      ACMERA_VALIDATOR_URL         = local.validator_url
      ACMERA_BASE_URL              = local.base_url
      ACMERA_METRICS               = var.enable_monitoring ? "cloudmonitoring" : "off"
    },
    var.profiles_json != null ? { ACMERA_PROFILES_JSON = local.profiles_json_env } : {},
    var.profiles_allow_any ? { ACMERA_PROFILES_ALLOW_ANY = "true" } : {},
  )

  validator_env = merge(
    local.common_env,
    length(var.resolvers) > 0 ? { ACMERA_RESOLVERS = join(",", var.resolvers) } : {},
    length(var.validation_networks) > 0 ? { ACMERA_VALIDATION_NETWORKS = join(",", var.validation_networks) } : {},
  )

  # Configuration read from Secret Manager (latest version). Only the ACME
  # function serves nonces, so only it reads the nonce key.
  validator_secret_env = var.profiles_secret_id != null ? { ACMERA_PROFILES_JSON = var.profiles_secret_id } : {}
  acme_secret_env = merge(
    { ACMERA_NONCE_KEY = google_secret_manager_secret.nonce_key.secret_id },
    local.validator_secret_env,
  )
}

resource "google_cloud_run_v2_service" "acme" {
  project             = var.project_id
  name                = local.acme_service_name
  location            = var.region
  ingress             = local.run_ingress
  labels              = local.labels
  deletion_protection = var.deletion_protection

  # ACME clients authenticate with JWS (RFC 8555 §6.2), not Google identity
  # tokens; the network (ingress) is the perimeter.
  invoker_iam_disabled = var.acme_allow_unauthenticated

  template {
    service_account                  = google_service_account.acme.email
    timeout                          = "60s"
    max_instance_request_concurrency = 80
    labels                           = local.labels

    scaling {
      min_instance_count = var.acme_scaling.min_instances
      max_instance_count = var.acme_scaling.max_instances
    }

    # Finalize reaches a Vault, AWS Private CA or AD CS backend through the same
    # connector or subnetwork as the validator (backends.tf); only private
    # ranges unless acme_vpc_egress_traffic asks for all traffic.
    dynamic "vpc_access" {
      for_each = local.acme_vpc_access && var.vpc_egress == "connector" ? [1] : []
      content {
        connector = local.vpc_connector
        egress    = var.acme_vpc_egress_traffic
      }
    }

    dynamic "vpc_access" {
      for_each = local.acme_vpc_access && var.vpc_egress == "direct" ? [1] : []
      content {
        egress = var.acme_vpc_egress_traffic
        network_interfaces {
          network    = var.network
          subnetwork = var.subnetwork
          tags       = ["${var.name_prefix}-acme"]
        }
      }
    }

    # Files the CA backends read (backends.tf), one secret per directory.
    dynamic "volumes" {
      for_each = local.backend_files
      content {
        name = volumes.key
        secret {
          secret = google_secret_manager_secret.backend[volumes.key].secret_id
          items {
            path    = volumes.value.file
            version = "latest"
          }
        }
      }
    }

    containers {
      image = var.image

      ports {
        container_port = 8080
      }

      resources {
        limits = {
          cpu    = var.container_resources.cpu
          memory = var.container_resources.memory
        }
        cpu_idle          = true
        startup_cpu_boost = true
      }

      dynamic "volume_mounts" {
        for_each = local.backend_files
        content {
          name       = volume_mounts.key
          mount_path = "/secrets/${volume_mounts.key}"
        }
      }

      env {
        name  = "FUNCTION_TARGET"
        value = "ACME"
      }

      dynamic "env" {
        for_each = local.common_env
        content {
          name  = env.key
          value = env.value
        }
      }

      dynamic "env" {
        for_each = local.acme_secret_env
        content {
          name = env.key
          value_source {
            secret_key_ref {
              secret  = env.value
              version = "latest"
            }
          }
        }
      }
    }
  }

  depends_on = [
    google_project_service.this,
    google_cloud_tasks_queue.validations,
    google_privateca_certificate_authority.root,
    google_secret_manager_secret_iam_member.nonce_key,
    google_secret_manager_secret_iam_member.profiles,
    google_secret_manager_secret_version.nonce_key,
    google_secret_manager_secret_iam_member.backend,
    google_secret_manager_secret_version.backend_ca,
    google_secret_manager_secret_version.backend_auth,
  ]
}

resource "google_cloud_run_v2_service" "validator" {
  project             = var.project_id
  name                = local.validator_service_name
  location            = var.region
  ingress             = local.run_ingress
  labels              = local.labels
  deletion_protection = var.deletion_protection

  # Never public: only the tasks service account may invoke it (iam.tf), and
  # the function verifies the OIDC token's audience and email itself.
  invoker_iam_disabled = false

  template {
    service_account = google_service_account.validator.email
    # A validation does bounded network I/O (10 s per attempt, a few retries);
    # a finalize retry waits on the CA.
    timeout                          = "300s"
    max_instance_request_concurrency = 40
    labels                           = local.labels

    scaling {
      min_instance_count = var.validator_scaling.min_instances
      max_instance_count = var.validator_scaling.max_instances
    }

    dynamic "vpc_access" {
      for_each = var.vpc_egress == "connector" ? [1] : []
      content {
        connector = local.vpc_connector
        egress    = var.vpc_egress_traffic
      }
    }

    dynamic "vpc_access" {
      for_each = var.vpc_egress == "direct" ? [1] : []
      content {
        egress = var.vpc_egress_traffic
        network_interfaces {
          network    = var.network
          subnetwork = var.subnetwork
          tags       = ["${var.name_prefix}-validator"]
        }
      }
    }

    # Files the CA backends read (backends.tf), one secret per directory.
    dynamic "volumes" {
      for_each = local.backend_files
      content {
        name = volumes.key
        secret {
          secret = google_secret_manager_secret.backend[volumes.key].secret_id
          items {
            path    = volumes.value.file
            version = "latest"
          }
        }
      }
    }

    containers {
      image = var.image

      ports {
        container_port = 8080
      }

      resources {
        limits = {
          cpu    = var.container_resources.cpu
          memory = var.container_resources.memory
        }
        cpu_idle          = true
        startup_cpu_boost = true
      }

      dynamic "volume_mounts" {
        for_each = local.backend_files
        content {
          name       = volume_mounts.key
          mount_path = "/secrets/${volume_mounts.key}"
        }
      }

      env {
        name  = "FUNCTION_TARGET"
        value = "Validate"
      }

      dynamic "env" {
        for_each = local.validator_env
        content {
          name  = env.key
          value = env.value
        }
      }

      dynamic "env" {
        for_each = local.validator_secret_env
        content {
          name = env.key
          value_source {
            secret_key_ref {
              secret  = env.value
              version = "latest"
            }
          }
        }
      }
    }
  }

  depends_on = [
    google_project_service.this,
    google_cloud_tasks_queue.validations,
    google_privateca_certificate_authority.root,
    google_secret_manager_secret_iam_member.nonce_key,
    google_secret_manager_secret_iam_member.profiles,
    google_secret_manager_secret_version.nonce_key,
    google_secret_manager_secret_iam_member.backend,
    google_secret_manager_secret_version.backend_ca,
    google_secret_manager_secret_version.backend_auth,
  ]
}
