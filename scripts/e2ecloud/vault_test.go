package e2ecloud

import (
	"crypto/x509"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/acme"

	"github.com/acmera/acmera/pkg/ca/vault/vaulttest"
	"github.com/acmera/acmera/scripts/internal/e2eutil"
)

// TestVaultBackendOnCloudRun runs both functions on Firestore with two
// profiles on two backends: "acme" on the CAS pool (the fake) and
// "onprem" on a real Vault, logged in to keylessly with JWT auth and the
// workload's ID token from the metadata server (a loopback stand-in that
// Vault's JWT auth trusts). x/crypto/acme and certbot get Vault
// certificates that verify to Vault's root; the CAS profile's verify to
// the pool's; a revocation through the Vault profile shows in Vault's CRL,
// and CAS is not asked to revoke it.
func TestVaultBackendOnCloudRun(t *testing.T) {
	t.Parallel()
	needEmulator(t)
	vs := vaulttest.Start(t)
	gcp := startFakeGCP(t)
	profiles, _ := json.Marshal(map[string]any{
		"backends": map[string]any{"corp-vault": map[string]any{"vault": map[string]any{
			"address": vs.Addr, "mount": vaulttest.Mount, "role": vaulttest.Role,
			"auth": map[string]any{"method": "jwt", "role": vaulttest.JWTRole, "audience": vaulttest.Audience,
				"metadataURL": vs.MetadataServer()},
		}}},
		"profiles": map[string]any{
			"acme":   map[string]any{"allowAnyName": true},
			"onprem": map[string]any{"backend": "corp-vault", "dnsSuffixes": []string{vaulttest.Domain}},
		},
	})
	s := newStack(t, gcp.gcpEndpoints, "ACMERA_PROFILES_JSON="+string(profiles))
	ctx := e2eutil.TestContext(t, 2*time.Minute)
	onpremDir := strings.Replace(s.DirURL, "/acme/acme/", "/acme/onprem/", 1)

	onprem, err := newClient(onpremDir, nil)
	mustf(t, err, "newClient")
	mustf(t, register(ctx, onprem), "register (onprem)")
	fromVault, err := s.issue(ctx, onprem, vs.Roots, []string{"www." + vaulttest.Domain}, "http-01")
	mustf(t, err, "issue from Vault")
	cas, err := newClient(s.DirURL, nil)
	mustf(t, err, "newClient")
	mustf(t, register(ctx, cas), "register (acme)")
	_, err = s.issue(ctx, cas, gcp.Roots(t), []string{"cas.example.test"}, "http-01")
	mustf(t, err, "issue from CAS")

	revokedBefore := gcp.Stats(t).CAS["RevokeCertificate"]
	mustf(t, onprem.RevokeCert(ctx, nil, fromVault.Leaf.Raw, acme.CRLReasonSuperseded), "RevokeCert")
	if !slices.ContainsFunc(vs.CRL().RevokedCertificateEntries, func(r x509.RevocationListEntry) bool {
		return r.SerialNumber.Cmp(fromVault.Leaf.SerialNumber) == 0
	}) {
		t.Errorf("Vault's CRL does not list the revoked serial %x", fromVault.Leaf.SerialNumber)
	}
	if n := gcp.Stats(t).CAS["RevokeCertificate"]; n != revokedBefore {
		t.Errorf("CAS was asked to revoke a Vault certificate (%d calls)", n-revokedBefore)
	}

	t.Run("certbot", func(t *testing.T) {
		cb := e2eutil.NeedCertbot(t)
		cb.Env = append(cb.Env, "TESTDNS_URL="+s.DNS.ControlURL())
		name := "certbot." + vaulttest.Domain
		cb.Must(slices.Concat([]string{"certonly", "--agree-tos", "--register-unsafely-without-email",
			"--server", onpremDir, "-d", name}, cb.ManualDNS("../../testdata/e2e"))...)
		chain, key := cb.Lineage(name)
		_, err := e2eutil.VerifyChain(vs.Roots, chain, acme.DomainIDs(name), key.Public())
		mustf(t, err, "certbot's certificate from Vault")
	})
}
