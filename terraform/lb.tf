# Optional regional internal Application Load Balancer in front of the ACME
# service, so clients inside the VPC (cert-manager in GKE) reach acmera at a
# stable private address and a hostname of their own:
# forwarding rule -> HTTPS proxy (certificate) -> URL map -> backend service ->
# serverless NEG -> Cloud Run "acme".

locals {
  lb_count = var.create_internal_lb ? 1 : 0
}

resource "google_compute_subnetwork" "proxy_only" {
  count = var.create_internal_lb && var.proxy_only_subnet_cidr != null ? 1 : 0

  project       = var.project_id
  region        = var.region
  name          = "${var.name_prefix}-proxy-only"
  network       = var.network
  ip_cidr_range = var.proxy_only_subnet_cidr
  purpose       = "REGIONAL_MANAGED_PROXY"
  role          = "ACTIVE"

  depends_on = [google_project_service.this]
}

resource "google_compute_region_network_endpoint_group" "acme" {
  count = local.lb_count

  project               = var.project_id
  region                = var.region
  name                  = "${var.name_prefix}-acme-neg"
  network_endpoint_type = "SERVERLESS"

  cloud_run {
    service = google_cloud_run_v2_service.acme.name
  }
}

resource "google_compute_region_backend_service" "acme" {
  count = local.lb_count

  project               = var.project_id
  region                = var.region
  name                  = "${var.name_prefix}-acme-backend"
  load_balancing_scheme = "INTERNAL_MANAGED"
  protocol              = "HTTPS"

  backend {
    group           = google_compute_region_network_endpoint_group.acme[0].id
    balancing_mode  = "UTILIZATION"
    capacity_scaler = 1.0
  }

  log_config {
    enable      = true
    sample_rate = 1.0
  }
}

resource "google_compute_region_url_map" "acme" {
  count = local.lb_count

  project         = var.project_id
  region          = var.region
  name            = "${var.name_prefix}-acme-urlmap"
  default_service = google_compute_region_backend_service.acme[0].id
}

resource "google_compute_region_ssl_certificate" "acme" {
  count = var.create_internal_lb && var.lb_ssl_certificate_id == null ? 1 : 0

  project     = var.project_id
  region      = var.region
  name_prefix = "${var.name_prefix}-acme-"
  certificate = var.lb_ssl_certificate
  private_key = var.lb_ssl_private_key

  lifecycle {
    create_before_destroy = true
  }
}

resource "google_compute_region_target_https_proxy" "acme" {
  count = local.lb_count

  project = var.project_id
  region  = var.region
  name    = "${var.name_prefix}-acme-https"
  url_map = google_compute_region_url_map.acme[0].id
  ssl_certificates = [
    var.lb_ssl_certificate_id != null ? var.lb_ssl_certificate_id : google_compute_region_ssl_certificate.acme[0].id
  ]
}

resource "google_compute_address" "lb" {
  count = local.lb_count

  project      = var.project_id
  region       = var.region
  name         = "${var.name_prefix}-acme-ilb"
  address_type = "INTERNAL"
  subnetwork   = var.subnetwork
  address      = var.lb_ip_address
  labels       = local.labels
}

resource "google_compute_forwarding_rule" "acme" {
  count = local.lb_count

  project               = var.project_id
  region                = var.region
  name                  = "${var.name_prefix}-acme-https"
  load_balancing_scheme = "INTERNAL_MANAGED"
  ip_protocol           = "TCP"
  port_range            = "443"
  target                = google_compute_region_target_https_proxy.acme[0].id
  network               = var.network
  subnetwork            = var.subnetwork
  ip_address            = google_compute_address.lb[0].address
  labels                = local.labels

  depends_on = [google_compute_subnetwork.proxy_only]
}
