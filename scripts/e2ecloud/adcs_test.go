package e2ecloud

import (
	"crypto/x509"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/acme"

	"github.com/acmera/acmera/scripts/fakeadcs/certsrv"
	"github.com/acmera/acmera/scripts/internal/e2eutil"
)

// TestADCSBackendOnCloudRun runs both functions on Firestore with a
// profile on Microsoft AD CS (the certsrv fake, which verifies acmera's
// NTLMv2 responses against the account's password): x/crypto/acme gets a
// certificate that verifies to the CA's root, enrolled with the
// profile's template and nothing else; certbot (dns-01) gets one too.
func TestADCSBackendOnCloudRun(t *testing.T) {
	t.Parallel()
	needEmulator(t)
	fake, err := certsrv.New(certsrv.Config{Templates: map[string]certsrv.Mode{"AcmeraWebServer": certsrv.Issue},
		Users: map[string]string{`CORP\svc-acmera`: "cloud-run-secret-1"}})
	if err != nil {
		t.Fatal(err)
	}
	srv := certsrv.StartTLS(t, fake)
	dir := t.TempDir()
	bundle, pw := filepath.Join(dir, "iis.pem"), filepath.Join(dir, "password")
	if err := os.WriteFile(bundle, certsrv.TLSRootPEM(srv), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pw, []byte("cloud-run-secret-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	gcp := startFakeGCP(t)
	profiles, _ := json.Marshal(map[string]any{
		"backends": map[string]any{"corp": map[string]any{"adcs": map[string]any{
			"baseURL": srv.URL, "caBundleFile": bundle,
			"auth": map[string]any{"method": "ntlm", "domain": "CORP", "username": "svc-acmera", "passwordFile": pw},
		}}},
		"profiles": map[string]any{
			"acme": map[string]any{"allowAnyName": true},
			"corp": map[string]any{"backend": "corp", "caTemplate": "AcmeraWebServer", "dnsSuffixes": []string{"adcs.example.test"}},
		},
	})
	s := newStack(t, gcp.gcpEndpoints, "ACMERA_PROFILES_JSON="+string(profiles))
	ctx := e2eutil.TestContext(t, 2*time.Minute)
	cl, err := newClient(strings.Replace(s.DirURL, "/acme/acme/", "/acme/corp/", 1), nil)
	mustf(t, err, "newClient")
	mustf(t, register(ctx, cl), "register")
	roots := x509.NewCertPool()
	roots.AddCert(fake.Root())
	_, err = s.issue(ctx, cl, roots, []string{"www.adcs.example.test"}, "http-01")
	mustf(t, err, "issue from AD CS")
	reqs := fake.Requests()
	if len(reqs) != 1 || !slices.Equal(reqs[0].Attributes, []string{"CertificateTemplate:AcmeraWebServer"}) {
		t.Errorf("AD CS requests %+v, want one with only the profile's template", reqs)
	}
	if l := fake.Logins(); !slices.Contains(l, `ntlm:CORP\svc-acmera`) {
		t.Errorf("logins %v, want NTLM as CORP\\svc-acmera", l)
	}

	t.Run("certbot", func(t *testing.T) {
		cb := e2eutil.NeedCertbot(t)
		cb.Env = append(cb.Env, "TESTDNS_URL="+s.DNS.ControlURL())
		name := "certbot.adcs.example.test"
		cb.Must(slices.Concat([]string{"certonly", "--agree-tos", "--register-unsafely-without-email",
			"--server", strings.Replace(s.DirURL, "/acme/acme/", "/acme/corp/", 1), "-d", name}, cb.ManualDNS("../../testdata/e2e"))...)
		chain, key := cb.Lineage(name)
		_, err := e2eutil.VerifyChain(roots, chain, acme.DomainIDs(name), key.Public())
		mustf(t, err, "certbot's certificate from AD CS")
	})
}
