terraform {
  # optional() object attributes with defaults need 1.3; nothing newer is used so
  # Infrastructure Manager (Marketplace click-to-deploy) can run the module.
  required_version = ">= 1.3"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6, < 8"
    }
  }
}
