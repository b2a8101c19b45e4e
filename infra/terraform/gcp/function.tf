data "archive_file" "bundle" {
  type        = "zip"
  source_dir  = local.bundle_dir
  output_path = "${path.module}/.build/gcp.zip"
}

resource "google_storage_bucket" "source" {
  project                     = var.project_id
  name                        = "${var.project_id}-${var.function_name}-source"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"

  depends_on = [google_project_service.required]
}

# Named by content hash so a new build is a new object, which is what makes
# the function redeploy.
resource "google_storage_bucket_object" "source" {
  bucket = google_storage_bucket.source.name
  name   = "keyhold-${data.archive_file.bundle.output_md5}.zip"
  source = data.archive_file.bundle.output_path
}

resource "google_cloudfunctions2_function" "broker" {
  project     = var.project_id
  name        = var.function_name
  location    = var.region
  description = "keyhold key-custody broker"

  build_config {
    runtime     = "nodejs22"
    entry_point = "keyhold"

    source {
      storage_source {
        bucket = google_storage_bucket.source.name
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    max_instance_count             = var.max_instance_count
    min_instance_count             = 0
    available_memory               = var.available_memory
    timeout_seconds                = var.timeout_seconds
    ingress_settings               = var.ingress_settings
    all_traffic_on_latest_revision = true
    service_account_email          = google_service_account.broker.email

    # Names and tunables only. Secret values are read at start from Secret
    # Manager with the service account's permissions; environment variables
    # are visible to anyone who can view the function.
    environment_variables = {
      KEYHOLD_RUNTIME                  = "gcp-functions"
      KEYHOLD_STATE_STORE              = "firestore"
      KEYHOLD_FIRESTORE_DATABASE       = google_firestore_database.state.name
      KEYHOLD_KEY_STORES               = "gcp-secret-manager"
      KEYHOLD_GCP_PROJECT              = var.project_id
      KEYHOLD_GCP_SECRET_PREFIX        = var.secret_prefix
      KEYHOLD_SIGNING_KEY_SECRET       = google_secret_manager_secret.signing_key.id
      KEYHOLD_CLUSTERS                 = jsonencode(var.clusters)
      KEYHOLD_GRANT_TTL_SECONDS        = tostring(var.grant_ttl_seconds)
      KEYHOLD_OUTAGE_TOLERANCE_SECONDS = tostring(var.outage_tolerance_seconds)
      KEYHOLD_MAX_CLOCK_SKEW_SECONDS   = tostring(var.max_clock_skew_seconds)
      KEYHOLD_OPERATOR_ISSUER          = var.operator_issuer
      KEYHOLD_OPERATOR_AUDIENCE        = var.operator_audience
      KEYHOLD_OPERATOR_JWKS_URI        = var.operator_jwks_uri
      KEYHOLD_CHECKPOINT_WITNESS       = "gs://${google_storage_bucket.ledger_witness.name}/${var.witness_prefix}"
    }
  }

  # The identity's grants must exist before the first request.
  depends_on = [
    google_storage_bucket_iam_member.witness_writer,
    google_project_iam_member.validator_secret_accessor,
    google_project_iam_member.validator_secret_version_adder,
    google_project_iam_member.validator_secret_metadata,
    google_project_iam_member.firestore_user,
    google_secret_manager_secret_iam_member.signing_key_accessor,
  ]
}

# Trade-off: pods in other clouds and on-premises clusters have no Google
# identity, so the platform cannot authenticate them; invocation is opened to
# allUsers and the broker authenticates every request itself (pod tokens
# against each cluster's OIDC keys, operator tokens), as on AWS. What this
# costs: anyone can make the function run, so max_instance_count bounds the
# bill and the load on the stores. When every caller is inside GCP, set
# public_invoker = false and ingress_settings = "ALLOW_INTERNAL_ONLY", and
# grant roles/run.invoker to the callers' identities instead.
resource "google_cloud_run_service_iam_member" "public_invoker" {
  count = var.public_invoker ? 1 : 0

  project  = var.project_id
  location = google_cloudfunctions2_function.broker.location
  # A 2nd-gen function is served by a Cloud Run service of the same name;
  # run.invoker on it is what HTTP invocation checks.
  service = google_cloudfunctions2_function.broker.name
  role    = "roles/run.invoker"
  member  = "allUsers"
}
