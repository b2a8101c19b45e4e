# The one authoritative state + ledger store for a GCP deployment
# (designations and hash-chained ledger entries, changed together in
# Firestore transactions). Losing or rolling it back would reset epochs,
# which is how two holders could appear: delete protection on, point-in-time
# recovery on, and `terraform destroy` only forgets it.
resource "google_firestore_database" "state" {
  project     = var.project_id
  name        = var.firestore_database
  location_id = local.firestore_location
  type        = "FIRESTORE_NATIVE"

  concurrency_mode                  = "PESSIMISTIC"
  point_in_time_recovery_enablement = "POINT_IN_TIME_RECOVERY_ENABLED"
  delete_protection_state           = "DELETE_PROTECTION_ENABLED"
  deletion_policy                   = "ABANDON"

  depends_on = [google_project_service.required]
}

# One-time token ids (operator request jti) carry `expireAt`: Firestore's TTL
# policy deletes them after they expire (the broker ignores expired ones).
resource "google_firestore_field" "used_token_ttl" {
  project    = var.project_id
  database   = google_firestore_database.state.name
  collection = "keyhold_used_tokens"
  field      = "expireAt"

  ttl_config {}
  # No single-field index: the broker reads these by id only.
  index_config {}
}
