data "archive_file" "bundle" {
  type        = "zip"
  source_dir  = local.bundle_dir
  output_path = "${path.module}/.build/aws-lambda.zip"
}

resource "aws_cloudwatch_log_group" "broker" {
  name              = "/aws/lambda/${var.function_name}"
  retention_in_days = var.log_retention_days
}

resource "aws_lambda_function" "broker" {
  function_name = var.function_name
  description   = "keyhold key-custody broker"
  role          = aws_iam_role.broker.arn

  runtime       = var.runtime
  architectures = ["arm64"]
  handler       = "aws-lambda.handler"

  filename         = data.archive_file.bundle.output_path
  source_code_hash = data.archive_file.bundle.output_base64sha256

  memory_size                    = var.memory_size
  timeout                        = var.timeout_seconds
  reserved_concurrent_executions = var.reserved_concurrency

  logging_config {
    log_format = "JSON"
    log_group  = aws_cloudwatch_log_group.broker.name
  }

  # Names, ARNs and tunables only. Secret values are read at start from
  # Secrets Manager with the role's permissions; Lambda environment variables
  # are visible to anyone with lambda:GetFunctionConfiguration.
  environment {
    variables = {
      KEYHOLD_RUNTIME                           = "aws-lambda"
      KEYHOLD_STATE_STORE                       = "dynamodb"
      KEYHOLD_DYNAMODB_TABLE                    = aws_dynamodb_table.state.name
      KEYHOLD_KEY_STORES                        = "aws-secrets-manager"
      KEYHOLD_AWS_SECRET_PREFIX                 = var.secret_prefix
      KEYHOLD_AWS_KMS_KEY_ID                    = aws_kms_key.keyhold.arn
      KEYHOLD_SIGNING_KEY_SECRET                = aws_secretsmanager_secret.signing_key.arn
      KEYHOLD_CLUSTERS                          = jsonencode(var.clusters)
      KEYHOLD_GRANT_TTL_SECONDS                 = tostring(var.grant_ttl_seconds)
      KEYHOLD_OUTAGE_TOLERANCE_SECONDS          = tostring(var.outage_tolerance_seconds)
      KEYHOLD_MAX_CLOCK_SKEW_SECONDS            = tostring(var.max_clock_skew_seconds)
      KEYHOLD_OPERATOR_ISSUER                   = var.operator_issuer
      KEYHOLD_OPERATOR_AUDIENCE                 = var.operator_audience
      KEYHOLD_OPERATOR_JWKS_URI                 = var.operator_jwks_uri
      KEYHOLD_CHECKPOINT_WITNESS                = "s3://${aws_s3_bucket.ledger_witness.bucket}/${var.witness_prefix}"
      KEYHOLD_CHECKPOINT_WITNESS_RETENTION_DAYS = tostring(var.witness_retention_days)
    }
  }

  # The role's permissions and the log group must exist before the first
  # invocation, or the first cold start fails or logs into a group without
  # retention.
  depends_on = [
    aws_iam_role_policy.broker,
    aws_cloudwatch_log_group.broker,
  ]
}
