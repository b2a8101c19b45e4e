# The function's own identity. Not the default compute service account,
# which has roles/editor on the project in many organisations.
resource "google_service_account" "broker" {
  project      = var.project_id
  account_id   = var.function_name
  display_name = "keyhold broker"
  description  = "Runs the keyhold broker function: validator secrets by prefix, the signing key, the keyhold Firestore database."
}

locals {
  broker_member = "serviceAccount:${google_service_account.broker.email}"
}

# Secret Manager roles are granted on the project with an IAM condition on
# the resource name, so one binding covers every validator secret, including
# ones created after this apply, and nothing else
# (https://cloud.google.com/secret-manager/docs/access-control,
# https://cloud.google.com/iam/docs/conditions-resource-attributes).
resource "google_project_iam_member" "validator_secret_accessor" {
  project = var.project_id
  role    = "roles/secretmanager.secretAccessor"
  member  = local.broker_member

  condition {
    title       = "keyhold validator secrets only"
    description = "Secrets whose id starts with ${var.secret_prefix}"
    expression  = "resource.name.startsWith(\"${local.validator_secret_name_prefix}\")"
  }
}

# Import and rotation add versions; nothing more (no destroy, no delete).
resource "google_project_iam_member" "validator_secret_version_adder" {
  project = var.project_id
  role    = "roles/secretmanager.secretVersionAdder"
  member  = local.broker_member

  condition {
    title       = "keyhold validator secrets only"
    description = "Secrets whose id starts with ${var.secret_prefix}"
    expression  = "resource.name.startsWith(\"${local.validator_secret_name_prefix}\")"
  }
}

# The key store reads secret metadata (labels: the ownership marker;
# annotations with their etag: compare-and-swap) and lists versions. No
# predefined role has exactly that: secretmanager.viewer would add list on
# every secret in the project, secretVersionManager would add destroy.
resource "google_project_iam_custom_role" "secret_metadata" {
  project     = var.project_id
  role_id     = "keyholdSecretMetadata"
  title       = "keyhold secret metadata"
  description = "Read and compare-and-swap keyhold secret metadata; list versions."
  permissions = [
    "secretmanager.secrets.get",
    "secretmanager.secrets.update",
    "secretmanager.versions.get",
    "secretmanager.versions.list",
  ]
}

resource "google_project_iam_member" "validator_secret_metadata" {
  project = var.project_id
  role    = google_project_iam_custom_role.secret_metadata.id
  member  = local.broker_member

  condition {
    title       = "keyhold validator secrets only"
    description = "Secrets whose id starts with ${var.secret_prefix}"
    expression  = "resource.name.startsWith(\"${local.validator_secret_name_prefix}\")"
  }
}

# The signing key: read only, granted on that one secret.
resource "google_secret_manager_secret_iam_member" "signing_key_accessor" {
  project   = var.project_id
  secret_id = google_secret_manager_secret.signing_key.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = local.broker_member
}

# Firestore IAM can only be granted on the project: there is no per-database
# binding. The condition on the database name is what keeps the broker out of
# the project's other databases; turn it off with
# restrict_datastore_role_to_database = false only if your organisation's
# policy rejects conditions on this role.
resource "google_project_iam_member" "firestore_user" {
  project = var.project_id
  role    = "roles/datastore.user"
  member  = local.broker_member

  dynamic "condition" {
    for_each = var.restrict_datastore_role_to_database ? [1] : []
    content {
      title       = "keyhold database only"
      description = "The ${var.firestore_database} Firestore database"
      expression  = "resource.name == \"projects/${var.project_id}/databases/${google_firestore_database.state.name}\""
    }
  }
}
