# One customer-managed key for everything keyhold stores on AWS: validator
# secrets, the signing-key secret and the state table. A customer-managed key
# (not aws/secretsmanager) lets the key policy, not only IAM, decide who can
# ever decrypt key material, and puts every decrypt in CloudTrail under a key
# we can disable in an emergency.
resource "aws_kms_key" "keyhold" {
  description             = "keyhold: validator key material, broker signing key, state table"
  enable_key_rotation     = true
  rotation_period_in_days = 365
  deletion_window_in_days = var.kms_deletion_window_days
  policy                  = data.aws_iam_policy_document.kms_key_policy.json
}

resource "aws_kms_alias" "keyhold" {
  name          = "alias/keyhold"
  target_key_id = aws_kms_key.keyhold.key_id
}

# In a key policy, Resource "*" means "this key": the policy is attached to
# exactly one key. The checks in test/terraform allow "*" only here.
data "aws_iam_policy_document" "kms_key_policy" {
  statement {
    # Administration is delegated to IAM in this account (the deployer), but
    # without the cryptographic actions: managing the key must not imply
    # reading what it protects.
    sid    = "AccountAdministersKey"
    effect = "Allow"
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
    actions = [
      "kms:CancelKeyDeletion",
      "kms:CreateAlias",
      "kms:CreateGrant",
      "kms:DeleteAlias",
      "kms:DescribeKey",
      "kms:DisableKey",
      "kms:DisableKeyRotation",
      "kms:EnableKey",
      "kms:EnableKeyRotation",
      "kms:GetKeyPolicy",
      "kms:GetKeyRotationStatus",
      "kms:ListAliases",
      "kms:ListGrants",
      "kms:ListKeyPolicies",
      "kms:ListResourceTags",
      "kms:PutKeyPolicy",
      "kms:RetireGrant",
      "kms:RevokeGrant",
      "kms:RotateKeyOnDemand",
      "kms:ScheduleKeyDeletion",
      "kms:TagResource",
      "kms:UntagResource",
      "kms:UpdateAlias",
      "kms:UpdateKeyDescription",
    ]
    resources = ["*"]
  }

  statement {
    # Operators set the signing key and import validator keys through
    # Secrets Manager with their own IAM permissions; DynamoDB backups and
    # point-in-time restores use the key through DynamoDB. Only through those
    # services, only from this account.
    sid    = "AccountUsesKeyViaServices"
    effect = "Allow"
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
    actions   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = local.kms_via_services
    }
    condition {
      test     = "StringEquals"
      variable = "kms:CallerAccount"
      values   = [local.account_id]
    }
  }

  statement {
    sid    = "BrokerUsesKeyViaServices"
    effect = "Allow"
    principals {
      type        = "AWS"
      identifiers = [aws_iam_role.broker.arn]
    }
    actions   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = local.kms_via_services
    }
  }
}
