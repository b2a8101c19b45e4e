# The broker's grant-signing key. Terraform creates only the container: a
# version in Terraform would sit in plan files and state in clear text. Add
# the value out of band (see ../README.md); until then the broker refuses to
# start.
resource "google_secret_manager_secret" "signing_key" {
  project   = var.project_id
  secret_id = var.signing_key_secret_id
  labels    = local.owner_labels

  replication {
    auto {}
  }

  lifecycle {
    # Deleting a Secret Manager secret is immediate and final.
    prevent_destroy = true

    # The broker may add versions to every secret under the validator prefix.
    # If the signing key lived there too, it could replace the key that makes
    # its own grants trustworthy.
    precondition {
      condition     = !startswith(var.signing_key_secret_id, var.secret_prefix)
      error_message = "signing_key_secret_id must not start with secret_prefix: the broker can add versions to every secret under the prefix."
    }
  }

  depends_on = [google_project_service.required]
}

# Containers for validators' key material (keyhold-validators-<validator-id>),
# without versions: `keyhold import` adds the material through the broker,
# whose service account may add versions but not create secrets.
resource "google_secret_manager_secret" "validator" {
  for_each = var.validator_ids

  project   = var.project_id
  secret_id = "${var.secret_prefix}${each.value}"
  labels    = merge(local.owner_labels, { "keyhold-validator" = each.value })

  replication {
    auto {}
  }

  lifecycle {
    # Deleting one would destroy a validator's key material for good.
    prevent_destroy = true
  }

  depends_on = [google_project_service.required]
}
