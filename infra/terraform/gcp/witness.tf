# The write-once witness of the ledger (issue 14): the broker copies every
# signed checkpoint here, and an auditor verifies with the newest one as the
# trust anchor (`keyhold audit verify --witness gs://BUCKET/PREFIX/`), so
# someone who can write the Firestore database cannot make the ledger end
# earlier or rewrite what a checkpoint covers. The retention policy is
# locked: objects cannot be deleted or replaced until they reach the period,
# and the policy can no longer be removed or shortened
# (https://cloud.google.com/storage/docs/bucket-lock). Locking is
# irreversible; the broker refuses to write to a bucket that is not locked.
resource "google_storage_bucket" "ledger_witness" {
  project                     = var.project_id
  name                        = local.witness_bucket
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false

  retention_policy {
    is_locked        = true
    retention_period = var.witness_retention_days * 86400
  }
}

# Create objects and read the bucket's retention policy, nothing else: no
# predefined role is that small (objectCreator cannot read the bucket's
# policy; objectAdmin can delete once retention ends and overwrite).
resource "google_project_iam_custom_role" "witness_writer" {
  project     = var.project_id
  role_id     = "keyholdWitnessWriter"
  title       = "keyhold witness writer"
  description = "Create checkpoint copies in the keyhold witness bucket and check that its retention is locked."
  permissions = [
    "storage.buckets.get",
    "storage.objects.create",
  ]
}

resource "google_storage_bucket_iam_member" "witness_writer" {
  bucket = google_storage_bucket.ledger_witness.name
  role   = google_project_iam_custom_role.witness_writer.id
  member = local.broker_member
}
