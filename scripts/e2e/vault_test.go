package e2e

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

	"github.com/acmera/acmera/pkg/ca/vault/vaulttest"
	"github.com/acmera/acmera/scripts/internal/e2eutil"
)

// TestVaultBackend runs the embedded default with two profiles on two CA
// backends in one process: "acme" on the local CA and "onprem" on a real
// Vault PKI (token auth, through a proxy that can drop Vault's answer).
// x/crypto/acme and certbot get certificates from Vault whose chains
// verify to Vault's root, while the default profile's verify to the local
// root; the directory says which CA each profile issues from; a
// revocation shows in Vault's CRL; and a finalize whose answer from Vault
// was lost is retried and records the certificate Vault already signed,
// minting no second one.
func TestVaultBackend(t *testing.T) {
	t.Parallel()
	vs := vaulttest.Start(t)
	proxy := vs.FaultProxy()
	tokenFile := filepath.Join(t.TempDir(), "vault-token")
	if err := os.WriteFile(tokenFile, []byte(vs.Token()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	profiles, _ := json.Marshal(map[string]any{
		"backends": map[string]any{"corp-vault": map[string]any{"vault": map[string]any{
			"address": proxy.URL, "mount": vaulttest.Mount, "role": vaulttest.Role,
			"auth": map[string]any{"method": "token", "tokenFile": tokenFile},
		}}},
		"profiles": map[string]any{
			"acme":   map[string]any{"allowAnyName": true, "allowWildcards": true},
			"onprem": map[string]any{"backend": "corp-vault", "description": "on-premises services", "dnsSuffixes": []string{vaulttest.Domain}},
		},
	})
	e := &env{Responders: e2eutil.StartResponders(t, true)} // the DNS control API for certbot's hooks
	e.Srv = startServer(t, e2eutil.ServerConfig{HTTP01Port: e.HTTP01.Port, TLSALPN01Port: e.ALPN.Port, Resolver: e.DNS.Addr(),
		Env: []string{"ACMERA_PROFILES_JSON=" + string(profiles), "ACMERA_FINALIZE_RETRY_DELAY=1s"}})
	ctx := e2eutil.TestContext(t, 120*time.Second)
	onpremDir := strings.Replace(e.Srv.DirURL, "/acme/acme/", "/acme/onprem/", 1)

	// The directory names the CA of each profile.
	res, err := e.Srv.HTTPClient().Get(onpremDir)
	if err != nil {
		t.Fatal(err)
	}
	var dir struct {
		Meta struct{ Profiles map[string]string }
	}
	err = json.NewDecoder(res.Body).Decode(&dir)
	res.Body.Close()
	if err != nil || !strings.Contains(dir.Meta.Profiles["onprem"], "Vault") || !strings.Contains(dir.Meta.Profiles["acme"], "local CA") {
		t.Errorf("meta.profiles %q (%v), want each profile's CA named", dir.Meta.Profiles, err)
	}

	// x/crypto/acme on both profiles, in the same process.
	onprem := &acme.Client{Key: newKey(t), DirectoryURL: onpremDir, HTTPClient: e.Srv.HTTPClient()}
	if _, err := onprem.Register(ctx, &acme.Account{}, acme.AcceptTOS); err != nil {
		t.Fatalf("Register (onprem): %v", err)
	}
	issueFrom := func(cl *acme.Client, roots *x509.CertPool, names ...string) *x509.Certificate {
		t.Helper()
		ids := acme.DomainIDs(names...)
		o := e.authorize(ctx, t, cl, ids, always("http-01"))
		key := newKey(t)
		chain, _, err := cl.CreateOrderCert(ctx, o.FinalizeURL, csrFor(t, key, ids), true)
		if err != nil {
			t.Fatalf("CreateOrderCert %v: %v", names, err)
		}
		leaf, err := e2eutil.VerifyChain(roots, chain, ids, key.Public())
		if err != nil {
			t.Fatalf("%v: %v", names, err)
		}
		return leaf
	}
	fromVault := issueFrom(onprem, vs.Roots, "www."+vaulttest.Domain, "api."+vaulttest.Domain)
	fromLocal := issueFrom(e.newClient(ctx, t), e.Srv.Root, "local.e2e.test")
	if fromVault.Issuer.CommonName == fromLocal.Issuer.CommonName {
		t.Errorf("both profiles' certificates come from %q", fromVault.Issuer.CommonName)
	}

	// A revocation reaches Vault's CRL.
	if err := onprem.RevokeCert(ctx, nil, fromVault.Raw, acme.CRLReasonKeyCompromise); err != nil {
		t.Fatalf("RevokeCert: %v", err)
	}
	if !slices.ContainsFunc(vs.CRL().RevokedCertificateEntries, func(r x509.RevocationListEntry) bool {
		return r.SerialNumber.Cmp(fromVault.SerialNumber) == 0
	}) {
		t.Errorf("Vault's CRL does not list the revoked serial %x", fromVault.SerialNumber)
	}

	// Vault signs but its answer is lost: the retry finds the stored
	// certificate instead of asking Vault again.
	before := len(vs.StoredSerials())
	proxy.Arm()
	faulted := issueFrom(onprem, vs.Roots, "fault."+vaulttest.Domain)
	if proxy.Dropped() != 1 {
		t.Fatalf("the proxy dropped %d answers, want 1", proxy.Dropped())
	}
	if after := len(vs.StoredSerials()); after != before+1 {
		t.Errorf("Vault stored %d certificates for the faulted order, want 1 (it was retried into a second)", after-before)
	}
	if faulted.NotAfter.IsZero() {
		t.Fatal("no certificate")
	}

	// certbot, dns-01, against the Vault profile.
	cb := e2eutil.NeedCertbot(t)
	cb.Env = append(cb.Env, "REQUESTS_CA_BUNDLE="+e.Srv.RootPEM, "TESTDNS_URL="+e.DNS.ControlURL())
	cb.Must(slices.Concat([]string{"certonly"}, cb.ManualDNS("../../testdata/e2e"),
		[]string{"--cert-name", "vault", "-d", "certbot." + vaulttest.Domain,
			"--server", onpremDir, "--agree-tos", "--register-unsafely-without-email"})...)
	chain, key := cb.Lineage("vault")
	if _, err := e2eutil.VerifyChain(vs.Roots, chain, acme.DomainIDs("certbot."+vaulttest.Domain), key.Public()); err != nil {
		t.Errorf("certbot's certificate: %v", err)
	}
}
