data "google_project" "this" {
  project_id = var.project_id
}

locals {
  # Secret Manager names resources in IAM conditions by project *number*
  # (projects/<number>/secrets/<id>[/versions/<v>]), not by project id
  # (https://cloud.google.com/iam/docs/conditions-resource-attributes).
  # startsWith() on the secret name also covers its versions.
  validator_secret_name_prefix = "projects/${data.google_project.this.number}/secrets/${var.secret_prefix}"

  # The ownership marker on every secret keyhold owns (label keys must be
  # lower case, no ':').
  owner_labels = { "keyhold-owner" = "keyhold" }

  firestore_location = coalesce(var.firestore_location, var.region)

  # Bucket names are global: the default carries the project id.
  witness_bucket = var.witness_bucket_name != "" ? var.witness_bucket_name : "${var.project_id}-keyhold-witness"

  bundle_dir = startswith(var.bundle_dir, "/") ? var.bundle_dir : "${path.module}/${var.bundle_dir}"
}

# Leave the APIs on when this is destroyed: other workloads in the project
# may use them.
resource "google_project_service" "required" {
  for_each = toset([
    "artifactregistry.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudfunctions.googleapis.com",
    "firestore.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "storage.googleapis.com",
  ])

  project            = var.project_id
  service            = each.value
  disable_on_destroy = false
}
