terraform {
  # The project's floor; every machine of the project has 1.11.
  required_version = ">= 1.6"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6.10, < 8.0"
    }
    archive = {
      source  = "hashicorp/archive"
      version = ">= 2.4, < 3.0"
    }
  }
}

provider "google" {
  project = var.project_id
  region  = var.region

  default_labels = merge(var.labels, { "keyhold-component" = "broker" })
}
