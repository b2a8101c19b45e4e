variable "project_id" {
  description = "GCP project for the broker, its database and secrets."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a valid GCP project id."
  }
}

variable "region" {
  description = "Region of the function and its source bucket."
  type        = string
}

variable "function_name" {
  description = "Name of the Cloud Function (2nd gen); also names its service account."
  type        = string
  default     = "keyhold-broker"

  validation {
    condition     = can(regex("^[a-z]([a-z0-9-]{0,48}[a-z0-9])?$", var.function_name))
    error_message = "function_name must be lower-case letters, digits and '-', starting with a letter, at most 50 characters."
  }
}

variable "bundle_dir" {
  description = "Directory written by `npm run build` for Cloud Functions (package.json + code exporting the `keyhold` HTTP function). Relative paths are taken from this module's directory."
  type        = string
  default     = "../../../dist/gcp"
}

variable "max_instance_count" {
  description = "Upper bound on function instances: caps the load on Firestore and Secret Manager (other writes: about 600/min per project) and the cost of an unauthenticated flood."
  type        = number
  default     = 20

  validation {
    condition     = var.max_instance_count >= 1 && floor(var.max_instance_count) == var.max_instance_count
    error_message = "max_instance_count must be a whole number, at least 1."
  }
}

variable "available_memory" {
  description = "Memory per function instance."
  type        = string
  default     = "512Mi"
}

variable "timeout_seconds" {
  description = "Request timeout. Keep it well under grant_ttl_seconds."
  type        = number
  default     = 15

  validation {
    condition     = var.timeout_seconds >= 1 && var.timeout_seconds <= 3600
    error_message = "timeout_seconds must be between 1 and 3600."
  }
}

variable "ingress_settings" {
  description = "Who can reach the function at the network level. ALLOW_ALL is needed for pods outside GCP; ALLOW_INTERNAL_ONLY (or ALLOW_INTERNAL_AND_GCLB) when every cluster reaches it from a VPC in this project or through a load balancer."
  type        = string
  default     = "ALLOW_ALL"

  validation {
    condition     = contains(["ALLOW_ALL", "ALLOW_INTERNAL_ONLY", "ALLOW_INTERNAL_AND_GCLB"], var.ingress_settings)
    error_message = "ingress_settings must be ALLOW_ALL, ALLOW_INTERNAL_ONLY or ALLOW_INTERNAL_AND_GCLB."
  }
}

variable "public_invoker" {
  description = "Grant roles/run.invoker to allUsers. Required for pods outside GCP, which have no Google identity to present; the broker authenticates every request itself."
  type        = bool
  default     = true
}

variable "firestore_database" {
  description = "Firestore (native mode) database holding designations and the ledger."
  type        = string
  default     = "keyhold-state"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,61}[a-z0-9]$", var.firestore_database))
    error_message = "firestore_database must be 4-63 characters of lower-case letters, digits and '-', starting with a letter."
  }
}

variable "firestore_location" {
  description = "Firestore location (a region such as europe-west1, or a multi-region such as eur3). Defaults to `region`."
  type        = string
  default     = null
}

variable "restrict_datastore_role_to_database" {
  description = "Condition the service account's roles/datastore.user on the keyhold database. Firestore roles can only be granted on the project; the condition is what keeps the broker out of the project's other databases."
  type        = bool
  default     = true
}

variable "secret_prefix" {
  description = "Secret Manager id prefix for validators' key material: keyhold-validators-<validator-id>. Secret ids cannot contain '/', hence '-'."
  type        = string
  default     = "keyhold-validators-"

  validation {
    # The IAM condition is a startsWith() on this prefix. Without a
    # terminating separator, "keyhold-validators" would also match
    # "keyhold-validatorsarchive-...".
    condition     = can(regex("^[A-Za-z0-9_-]*[A-Za-z0-9_]-$", var.secret_prefix))
    error_message = "secret_prefix must use only Secret Manager id characters (letters, digits, '_', '-') and end with '-'."
  }
}

variable "signing_key_secret_id" {
  description = "Secret Manager id of the broker's grant-signing key. Terraform creates the secret without a version; add the value out of band (see ../README.md)."
  type        = string
  default     = "keyhold-broker-signing-key"

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,255}$", var.signing_key_secret_id))
    error_message = "signing_key_secret_id must be 1-255 letters, digits, '_' or '-'."
  }
}

variable "validator_ids" {
  description = "Validators whose secret containers Terraform creates (no versions). The broker's service account can add versions to and read these, but cannot create secrets itself."
  type        = set(string)
  default     = []

  validation {
    # Validator ids may contain '.', Secret Manager ids may not.
    condition     = alltrue([for id in var.validator_ids : can(regex("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", id))])
    error_message = "validator_ids must be lower-case DNS labels without '.' (Secret Manager ids cannot contain '.')."
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

variable "labels" {
  description = "Extra labels for every resource that takes labels."
  type        = map(string)
  default     = {}
}

variable "witness_bucket_name" {
  description = "Cloud Storage bucket (locked retention policy) for the write-once copies of the ledger's checkpoints. Empty: <project_id>-keyhold-witness."
  type        = string
  default     = ""

  validation {
    condition     = var.witness_bucket_name == "" || can(regex("^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$", var.witness_bucket_name))
    error_message = "witness_bucket_name must be a valid bucket name (3-63 lower-case letters, digits, dots, dashes, underscores), or empty."
  }
}

variable "witness_prefix" {
  description = "Object name prefix of the checkpoint copies in the witness bucket."
  type        = string
  default     = "keyhold/checkpoints/"

  validation {
    condition     = can(regex("^([A-Za-z0-9!_.*'()-]+/)+$", var.witness_prefix))
    error_message = "witness_prefix must be path segments each ending in '/'."
  }
}

variable "witness_retention_days" {
  description = "Locked retention of each checkpoint copy, in days: as long as the ledger must be auditable."
  type        = number
  default     = 2555

  validation {
    condition     = var.witness_retention_days >= 1 && var.witness_retention_days <= 36500 && floor(var.witness_retention_days) == var.witness_retention_days
    error_message = "witness_retention_days must be a whole number of days from 1 to 36500."
  }
}
