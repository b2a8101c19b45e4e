# The write-once witness of the ledger (issue 14): the broker copies every
# signed checkpoint here, and an auditor verifies with the newest one as the
# trust anchor (`keyhold audit verify --witness s3://BUCKET/PREFIX/`), so
# someone who can write the DynamoDB table cannot make the ledger end earlier
# or rewrite what a checkpoint covers. COMPLIANCE mode: no one, the root user
# included, can delete a locked version or shorten its retention
# (https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-lock.html).
# The broker also sets the retention on each object it writes, so the lock
# holds even if this default were changed.
resource "aws_s3_bucket" "ledger_witness" {
  bucket              = local.witness_bucket
  object_lock_enabled = true
  force_destroy       = false
}

# Object Lock needs versioning; S3 enables it with the lock and it can never be suspended.
resource "aws_s3_bucket_versioning" "ledger_witness" {
  bucket = aws_s3_bucket.ledger_witness.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_object_lock_configuration" "ledger_witness" {
  bucket = aws_s3_bucket.ledger_witness.id
  rule {
    default_retention {
      mode = "COMPLIANCE"
      days = var.witness_retention_days
    }
  }
}

resource "aws_s3_bucket_public_access_block" "ledger_witness" {
  bucket                  = aws_s3_bucket.ledger_witness.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_server_side_encryption_configuration" "ledger_witness" {
  bucket = aws_s3_bucket.ledger_witness.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}
