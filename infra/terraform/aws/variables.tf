variable "region" {
  description = "AWS region for the broker, its table, key and secrets."
  type        = string
}

variable "function_name" {
  description = "Name of the Lambda function; also names the role and the log group."
  type        = string
  default     = "keyhold-broker"

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,64}$", var.function_name))
    error_message = "function_name must be 1-64 characters of letters, digits, '-' or '_'."
  }
}

variable "bundle_dir" {
  description = "Directory written by `npm run build` for the Lambda (contains aws-lambda.mjs exporting `handler`). Relative paths are taken from this module's directory."
  type        = string
  default     = "../../../dist/aws-lambda"
}

variable "runtime" {
  description = "Lambda Node.js runtime: the one the bundle is built for (functions/runtime.ts)."
  type        = string
  default     = "nodejs22.x"

  # nodejs20.x is at its end of life and being retired by Lambda (and the AWS
  # SDK drops Node 20 in January 2027); the bundle targets Node 22.
  validation {
    condition     = contains(["nodejs22.x"], var.runtime)
    error_message = "runtime must be nodejs22.x (the bundle is built for Node 22; nodejs20.x is retired)."
  }
}

variable "memory_size" {
  description = "Lambda memory in MB (CPU scales with it; JWE and JWT signing are CPU-bound)."
  type        = number
  default     = 512

  validation {
    condition     = var.memory_size >= 128 && var.memory_size <= 10240
    error_message = "memory_size must be between 128 and 10240 MB."
  }
}

variable "timeout_seconds" {
  description = "Lambda timeout. Keep it well under grant_ttl_seconds so a slow request cannot outlive the grant it issues."
  type        = number
  default     = 15

  validation {
    condition     = var.timeout_seconds >= 1 && var.timeout_seconds <= 900
    error_message = "timeout_seconds must be between 1 and 900."
  }
}

variable "reserved_concurrency" {
  description = "Reserved concurrent executions for the broker: caps the load it can put on DynamoDB and Secrets Manager (writes are limited to about 50/s per region) and guarantees it capacity. -1 leaves the function unreserved."
  type        = number
  default     = 20

  validation {
    # 0 would silently disable the function: a broker that answers nothing
    # is an outage nobody asked for.
    condition     = var.reserved_concurrency == -1 || var.reserved_concurrency >= 1
    error_message = "reserved_concurrency must be -1 (unreserved) or at least 1."
  }
}

variable "expose" {
  description = "How pods and operators reach the broker: a Lambda function URL, or an API Gateway HTTP API (payload format 2.0) when you need throttling, custom domains or WAF."
  type        = string
  default     = "function_url"

  validation {
    condition     = contains(["function_url", "http_api"], var.expose)
    error_message = "expose must be \"function_url\" or \"http_api\"."
  }
}

variable "http_api_throttling_burst_limit" {
  description = "HTTP API only: burst limit for the default route."
  type        = number
  default     = 100

  validation {
    condition     = var.http_api_throttling_burst_limit > 0
    error_message = "http_api_throttling_burst_limit must be greater than 0."
  }
}

variable "http_api_throttling_rate_limit" {
  description = "HTTP API only: steady-state requests per second for the default route."
  type        = number
  default     = 50

  validation {
    condition     = var.http_api_throttling_rate_limit > 0
    error_message = "http_api_throttling_rate_limit must be greater than 0."
  }
}

variable "table_name" {
  description = "DynamoDB table holding designations and the ledger."
  type        = string
  default     = "keyhold-state"

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]{3,255}$", var.table_name))
    error_message = "table_name must be 3-255 characters of letters, digits, '_', '-' or '.'."
  }
}

variable "secret_prefix" {
  description = "Secrets Manager name prefix for validators' key material: keyhold/validators/<validator-id>. The broker's role can touch nothing outside it except the signing key."
  type        = string
  default     = "keyhold/validators/"

  validation {
    # The prefix becomes an ARN pattern `...:secret:<prefix>*`. Without a
    # terminating separator, "keyhold/validators" would also match
    # "keyhold/validators-archive/...".
    condition     = can(regex("^[A-Za-z0-9/_+=.@-]+[/-]$", var.secret_prefix))
    error_message = "secret_prefix must be non-empty, use only Secrets Manager name characters, and end with '/' or '-'."
  }
}

variable "signing_key_secret_name" {
  description = "Secrets Manager name of the broker's grant-signing key. Terraform creates the secret without a value; set the value out of band (see ../README.md)."
  type        = string
  default     = "keyhold/broker/signing-key"

  validation {
    condition     = can(regex("^[A-Za-z0-9/_+=.@-]{1,512}$", var.signing_key_secret_name))
    error_message = "signing_key_secret_name must use only Secrets Manager name characters."
  }
}

variable "clusters" {
  description = "Kubernetes clusters whose projected service-account tokens the broker accepts: name (the first part of a slot), OIDC issuer, and the JWKS URL to fetch its keys from."
  type = list(object({
    name    = string
    issuer  = string
    jwksUri = string
  }))

  validation {
    condition     = length(var.clusters) > 0
    error_message = "Register at least one cluster: without one, no pod can ever be granted a key."
  }

  validation {
    condition     = length(distinct([for c in var.clusters : c.name])) == length(var.clusters)
    error_message = "Cluster names must be unique: they are the first part of every slot."
  }

  validation {
    condition     = alltrue([for c in var.clusters : can(regex("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", c.name))])
    error_message = "Cluster names must be DNS labels (lower-case letters, digits, '-')."
  }

  validation {
    condition     = alltrue([for c in var.clusters : startswith(c.issuer, "https://") && startswith(c.jwksUri, "https://")])
    error_message = "Cluster issuer and jwksUri must be https URLs: token keys fetched over plain HTTP could be swapped in transit."
  }
}

variable "grant_ttl_seconds" {
  description = "Lifetime of a grant. Keepers renew every third of it."
  type        = number
  default     = 120

  validation {
    condition     = var.grant_ttl_seconds > 0 && floor(var.grant_ttl_seconds) == var.grant_ttl_seconds
    error_message = "grant_ttl_seconds must be a whole number greater than 0."
  }
}

variable "outage_tolerance_seconds" {
  description = "How long holders may keep renewing without an authoritative state read. With grant_ttl_seconds it forms the horizon H that a takeover waits out."
  type        = number
  default     = 300

  validation {
    condition     = var.outage_tolerance_seconds >= 0 && floor(var.outage_tolerance_seconds) == var.outage_tolerance_seconds
    error_message = "outage_tolerance_seconds must be a whole number, 0 or more."
  }
}

variable "max_clock_skew_seconds" {
  description = "Bound on the clock difference between broker instances; added to the takeover wait."
  type        = number
  default     = 10

  validation {
    condition     = var.max_clock_skew_seconds >= 0 && floor(var.max_clock_skew_seconds) == var.max_clock_skew_seconds
    error_message = "max_clock_skew_seconds must be a whole number, 0 or more."
  }
}

variable "operator_issuer" {
  description = "OIDC issuer URL whose tokens (with a role claim) authorise operator actions such as promotion."
  type        = string

  validation {
    condition     = startswith(var.operator_issuer, "https://")
    error_message = "operator_issuer must be an https URL."
  }
}

variable "operator_audience" {
  description = "Audience the operator tokens must carry."
  type        = string
  default     = "keyhold-operator"

  validation {
    condition     = length(var.operator_audience) > 0
    error_message = "operator_audience must not be empty."
  }
}

variable "operator_jwks_uri" {
  description = "JWKS URL of the operator OIDC issuer. The broker refuses to start with only part of the issuer, audience and JWKS settings."
  type        = string

  validation {
    condition     = startswith(var.operator_jwks_uri, "https://")
    error_message = "operator_jwks_uri must be an https URL."
  }
}

variable "log_retention_days" {
  description = "Retention of the function's log group. Logs carry no key material by design; the ledger, not the logs, is the audit record."
  type        = number
  default     = 90

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of the values CloudWatch Logs accepts."
  }
}

variable "kms_deletion_window_days" {
  description = "Waiting period before the KMS key is deleted after scheduling. Deleting it makes every validator secret and the table unreadable, so keep it long."
  type        = number
  default     = 30

  validation {
    condition     = var.kms_deletion_window_days >= 7 && var.kms_deletion_window_days <= 30
    error_message = "kms_deletion_window_days must be between 7 and 30."
  }
}

variable "tags" {
  description = "Extra tags for every resource."
  type        = map(string)
  default     = {}
}

variable "witness_bucket_name" {
  description = "S3 bucket (Object Lock, compliance mode) for the write-once copies of the ledger's checkpoints. Empty: keyhold-witness-<account>-<region>."
  type        = string
  default     = ""

  validation {
    condition     = var.witness_bucket_name == "" || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.witness_bucket_name))
    error_message = "witness_bucket_name must be a valid S3 bucket name (3-63 lower-case letters, digits, dots, dashes), or empty."
  }
}

variable "witness_prefix" {
  description = "Key prefix of the checkpoint copies in the witness bucket."
  type        = string
  default     = "keyhold/checkpoints/"

  validation {
    condition     = can(regex("^([A-Za-z0-9!_.*'()-]+/)+$", var.witness_prefix))
    error_message = "witness_prefix must be path segments each ending in '/'."
  }
}

variable "witness_retention_days" {
  description = "Object Lock retention (compliance mode) of each checkpoint copy, in days: as long as the ledger must be auditable."
  type        = number
  default     = 2555

  validation {
    condition     = var.witness_retention_days >= 1 && var.witness_retention_days <= 36500 && floor(var.witness_retention_days) == var.witness_retention_days
    error_message = "witness_retention_days must be a whole number of days from 1 to 36500."
  }
}
