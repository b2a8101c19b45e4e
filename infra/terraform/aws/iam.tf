data "aws_iam_policy_document" "broker_assume_role" {
  statement {
    sid     = "LambdaAssumesBrokerRole"
    effect  = "Allow"
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
    condition {
      # Only functions in this account may take the role.
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "broker" {
  name               = "${var.function_name}-role"
  description        = "keyhold broker Lambda: least privilege over its secrets, table, key and log group"
  assume_role_policy = data.aws_iam_policy_document.broker_assume_role.json
}

# Inline and written as a policy document (never a managed policy such as
# AWSLambdaBasicExecutionRole, whose logs:* on "*" is broader than needed):
# test/terraform parses every statement and refuses wildcards.
resource "aws_iam_role_policy" "broker" {
  name   = "keyhold-broker"
  role   = aws_iam_role.broker.id
  policy = data.aws_iam_policy_document.broker.json
}

data "aws_iam_policy_document" "broker" {
  statement {
    # Create-only copies of each checkpoint with their own compliance
    # retention. Nothing that deletes, replaces a lock, or bypasses one:
    # no s3:DeleteObject*, s3:BypassGovernanceRetention, s3:PutObjectLegalHold
    # or bucket configuration.
    sid    = "WitnessCheckpoints"
    effect = "Allow"
    actions = [
      "s3:PutObject",
      "s3:PutObjectRetention",
    ]
    resources = ["${aws_s3_bucket.ledger_witness.arn}/${var.witness_prefix}*"]
  }

  statement {
    sid    = "ReadValidatorSecrets"
    effect = "Allow"
    actions = [
      "secretsmanager:DescribeSecret",
      "secretsmanager:GetSecretValue",
      "secretsmanager:ListSecretVersionIds",
    ]
    resources = [local.validator_secret_arn_pattern]
  }

  statement {
    # Compare-and-swap on key material is PutSecretValue under a private
    # stage, then UpdateSecretVersionStage naming the version read. Both only
    # on secrets carrying the ownership marker.
    sid    = "WriteOwnedValidatorSecrets"
    effect = "Allow"
    actions = [
      "secretsmanager:PutSecretValue",
      "secretsmanager:UpdateSecretVersionStage",
    ]
    resources = [local.validator_secret_arn_pattern]
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/${local.owner_tag_key}"
      values   = [local.owner_tag_value]
    }
  }

  statement {
    # A secret does not exist yet when it is created, so the marker is checked
    # on the request's tags (aws:RequestTag), and no other tag keys may ride
    # along. CreateSecret with tags is also authorised as TagResource, hence
    # the same conditions there.
    sid    = "CreateOwnedValidatorSecrets"
    effect = "Allow"
    actions = [
      "secretsmanager:CreateSecret",
      "secretsmanager:TagResource",
    ]
    resources = [local.validator_secret_arn_pattern]
    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/${local.owner_tag_key}"
      values   = [local.owner_tag_value]
    }
    condition {
      test     = "ForAllValues:StringEquals"
      variable = "aws:TagKeys"
      values   = [local.owner_tag_key]
    }
  }

  statement {
    sid       = "ReadSigningKey"
    effect    = "Allow"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [aws_secretsmanager_secret.signing_key.arn]
  }

  statement {
    # TransactWriteItems and TransactGetItems are not IAM actions: each item
    # in a transaction is authorised as its own PutItem, UpdateItem, GetItem
    # or, for a ConditionCheck, ConditionCheckItem
    # (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis-iam.html).
    # BatchGetItem is an action of its own: listValidators and a list
    # renewal's designations (getValidators) read the records 100 at a time
    # with it. No DeleteItem: the ledger is append-only and
    # designations are never deleted, only moved forward.
    sid    = "StateTable"
    effect = "Allow"
    actions = [
      "dynamodb:BatchGetItem",
      "dynamodb:ConditionCheckItem",
      "dynamodb:GetItem",
      "dynamodb:PutItem",
      "dynamodb:Query",
      "dynamodb:UpdateItem",
    ]
    resources = [
      aws_dynamodb_table.state.arn,
      "${aws_dynamodb_table.state.arn}/index/*",
    ]
  }

  statement {
    sid       = "UseKeyViaServices"
    effect    = "Allow"
    actions   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.keyhold.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = local.kms_via_services
    }
  }

  statement {
    # The log group is created by Terraform (with retention), so the role
    # needs no logs:CreateLogGroup and nothing beyond its own streams.
    sid    = "OwnLogGroup"
    effect = "Allow"
    actions = [
      "logs:CreateLogStream",
      "logs:PutLogEvents",
    ]
    resources = ["${aws_cloudwatch_log_group.broker.arn}:*"]
  }
}
