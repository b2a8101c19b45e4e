data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  # S3 bucket names are global: the default carries the account and region.
  witness_bucket = var.witness_bucket_name != "" ? var.witness_bucket_name : "keyhold-witness-${local.account_id}-${var.region}"
  partition      = data.aws_partition.current.partition
  region         = data.aws_region.current.region

  # The ownership marker the broker puts on every secret it creates, and the
  # only secrets it may write. Mirrors External Secrets Operator: refuse to
  # overwrite what you do not own.
  owner_tag_key   = "keyhold:owner"
  owner_tag_value = "keyhold"

  # Validators' key material lives at <prefix><validator-id>. Secrets Manager
  # appends a random 6-character suffix to every ARN, so the pattern needs
  # the trailing `*`; the prefix validation (ends in '/' or '-') keeps the
  # wildcard from reaching sibling names.
  validator_secret_arn_pattern = "arn:${local.partition}:secretsmanager:${local.region}:${local.account_id}:secret:${var.secret_prefix}*"

  # Services through which the broker may use the key: Secrets Manager
  # (secret values) and DynamoDB (table encryption). Never directly.
  kms_via_services = [
    "secretsmanager.${local.region}.amazonaws.com",
    "dynamodb.${local.region}.amazonaws.com",
  ]

  bundle_dir = startswith(var.bundle_dir, "/") ? var.bundle_dir : "${path.module}/${var.bundle_dir}"
}
