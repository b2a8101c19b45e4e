# The one authoritative state + ledger store for an AWS deployment
# (designations and hash-chained ledger entries, changed together with
# TransactWriteItems and condition expressions). Losing or rolling it back
# would reset epochs, which is how two holders could appear, so it is
# protected from deletion and recoverable to any second of the last 35 days.
resource "aws_dynamodb_table" "state" {
  name         = var.table_name
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "pk"
  range_key    = "sk"

  attribute {
    name = "pk"
    type = "S"
  }

  attribute {
    name = "sk"
    type = "S"
  }

  # One-time token ids (operator request jti) carry `ttl` in seconds:
  # DynamoDB deletes them after they expire.
  ttl {
    attribute_name = "ttl"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  deletion_protection_enabled = true

  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.keyhold.arn
  }
}
