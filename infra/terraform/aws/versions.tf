terraform {
  # The project's floor; every machine of the project has 1.11. Nothing here
  # needs more than startswith() and lifecycle preconditions.
  required_version = ">= 1.6"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # 6.29 added `invoked_via_function_url` on aws_lambda_permission, which
      # function URLs created since October 2025 need alongside
      # lambda:InvokeFunctionUrl (hashicorp/terraform-provider-aws#44858).
      version = ">= 6.29, < 7.0"
    }
    archive = {
      source  = "hashicorp/archive"
      version = ">= 2.4, < 3.0"
    }
  }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = merge(var.tags, { "keyhold:component" = "broker" })
  }
}
