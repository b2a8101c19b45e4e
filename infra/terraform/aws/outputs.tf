output "url" {
  description = "Base URL of the broker for pods and the CLI (function URL or HTTP API endpoint, per `expose`)."
  value       = one(concat(aws_lambda_function_url.broker[*].function_url, aws_apigatewayv2_api.broker[*].api_endpoint))
}

output "function_name" {
  description = "Name of the broker Lambda function."
  value       = aws_lambda_function.broker.function_name
}

output "role_arn" {
  description = "ARN of the broker's execution role."
  value       = aws_iam_role.broker.arn
}

output "role_name" {
  description = "Name of the broker's execution role."
  value       = aws_iam_role.broker.name
}

output "table_name" {
  description = "DynamoDB state + ledger table."
  value       = aws_dynamodb_table.state.name
}

output "table_arn" {
  description = "ARN of the DynamoDB state + ledger table."
  value       = aws_dynamodb_table.state.arn
}

output "kms_key_arn" {
  description = "KMS key protecting validator secrets, the signing key and the table."
  value       = aws_kms_key.keyhold.arn
}

output "signing_key_secret_arn" {
  description = "Secret to put the broker signing key into (out of band)."
  value       = aws_secretsmanager_secret.signing_key.arn
}

output "validator_secret_arn_pattern" {
  description = "ARN pattern of the validator secrets the broker may use."
  value       = local.validator_secret_arn_pattern
}

output "log_group_name" {
  description = "The broker's CloudWatch log group."
  value       = aws_cloudwatch_log_group.broker.name
}

output "witness_url" {
  description = "For auditors: keyhold audit verify --witness <this>, with a role that may s3:ListBucketVersions, s3:GetObjectVersion and s3:GetBucketObjectLockConfiguration on the bucket."
  value       = "s3://${aws_s3_bucket.ledger_witness.bucket}/${var.witness_prefix}"
}
