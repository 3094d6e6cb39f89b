# Firestore: the storage authority's database, TTL policies and composite indexes.

resource "google_firestore_database" "this" {
  count = var.create_firestore_database ? 1 : 0

  project                 = var.project_id
  name                    = var.firestore_database_id
  location_id             = coalesce(var.firestore_location, var.region)
  type                    = "FIRESTORE_NATIVE"
  concurrency_mode        = "OPTIMISTIC"
  delete_protection_state = var.firestore_delete_protection ? "DELETE_PROTECTION_ENABLED" : "DELETE_PROTECTION_DISABLED"
  deletion_policy         = var.firestore_delete_protection ? "ABANDON" : "DELETE"

  depends_on = [google_project_service.this]
}

locals {
  firestore_database = var.create_firestore_database ? google_firestore_database.this[0].name : var.firestore_database_id

  # Every document carries expireAt so Firestore deletes it by itself; TTL
  # deletion can lag by a day, so the code checks expiry too. Nonces and
  # rate-limit counters are looked up by ID only, so their expireAt needs
  # no single-field index.
  ttl_collections = {
    nonces         = false
    rateLimits     = false
    orders         = true
    authorizations = true
    certificates   = true
  }

  # The composite indexes the store's queries need, listed by the store's
  # maintainers next to this module. Each entry:
  #   {"collection": "orders", "queryScope": "COLLECTION" (optional),
  #    "fields": [{"path": "accountId", "order": "ASCENDING"} | {"path": "x", "arrayConfig": "CONTAINS"}]}
  firestore_indexes = {
    for idx in jsondecode(file("${path.module}/firestore_indexes.json")) :
    join(":", concat([idx.collection], [for f in idx.fields : "${f.path}-${lookup(f, "order", lookup(f, "arrayConfig", ""))}"])) => idx
  }
}

resource "google_firestore_field" "ttl" {
  for_each = local.ttl_collections

  project    = var.project_id
  database   = local.firestore_database
  collection = each.key
  field      = "expireAt"

  ttl_config {}

  # An empty index_config exempts the field from single-field indexing.
  dynamic "index_config" {
    for_each = each.value ? [] : [1]
    content {}
  }
}

resource "google_firestore_index" "composite" {
  for_each = local.firestore_indexes

  project     = var.project_id
  database    = local.firestore_database
  collection  = each.value.collection
  query_scope = lookup(each.value, "queryScope", "COLLECTION")

  dynamic "fields" {
    for_each = each.value.fields
    content {
      field_path   = fields.value.path
      order        = lookup(fields.value, "order", null)
      array_config = lookup(fields.value, "arrayConfig", null)
    }
  }
}
