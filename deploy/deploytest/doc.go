// Package deploytest checks acmera's deployment artifacts offline: the
// Dockerfile (lint; docker build cannot run in CI), the Terraform module
// against its Marketplace metadata and the Firestore index list, Cloud Build's
// configuration, and the client recipes (cert-manager, certbot, Caddy).
//
// It has no non-test code beyond this comment; run it with
//
//	go test -count=1 ./deploy/...
//
// Tests that need terraform and the offline provider
// (../shared/tools/tf-google-offline/tf-validate, or $TF_VALIDATE) skip when
// those are absent, and with -short.
package deploytest
