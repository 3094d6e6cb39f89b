# Validator egress into the VPC, so http-01 and tls-alpn-01 reach private hosts
# and dns-01 queries private (split-horizon) DNS: a Serverless VPC Access
# connector (existing or created here) or Direct VPC egress.

resource "google_vpc_access_connector" "this" {
  count = var.vpc_egress == "connector" && var.vpc_connector_id == null && var.vpc_connector_cidr != null ? 1 : 0

  project       = var.project_id
  region        = var.region
  name          = "${var.name_prefix}-conn"
  network       = var.network
  ip_cidr_range = var.vpc_connector_cidr
  machine_type  = "e2-micro"
  min_instances = 2
  max_instances = 3

  depends_on = [google_project_service.this]
}

locals {
  vpc_connector = (
    var.vpc_egress != "connector" ? null :
    var.vpc_connector_id != null ? var.vpc_connector_id :
    length(google_vpc_access_connector.this) > 0 ? google_vpc_access_connector.this[0].id : null
  )
}
