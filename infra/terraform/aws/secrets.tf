# The broker's grant-signing key. Terraform creates only the container: a
# value in Terraform would sit in plan files and state in clear text. Set it
# out of band (see ../README.md); until then the broker refuses to start.
resource "aws_secretsmanager_secret" "signing_key" {
  name                    = var.signing_key_secret_name
  description             = "keyhold broker grant-signing key (value set out of band)"
  kms_key_id              = aws_kms_key.keyhold.arn
  recovery_window_in_days = 30

  tags = {
    (local.owner_tag_key) = local.owner_tag_value
  }

  lifecycle {
    # The broker may write anything under the validator prefix. If the
    # signing key lived there too, a compromised broker path could replace
    # the key that makes its own grants trustworthy.
    precondition {
      condition     = !startswith(var.signing_key_secret_name, var.secret_prefix)
      error_message = "signing_key_secret_name must not start with secret_prefix: the broker can write every secret under the prefix."
    }
  }
}

# Validators' key material (keyhold/validators/<validator-id>) is not declared
# here: the broker creates those secrets on import, tagged with the ownership
# marker, which is the only way its role is allowed to create them.
