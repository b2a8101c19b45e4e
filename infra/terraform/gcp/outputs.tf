output "url" {
  description = "Base URL of the broker for pods and the CLI."
  value       = google_cloudfunctions2_function.broker.service_config[0].uri
}

output "function_name" {
  description = "Name of the broker function."
  value       = google_cloudfunctions2_function.broker.name
}

output "service_account_email" {
  description = "The broker's service account."
  value       = google_service_account.broker.email
}

output "firestore_database" {
  description = "Firestore state + ledger database."
  value       = google_firestore_database.state.name
}

output "signing_key_secret" {
  description = "Secret to add the broker signing key to (out of band)."
  value       = google_secret_manager_secret.signing_key.id
}

output "validator_secret_name_prefix" {
  description = "Resource-name prefix the broker's secret grants are conditioned on."
  value       = local.validator_secret_name_prefix
}

output "source_bucket" {
  description = "Bucket holding the function's source archives."
  value       = google_storage_bucket.source.name
}

output "witness_url" {
  description = "For auditors: keyhold audit verify --witness <this>, with storage.buckets.get, storage.objects.list and storage.objects.get on the bucket (roles/storage.objectViewer plus the bucket read)."
  value       = "gs://${google_storage_bucket.ledger_witness.name}/${var.witness_prefix}"
}
