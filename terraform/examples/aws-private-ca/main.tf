# aws-private-ca: acmera with a second profile, "aws", issued by an AWS
# Private CA. Both services assume an IAM role keylessly: STS
# AssumeRoleWithWebIdentity with their Google ID tokens, so no AWS keys exist
# anywhere. The AWS endpoints are public; the connector is for the validator
# (private challenge targets), and the ACME service sends only private ranges
# through it. The default profile, "acme", stays on the CAS pool.

provider "google" {
  project = var.project_id
  region  = var.region
}

module "acmera" {
  source = "../.."

  project_id = var.project_id
  region     = var.region
  image      = var.image

  ca_pool_id = var.ca_pool_id

  vpc_egress         = "connector"
  network            = var.network
  vpc_connector_cidr = var.vpc_connector_cidr

  nonce_key = var.nonce_key

  awspca_backends = {
    aws = {
      ca_arn       = var.aws_ca_arn
      role_arn     = var.aws_role_arn
      audience     = var.aws_audience
      template_arn = var.aws_template_arn
    }
  }

  profiles_json = jsonencode({
    profiles = {
      acme = {
        description     = "Cloud names from the CAS pool, 24-hour certificates"
        dnsSuffixes     = var.cas_dns_suffixes
        defaultLifetime = "24h"
      }
      aws = {
        description     = "AWS-side names from AWS Private CA"
        backend         = "aws"
        dnsSuffixes     = var.aws_dns_suffixes
        defaultLifetime = "24h"
      }
    }
  })
}
