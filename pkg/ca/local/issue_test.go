package local

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/acmera/acmera/pkg/ca"
)

func newCSR(t testing.TB, key crypto.Signer, dns []string, ips []net.IP) *x509.CertificateRequest {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: dns, IPAddresses: ips}, key)
	if err != nil {
		t.Fatalf("x509.CreateCertificateRequest: %v", err)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		t.Fatalf("x509.ParseCertificateRequest: %v", err)
	}
	return csr
}

func p256Key(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("ecdsa.GenerateKey: %v", err)
	}
	return k
}

func issue(t *testing.T, c *CA, req ca.IssueRequest) *x509.Certificate {
	t.Helper()
	got, err := c.Issue(context.Background(), req)
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	if len(got.Chain) != 2 {
		t.Fatalf("chain has %d certificates, want 2", len(got.Chain))
	}
	if !bytes.Equal(got.Chain[1], c.interDER) {
		t.Error("chain[1] is not the intermediate")
	}
	leaf, err := x509.ParseCertificate(got.Chain[0])
	if err != nil {
		t.Fatalf("x509.ParseCertificate: %v", err)
	}
	return leaf
}

func rootPool(t *testing.T, c *CA) *x509.CertPool {
	t.Helper()
	roots, err := c.Roots(context.Background())
	if err != nil {
		t.Fatalf("Roots: %v", err)
	}
	pool := x509.NewCertPool()
	for _, der := range roots {
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatalf("x509.ParseCertificate: %v", err)
		}
		pool.AddCert(cert)
	}
	return pool
}

func TestIssueVerifies(t *testing.T) {
	c := openCA(t, t.TempDir(), fixedClock(testNow))
	pool := rootPool(t, c)
	inters := x509.NewCertPool()
	inters.AddCert(c.inter)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("rsa.GenerateKey: %v", err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatalf("ed25519.GenerateKey: %v", err)
	}
	long := strings.Repeat("a", 60) + ".example.com"
	tests := []struct {
		name    string
		key     crypto.Signer
		dns     []string
		ips     []net.IP
		wantCN  string
		wantEnc bool // keyEncipherment expected
	}{
		{"ecdsa dns and ip", p256Key(t), []string{"a.example.com", "b.example.com"}, []net.IP{net.ParseIP("192.0.2.7"), net.ParseIP("2001:db8::1")}, "a.example.com", false},
		{"ip only", p256Key(t), nil, []net.IP{net.ParseIP("127.0.0.1")}, "", false},
		{"rsa", rsaKey, []string{"rsa.example.com"}, nil, "rsa.example.com", true},
		{"ed25519", edKey, []string{"ed.example.com"}, nil, "ed.example.com", false},
		{"long first name", p256Key(t), []string{long, "short.example.com"}, nil, "", false},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			leaf := issue(t, c, fromCSR(newCSR(t, tc.key, tc.dns, tc.ips), ca.IssueRequest{Lifetime: 24 * time.Hour, RequestID: "req-" + strconv.Itoa(i)}))
			names := append([]string(nil), tc.dns...)
			for _, ip := range tc.ips {
				names = append(names, ip.String())
			}
			for _, name := range names {
				_, err := leaf.Verify(x509.VerifyOptions{
					DNSName: name, Roots: pool, Intermediates: inters,
					CurrentTime: testNow, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
				})
				if err != nil {
					t.Errorf("Verify(%s): %v", name, err)
				}
			}
			if _, err := leaf.Verify(x509.VerifyOptions{DNSName: "other.example.com", Roots: pool, Intermediates: inters, CurrentTime: testNow}); err == nil {
				t.Error("Verify accepted a name not in the CSR")
			}
			if leaf.Subject.CommonName != tc.wantCN {
				t.Errorf("CN = %q, want %q", leaf.Subject.CommonName, tc.wantCN)
			}
			if tc.wantCN == "" && len(leaf.Subject.Names) != 0 {
				t.Errorf("subject = %v, want empty", leaf.Subject)
			}
			if tc.wantCN == "" && !sanCritical(leaf) {
				t.Error("empty subject but SAN extension not critical")
			}
			wantKU := x509.KeyUsageDigitalSignature
			if tc.wantEnc {
				wantKU |= x509.KeyUsageKeyEncipherment
			}
			if leaf.KeyUsage != wantKU {
				t.Errorf("key usage = %v, want %v", leaf.KeyUsage, wantKU)
			}
			if len(leaf.ExtKeyUsage) != 1 || leaf.ExtKeyUsage[0] != x509.ExtKeyUsageServerAuth {
				t.Errorf("EKU = %v, want serverAuth", leaf.ExtKeyUsage)
			}
			if leaf.IsCA || !leaf.BasicConstraintsValid {
				t.Errorf("IsCA = %v, BasicConstraintsValid = %v", leaf.IsCA, leaf.BasicConstraintsValid)
			}
			if !bytes.Equal(leaf.AuthorityKeyId, c.inter.SubjectKeyId) {
				t.Error("AuthorityKeyId != intermediate SubjectKeyId")
			}
			if !leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool }).Equal(tc.key.Public()) {
				t.Error("leaf key is not the CSR key")
			}
		})
	}
}

// sanCritical reports whether leaf's subjectAltName extension is critical.
func sanCritical(leaf *x509.Certificate) bool {
	for _, e := range leaf.Extensions {
		if e.Id.Equal(asn1.ObjectIdentifier{2, 5, 29, 17}) {
			return e.Critical
		}
	}
	return false
}

func TestIssueValidity(t *testing.T) {
	c := openCA(t, t.TempDir(), fixedClock(testNow))
	interEnd := c.inter.NotAfter
	explicit := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		notBefore time.Time
		lifetime  time.Duration
		wantNB    time.Time
		wantNA    time.Time
	}{
		// Backdating moves NotBefore only: NotAfter is exactly the start
		// plus the lifetime.
		{"backdated now", time.Time{}, 24 * time.Hour, testNow.Add(-time.Minute), testNow.Add(24 * time.Hour)},
		{"zero lifetime is the maximum", time.Time{}, 0, testNow.Add(-time.Minute), testNow.Add(DefaultMaxLifetime)},
		{"capped at max lifetime", time.Time{}, 400 * 24 * time.Hour, testNow.Add(-time.Minute), testNow.Add(DefaultMaxLifetime)},
		{"explicit not before", explicit, time.Hour, explicit, explicit.Add(time.Hour)},
		{"sub-second not before truncated", explicit.Add(700 * time.Millisecond), time.Hour, explicit, explicit.Add(time.Hour)},
		{"capped at intermediate", interEnd.Add(-time.Hour), 24 * time.Hour, interEnd.Add(-time.Hour), interEnd},
		// The requested end is kept; only the start is raised.
		{"raised to intermediate start", c.inter.NotBefore.Add(-48 * time.Hour), 72 * time.Hour, c.inter.NotBefore, c.inter.NotBefore.Add(24 * time.Hour)},
	}
	csr := newCSR(t, p256Key(t), []string{"v.example.com"}, nil)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			leaf := issue(t, c, fromCSR(csr, ca.IssueRequest{NotBefore: tc.notBefore, Lifetime: tc.lifetime, RequestID: tc.name}))
			if !leaf.NotBefore.Equal(tc.wantNB) {
				t.Errorf("NotBefore = %s, want %s", leaf.NotBefore, tc.wantNB)
			}
			if !leaf.NotAfter.Equal(tc.wantNA) {
				t.Errorf("NotAfter = %s, want %s", leaf.NotAfter, tc.wantNA)
			}
		})
	}
}

func TestIssueMaxLifetimeConfig(t *testing.T) {
	c, err := Open(context.Background(), Config{Dir: t.TempDir(), Clock: fixedClock(testNow), MaxLifetime: 7 * 24 * time.Hour})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	leaf := issue(t, c, fromCSR(newCSR(t, p256Key(t), []string{"m.example.com"}, nil), ca.IssueRequest{Lifetime: 30 * 24 * time.Hour, RequestID: "r"}))
	if want := testNow.Add(7 * 24 * time.Hour); !leaf.NotAfter.Equal(want) {
		t.Errorf("NotAfter = %s, want %s (the 168h maximum)", leaf.NotAfter, want)
	}
}

func TestIssueSerial(t *testing.T) {
	dir := t.TempDir()
	c := openCA(t, dir, fixedClock(testNow))
	csr := newCSR(t, p256Key(t), []string{"s.example.com"}, nil)
	serial := func(c *CA, id string) string {
		return issue(t, c, fromCSR(csr, ca.IssueRequest{Lifetime: time.Hour, RequestID: id})).SerialNumber.String()
	}
	id := ca.RequestID("order-1")
	first := serial(c, id)
	tests := []struct {
		name string
		ca   *CA
		id   string
		same bool
	}{
		{"same request id", c, id, true},
		{"same request id after reopen", openCA(t, dir, fixedClock(testNow.Add(time.Hour))), id, true},
		{"different request id", c, ca.RequestID("order-2"), false},
		{"same request id, other CA", openCA(t, t.TempDir(), fixedClock(testNow)), id, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := serial(tc.ca, tc.id); (got == first) != tc.same {
				t.Errorf("serial %s vs first %s: same = %v, want %v", got, first, got == first, tc.same)
			}
		})
	}
	leaf := issue(t, c, fromCSR(csr, ca.IssueRequest{Lifetime: time.Hour, RequestID: id}))
	if leaf.SerialNumber.Sign() <= 0 || leaf.SerialNumber.BitLen() > 127 || leaf.SerialNumber.BitLen() < 64 {
		t.Errorf("serial %x: want positive, 64..127 bits", leaf.SerialNumber)
	}
}

func TestSerialFromNeverZero(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want int64
	}{
		{"all zero", make([]byte, 16), 1},
		{"only high bit", append([]byte{0x80}, make([]byte, 15)...), 1},
		{"low byte", append(make([]byte, 15), 5), 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := serialFrom(tc.in); got.Int64() != tc.want || !got.IsInt64() {
				t.Errorf("serialFrom = %v, want %d", got, tc.want)
			}
		})
	}
}

func TestIssueRejects(t *testing.T) {
	c := openCA(t, t.TempDir(), fixedClock(testNow))
	good := newCSR(t, p256Key(t), []string{"r.example.com"}, nil)
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name     string
		ctx      context.Context
		req      ca.IssueRequest
		rejected bool // want *ca.RejectedError
		wantErr  string
	}{
		{"no names", context.Background(), fromCSR(newCSR(t, p256Key(t), nil, nil), ca.IssueRequest{RequestID: "a"}), true, "no DNS names or IP addresses"},
		{"unsupported key", context.Background(), fromCSR(&x509.CertificateRequest{DNSNames: []string{"x.example"}, PublicKey: "not a key", Subject: pkix.Name{}}, ca.IssueRequest{RequestID: "a"}), true, "unsupported public key type string"},
		{"after intermediate", context.Background(), fromCSR(good, ca.IssueRequest{NotBefore: c.inter.NotAfter.Add(time.Hour), RequestID: "a"}), true, "outside the CA's validity"},
		{"negative lifetime", context.Background(), fromCSR(good, ca.IssueRequest{Lifetime: -time.Hour, RequestID: "a"}), false, "negative lifetime"},
		{"no key", context.Background(), ca.IssueRequest{DNSNames: []string{"x.example"}, RequestID: "a"}, false, "no public key"},
		{"no request id", context.Background(), fromCSR(good, ca.IssueRequest{}), false, "no request ID"},
		{"canceled", canceled, fromCSR(good, ca.IssueRequest{RequestID: "a"}), false, "context canceled"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := c.Issue(tc.ctx, tc.req)
			if err == nil {
				t.Fatalf("Issue = %v, want an error", got)
			}
			var rej *ca.RejectedError
			if errors.As(err, &rej) != tc.rejected {
				t.Errorf("error %v: rejected = %v, want %v", err, !tc.rejected, tc.rejected)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %q, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestIssueConcurrent(t *testing.T) {
	c := openCA(t, t.TempDir(), fixedClock(testNow))
	csr := newCSR(t, p256Key(t), []string{"c.example.com"}, nil)
	const n = 16
	serials := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			got, err := c.Issue(context.Background(), fromCSR(csr, ca.IssueRequest{Lifetime: time.Hour, RequestID: "c-" + strconv.Itoa(i)}))
			if err != nil {
				errs[i] = err
				return
			}
			leaf, err := x509.ParseCertificate(got.Chain[0])
			if err != nil {
				errs[i] = err
				return
			}
			serials[i] = leaf.SerialNumber.String()
		})
	}
	wg.Wait()
	seen := map[string]bool{}
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("Issue %d: %v", i, errs[i])
		}
		if seen[serials[i]] {
			t.Errorf("duplicate serial %s", serials[i])
		}
		seen[serials[i]] = true
	}
}

// A revocation is published in the CRL, signed by the intermediate, with
// its reason; it survives a restart; revoking twice changes nothing; the
// CRL is served as application/pkix-crl; leaves name where it is.
func TestRevokePublishesCRL(t *testing.T) {
	dir := t.TempDir()
	c, err := Open(context.Background(), Config{Dir: dir, Clock: fixedClock(testNow), CRLURL: "https://acme.example/crl"})
	if err != nil {
		t.Fatal(err)
	}
	leaf := issue(t, c, fromCSR(newCSR(t, p256Key(t), []string{"rv.example.com"}, nil), ca.IssueRequest{Lifetime: time.Hour, RequestID: "rv"}))
	if len(leaf.CRLDistributionPoints) != 1 || leaf.CRLDistributionPoints[0] != "https://acme.example/crl" {
		t.Errorf("leaf CRL distribution points %v", leaf.CRLDistributionPoints)
	}
	for range 2 {
		if err := c.Revoke(context.Background(), ca.RevokeRequest{Cert: leaf, Reason: 1}); err != nil {
			t.Fatalf("Revoke: %v", err)
		}
	}
	reopened := openCA(t, dir, fixedClock(testNow.Add(time.Hour)))
	rec := httptest.NewRecorder()
	reopened.CRLHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/crl", nil))
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/pkix-crl" {
		t.Fatalf("GET /crl: %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	crl, err := x509.ParseRevocationList(rec.Body.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if err := crl.CheckSignatureFrom(reopened.inter); err != nil {
		t.Errorf("CRL signature: %v", err)
	}
	if n := len(crl.RevokedCertificateEntries); n != 1 || crl.RevokedCertificateEntries[0].SerialNumber.Cmp(leaf.SerialNumber) != 0 ||
		crl.RevokedCertificateEntries[0].ReasonCode != 1 {
		t.Fatalf("CRL entries %+v, want the one serial with reason 1", crl.RevokedCertificateEntries)
	}
	other := openCA(t, t.TempDir(), fixedClock(testNow))
	var rej *ca.RejectedError
	if err := other.Revoke(context.Background(), ca.RevokeRequest{Cert: leaf, Reason: 1}); !errors.As(err, &rej) {
		t.Errorf("revoking another CA's certificate: %v, want a refusal", err)
	}
}

func BenchmarkIssue(b *testing.B) {
	c := openCA(b, b.TempDir(), nil)
	csr := newCSR(b, p256Key(b), []string{"bench.example.com", "www.bench.example.com"}, []net.IP{net.ParseIP("192.0.2.1")})
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		if _, err := c.Issue(ctx, fromCSR(csr, ca.IssueRequest{Lifetime: 24 * time.Hour, RequestID: strconv.Itoa(i)})); err != nil {
			b.Fatalf("Issue: %v", err)
		}
	}
}

// fromCSR fills req with the names and key of csr, as the RA does from an
// order whose identifiers are the CSR's names.
func fromCSR(csr *x509.CertificateRequest, req ca.IssueRequest) ca.IssueRequest {
	req.CSR = csr
	req.PublicKey = csr.PublicKey
	req.DNSNames = csr.DNSNames
	req.IPAddresses = csr.IPAddresses
	if len(csr.DNSNames) > 0 {
		req.CommonName = csr.DNSNames[0]
	}
	req.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	return req
}

func TestIssueSameRequestGivesSameCertificate(t *testing.T) {
	dir := t.TempDir()
	csr := newCSR(t, p256Key(t), []string{"same.example.com"}, nil)
	req := fromCSR(csr, ca.IssueRequest{Lifetime: 24 * time.Hour, RequestID: ca.RequestID("order-same"), RequestedAt: testNow})
	first, err := openCA(t, dir, fixedClock(testNow)).Issue(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	// A retry after a restart, an hour later, must not mint a second
	// certificate with the same serial: it gets the first one again.
	again, err := openCA(t, dir, fixedClock(testNow.Add(time.Hour))).Issue(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first.Chain[0], again.Chain[0]) {
		t.Error("a retried request gave a different certificate")
	}
	other := req
	other.RequestID = ca.RequestID("order-other")
	diff, err := openCA(t, dir, fixedClock(testNow)).Issue(context.Background(), other)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(first.Chain[0], diff.Chain[0]) {
		t.Error("another request gave the same certificate")
	}
}

func TestIssueUsesTheRequestNotTheCSR(t *testing.T) {
	c := openCA(t, t.TempDir(), fixedClock(testNow))
	// The CSR asks for other names; the request (built by the RA from the
	// order) is what the certificate holds.
	csr := newCSR(t, p256Key(t), []string{"evil.example.com", "app.example.com"}, []net.IP{net.ParseIP("10.0.0.1")})
	req := ca.IssueRequest{
		CSR: csr, PublicKey: csr.PublicKey, CommonName: "app.example.com", DNSNames: []string{"app.example.com"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		Lifetime:    time.Hour, RequestID: "r-template",
	}
	leaf := issue(t, c, req)
	if err := ca.CheckIssued(req, leaf, testNow); err != nil {
		t.Fatalf("CheckIssued: %v", err)
	}
	if len(leaf.IPAddresses) != 0 || len(leaf.DNSNames) != 1 || leaf.Subject.CommonName != "app.example.com" || len(leaf.Subject.Names) != 1 {
		t.Errorf("leaf names %v %v subject %v: want only app.example.com", leaf.DNSNames, leaf.IPAddresses, leaf.Subject)
	}
}
