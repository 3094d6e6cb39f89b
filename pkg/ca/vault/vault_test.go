package vault

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/acmera/acmera/pkg/ca"
	"github.com/acmera/acmera/pkg/ca/vault/vaulttest"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// jwtIssuer is an Issuer that logs in with JWT auth, as on Cloud Run.
func jwtIssuer(t *testing.T, s *vaulttest.Server, aud string) *Issuer {
	t.Helper()
	iss, err := New(Config{Address: s.Addr, Mount: vaulttest.Mount, Role: vaulttest.Role, Auth: JWTAuth{
		Role: vaulttest.JWTRole,
		JWT:  func(context.Context) (string, error) { return s.JWT(aud, vaulttest.Subject), nil },
	}})
	if err != nil {
		t.Fatal(err)
	}
	return iss
}

// request builds what the RA would ask for names and ips.
func request(t *testing.T, names []string, ips []net.IP) ca.IssueRequest {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{}, DNSNames: names, IPAddresses: ips}, key)
	if err != nil {
		t.Fatal(err)
	}
	csr, _ := x509.ParseCertificateRequest(der)
	req := ca.IssueRequest{CSR: csr, PublicKey: key.Public(), DNSNames: names, IPAddresses: ips, Lifetime: 24 * time.Hour,
		RequestID: ca.RequestID(t.Name()), RequestedAt: time.Now(), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	if len(names) > 0 {
		req.CommonName = names[0]
	}
	return req
}

func verify(t *testing.T, s *vaulttest.Server, got *ca.Issued, req ca.IssueRequest) *x509.Certificate {
	t.Helper()
	leaf, err := x509.ParseCertificate(got.Chain[0])
	if err != nil {
		t.Fatal(err)
	}
	inter := x509.NewCertPool()
	for _, der := range got.Chain[1:] {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		if c.Equal(s.Root) {
			t.Error("the chain carries the self-signed root")
		}
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: s.Roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		t.Fatalf("the chain does not verify to Vault's root: %v", err)
	}
	if err := ca.CheckIssued(req, leaf, time.Now()); err != nil {
		t.Fatalf("CheckIssued: %v", err)
	}
	return leaf
}

// Issue through JWT auth: the chain verifies to the root, the certificate
// is what acmera asked (names, EKU, key, lifetime), an exact notAfter is
// kept to the second, Find finds it again, and a revocation shows in
// Vault's CRL.
func TestIssueFindRevoke(t *testing.T) {
	s := vaulttest.Start(t)
	iss := jwtIssuer(t, s, vaulttest.Audience)
	ctx := testCtx(t)
	role, readable, err := iss.Check(ctx)
	if err != nil || !readable || !role.ServerFlag || role.ClientFlag || role.NoStore || role.MaxTTL != 48*time.Hour {
		t.Fatalf("Check: %+v readable %v: %v", role, readable, err)
	}
	roots, err := iss.Roots(ctx)
	if err != nil || len(roots) != 1 || !s.Root.Equal(mustParse(t, roots[0])) {
		t.Fatalf("Roots: %d certificates (%v), want Vault's root", len(roots), err)
	}

	req := request(t, []string{"www.vault.test", "api.vault.test"}, []net.IP{net.ParseIP("127.0.0.1")})
	got, err := iss.Issue(ctx, req)
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	leaf := verify(t, s, got, req)
	if got.Resource != serialText(leaf) {
		t.Errorf("Resource %q, want the serial %q", got.Resource, serialText(leaf))
	}

	exact := request(t, []string{"exact.vault.test"}, nil)
	exact.NotAfter = time.Now().Add(5 * time.Hour).Truncate(time.Second)
	got2, err := iss.Issue(ctx, exact)
	if err != nil {
		t.Fatalf("Issue with notAfter: %v", err)
	}
	if l := verify(t, s, got2, exact); l.NotAfter.Sub(exact.NotAfter).Abs() > time.Second {
		t.Errorf("notAfter %s, want %s to the second", l.NotAfter, exact.NotAfter)
	}

	found, err := iss.Find(ctx, req)
	if err != nil || !mustParse(t, found.Chain[0]).Equal(leaf) {
		t.Fatalf("Find: %v, want the certificate issued for the request", err)
	}
	if _, err := iss.Find(ctx, request(t, []string{"www.vault.test", "api.vault.test"}, []net.IP{net.ParseIP("127.0.0.1")})); !errors.Is(err, ca.ErrNotIssued) {
		t.Errorf("Find for another key: %v, want ErrNotIssued", err)
	}

	if err := iss.Revoke(ctx, ca.RevokeRequest{Cert: leaf, Reason: 1}); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	if err := iss.Revoke(ctx, ca.RevokeRequest{Cert: leaf, Reason: 1}); err != nil {
		t.Errorf("Revoke again: %v (Vault's revoke is idempotent)", err)
	}
	listed := false
	for _, e := range s.CRL().RevokedCertificateEntries {
		listed = listed || e.SerialNumber.Cmp(leaf.SerialNumber) == 0
	}
	if !listed {
		t.Errorf("Vault's CRL does not list the revoked serial %s", serialText(leaf))
	}
}

func mustParse(t *testing.T, der []byte) *x509.Certificate {
	t.Helper()
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The role is a second line of defence: a name outside it is Vault's
// refusal (client-safe detail); a lifetime above its max_ttl is clamped by
// Vault and caught by ca.CheckIssued, never served as if asked.
func TestRoleLimits(t *testing.T) {
	s := vaulttest.Start(t)
	iss := jwtIssuer(t, s, vaulttest.Audience)
	ctx := testCtx(t)
	_, err := iss.Issue(ctx, request(t, []string{"www.other.test"}, nil))
	var rej *ca.RejectedError
	if !errors.As(err, &rej) || !strings.Contains(rej.Detail, "not allowed") {
		t.Fatalf("a name outside the role: %v, want a RejectedError saying it is not allowed", err)
	}
	long := request(t, []string{"long.vault.test"}, nil)
	long.Lifetime = 72 * time.Hour
	got, err := iss.Issue(ctx, long)
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	var m *ca.MismatchError
	if err := ca.CheckIssued(long, mustParse(t, got.Chain[0]), time.Now()); !errors.As(err, &m) || !strings.Contains(m.Detail, "shortened") {
		t.Errorf("CheckIssued of a certificate clamped to the role's max_ttl: %v, want a shortened-validity mismatch", err)
	}
}

// Auth: a JWT for another audience is refused at Check; a token Vault no
// longer honours is replaced by logging in again; token auth works too.
func TestAuth(t *testing.T) {
	s := vaulttest.Start(t)
	ctx := testCtx(t)
	if _, _, err := jwtIssuer(t, s, "someone-else").Check(ctx); !errors.Is(err, ca.ErrMisconfigured) || !strings.Contains(err.Error(), "jwt login") {
		t.Errorf("Check with a JWT for another audience: %v, want a jwt login error", err)
	}
	iss := jwtIssuer(t, s, vaulttest.Audience)
	if _, _, err := iss.Check(ctx); err != nil {
		t.Fatal(err)
	}
	old := iss.c.tok
	s.API("POST", "auth/token/revoke", map[string]any{"token": old}, nil)
	if _, err := iss.Issue(ctx, request(t, []string{"again.vault.test"}, nil)); err != nil {
		t.Fatalf("Issue after the token was revoked: %v, want a fresh login", err)
	}
	if iss.c.tok == old || iss.c.tok == "" {
		t.Error("the revoked token is still cached")
	}
	tok, err := New(Config{Address: s.Addr, Mount: vaulttest.Mount, Role: vaulttest.Role, Auth: TokenAuth{Token: vaulttest.RootToken}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tok.Issue(ctx, request(t, []string{"token.vault.test"}, nil)); err != nil {
		t.Errorf("Issue with token auth: %v", err)
	}
}

// Operator mistakes are ErrMisconfigured naming the role or mount, an
// unreachable Vault is transient, and New refuses malformed settings.
func TestMisconfiguration(t *testing.T) {
	s := vaulttest.Start(t)
	ctx := testCtx(t)
	root := TokenAuth{Token: vaulttest.RootToken}
	noRole, _ := New(Config{Address: s.Addr, Mount: vaulttest.Mount, Role: "nope", Auth: root})
	if _, _, err := noRole.Check(ctx); !errors.Is(err, ca.ErrMisconfigured) || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("Check with a missing role: %v, want ErrMisconfigured naming it", err)
	}
	if _, err := noRole.Issue(ctx, request(t, []string{"x.vault.test"}, nil)); !errors.Is(err, ca.ErrMisconfigured) {
		t.Errorf("Issue with a missing role: %v, want ErrMisconfigured", err)
	}
	noMount, _ := New(Config{Address: s.Addr, Mount: "pki_missing", Role: vaulttest.Role, Auth: root})
	if _, _, err := noMount.Check(ctx); err == nil || !strings.Contains(err.Error(), "pki_missing") {
		t.Errorf("Check with a missing mount: %v, want an error naming it", err)
	}
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := "http://" + l.Addr().String()
	l.Close()
	down, _ := New(Config{Address: dead, Mount: vaulttest.Mount, Role: vaulttest.Role, Auth: root, CallTimeout: 2 * time.Second})
	if _, err := down.Issue(ctx, request(t, []string{"x.vault.test"}, nil)); !errors.Is(err, ca.ErrTransient) {
		t.Errorf("Issue with Vault down: %v, want ErrTransient", err)
	}
	for _, cfg := range []Config{
		{Address: "vault:8200", Mount: "pki", Role: "r", Auth: root},
		{Address: s.Addr + "/v1", Mount: "pki", Role: "r", Auth: root},
		{Address: s.Addr, Mount: "../sys", Role: "r", Auth: root},
		{Address: s.Addr, Mount: "pki", Role: "a/b", Auth: root},
		{Address: s.Addr, Mount: "pki", Role: "r"},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
}
