package cas

import (
	"bytes"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/security/privateca/apiv1/privatecapb"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/acmera/acmera/pkg/ca"
	"github.com/acmera/acmera/scripts/fakegcp/casfake"
)

func TestIssueChainVerifiesToFakeRoot(t *testing.T) {
	e := newEnv(t, casfake.Config{}, 3)
	req := issueReq(t, "order-1", ecKey(t, elliptic.P256()))
	got, err := e.issuer.Issue(testCtx(t), req)
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	if len(got.Chain) != 2 {
		t.Fatalf("chain has %d certificates, want leaf + intermediate", len(got.Chain))
	}
	if want := e.fake.Pool() + "/certificates/" + ca.CertificateID(req.RequestID); got.Resource != want {
		t.Errorf("Resource = %q, want %q", got.Resource, want)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(e.fake.RootPEM())
	inters := x509.NewCertPool()
	inters.AddCert(parse(t, got.Chain[1]))
	leaf := parse(t, got.Chain[0])
	if _, err := leaf.Verify(x509.VerifyOptions{
		DNSName: "order-1.example.internal", Roots: roots, Intermediates: inters,
	}); err != nil {
		t.Errorf("leaf does not verify to the fake's root: %v", err)
	}
	if parse(t, got.Chain[1]).IsCA != true {
		t.Error("second certificate is not the intermediate CA")
	}
}

func TestIssueSameRequestIDMintsOnce(t *testing.T) {
	tests := []struct {
		name     string
		expire   bool // forget request IDs between the calls (past CAS's window)
		wantGets int
	}{
		{name: "request_id replay", expire: false, wantGets: 0},
		{name: "certificate_id AlreadyExists then GetCertificate", expire: true, wantGets: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, casfake.Config{}, 3)
			req := issueReq(t, "order-dup", ecKey(t, elliptic.P256()))
			first, err := e.issuer.Issue(testCtx(t), req)
			if err != nil {
				t.Fatalf("first Issue: %v", err)
			}
			if tt.expire {
				e.fake.ExpireRequestIDs()
			}
			second, err := e.issuer.Issue(testCtx(t), req)
			if err != nil {
				t.Fatalf("second Issue: %v", err)
			}
			if !bytes.Equal(first.Chain[0], second.Chain[0]) || first.Resource != second.Resource {
				t.Error("second Issue returned a different certificate")
			}
			if n := e.fake.Minted(); n != 1 {
				t.Errorf("fake minted %d certificates, want 1", n)
			}
			st := e.fake.Stats()
			if st[casfake.MethodCreateCertificate] != 2 || st[casfake.MethodGetCertificate] != tt.wantGets {
				t.Errorf("stats = %v, want 2 CreateCertificate and %d GetCertificate", st, tt.wantGets)
			}
		})
	}
}

func TestIssueRetriesTransientFailures(t *testing.T) {
	tests := []struct {
		name      string
		code      codes.Code
		failures  int
		wantErr   bool
		wantCalls int
		wantSleep []time.Duration
	}{
		{"unavailable twice then success", codes.Unavailable, 2, false, 3, []time.Duration{testBackoff, 2 * testBackoff}},
		{"resource exhausted once", codes.ResourceExhausted, 1, false, 2, []time.Duration{testBackoff}},
		{"unavailable on every attempt", codes.Unavailable, 3, true, 3, []time.Duration{testBackoff, 2 * testBackoff}},
		{"deadline exceeded on every attempt", codes.DeadlineExceeded, 5, true, 3, []time.Duration{testBackoff, 2 * testBackoff}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, casfake.Config{}, 3)
			e.fake.FailNext(casfake.MethodCreateCertificate, tt.failures, tt.code)
			got, err := e.issuer.Issue(testCtx(t), issueReq(t, "order-retry", ecKey(t, elliptic.P256())))
			if tt.wantErr {
				if !errors.Is(err, ca.ErrTransient) {
					t.Fatalf("Issue error = %v, want ca.ErrTransient", err)
				}
				if e.fake.Minted() != 0 {
					t.Errorf("fake minted %d certificates, want 0", e.fake.Minted())
				}
			} else if err != nil || len(got.Chain) != 2 {
				t.Fatalf("Issue = %v, %v; want a certificate", got, err)
			}
			if n := e.fake.Stats()[casfake.MethodCreateCertificate]; n != tt.wantCalls {
				t.Errorf("CreateCertificate calls = %d, want %d", n, tt.wantCalls)
			}
			if s := e.sleeps.get(); !equalDurations(s, tt.wantSleep) {
				t.Errorf("backoffs = %v, want %v", s, tt.wantSleep)
			}
		})
	}
}

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestIssueRejected(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("rsa.GenerateKey: %v", err)
	}
	ecOnly := &privatecapb.CaPool_IssuancePolicy{
		AllowedKeyTypes: []*privatecapb.CaPool_IssuancePolicy_AllowedKeyType{{
			KeyType: &privatecapb.CaPool_IssuancePolicy_AllowedKeyType_EllipticCurve{
				EllipticCurve: &privatecapb.CaPool_IssuancePolicy_AllowedKeyType_EcKeyType{
					SignatureAlgorithm: privatecapb.CaPool_IssuancePolicy_AllowedKeyType_EcKeyType_ECDSA_P256,
				}}}},
	}
	rsa3072 := &privatecapb.CaPool_IssuancePolicy{
		AllowedKeyTypes: []*privatecapb.CaPool_IssuancePolicy_AllowedKeyType{{
			KeyType: &privatecapb.CaPool_IssuancePolicy_AllowedKeyType_Rsa{
				Rsa: &privatecapb.CaPool_IssuancePolicy_AllowedKeyType_RsaKeyType{MinModulusSize: 3072},
			}}},
	}
	tests := []struct {
		name       string
		cfg        casfake.Config
		mutate     func(*ca.IssueRequest)
		failWith   codes.Code
		wantDetail string
	}{
		{name: "RSA key in an ECDSA P-256 pool", cfg: casfake.Config{Policy: ecOnly},
			mutate: func(r *ca.IssueRequest) { r.PublicKey = rsaKey.Public() }, wantDetail: "key type"},
		{name: "P-384 key in an ECDSA P-256 pool", cfg: casfake.Config{Policy: ecOnly},
			mutate: func(r *ca.IssueRequest) { r.PublicKey = ecKey(t, elliptic.P384()).Public() }, wantDetail: "key type"},
		{name: "RSA 2048 below min modulus 3072", cfg: casfake.Config{Policy: rsa3072},
			mutate: func(r *ca.IssueRequest) { r.PublicKey = rsaKey.Public() }, wantDetail: "key type"},
		{name: "lifetime over maximum_lifetime",
			cfg:    casfake.Config{Policy: &privatecapb.CaPool_IssuancePolicy{MaximumLifetime: durationpb.New(time.Hour)}},
			mutate: func(*ca.IssueRequest) {}, wantDetail: "maximum_lifetime"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.cfg, 3)
			if tt.failWith != codes.OK {
				e.fake.FailNext(casfake.MethodCreateCertificate, 1, tt.failWith)
			}
			req := issueReq(t, "order-rejected", ecKey(t, elliptic.P256()))
			tt.mutate(&req)
			_, err := e.issuer.Issue(testCtx(t), req)
			var rej *ca.RejectedError
			if !errors.As(err, &rej) || errors.Is(err, ca.ErrTransient) {
				t.Fatalf("Issue error = %v, want a permanent *ca.RejectedError", err)
			}
			if !strings.Contains(rej.Detail, tt.wantDetail) || strings.Contains(rej.Detail, "projects/") {
				t.Errorf("Detail = %q, want it to mention %q and no resource names", rej.Detail, tt.wantDetail)
			}
			if n := e.fake.Stats()[casfake.MethodCreateCertificate]; n != 1 {
				t.Errorf("CreateCertificate calls = %d, want 1 (no retry of a refusal)", n)
			}
		})
	}
}

func TestIssueMisconfigured(t *testing.T) {
	tests := []struct {
		name     string
		mutate   func(*ca.IssueRequest)
		failWith codes.Code
	}{
		{"unknown template", func(r *ca.IssueRequest) { r.Template = "no-such-template" }, codes.OK},
		{"permission denied", func(*ca.IssueRequest) {}, codes.PermissionDenied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, casfake.Config{}, 3)
			if tt.failWith != codes.OK {
				e.fake.FailNext(casfake.MethodCreateCertificate, 1, tt.failWith)
			}
			req := issueReq(t, "order-misconfigured", ecKey(t, elliptic.P256()))
			tt.mutate(&req)
			_, err := e.issuer.Issue(testCtx(t), req)
			var rej *ca.RejectedError
			if !errors.Is(err, ca.ErrMisconfigured) || errors.As(err, &rej) || errors.Is(err, ca.ErrTransient) {
				t.Fatalf("Issue error = %v, want ca.ErrMisconfigured, not a refusal of the client's request", err)
			}
			if n := e.fake.Stats()[casfake.MethodCreateCertificate]; n != 1 {
				t.Errorf("CreateCertificate calls = %d, want 1 (no retry)", n)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	const tmpl = "projects/acmera-test/locations/us-central1/certificateTemplates/tls-server"
	e := newEnv(t, casfake.Config{Templates: []string{tmpl}}, 2)
	if err := e.issuer.Check(testCtx(t)); err != nil {
		t.Fatalf("Check of an existing pool: %v", err)
	}
	for _, ok := range []string{"tls-server", tmpl, ""} {
		if err := e.issuer.CheckTemplate(testCtx(t), ok); err != nil {
			t.Errorf("CheckTemplate(%q) of an existing template: %v", ok, err)
		}
	}
	err := e.issuer.CheckTemplate(testCtx(t), "no-such-template")
	if !errors.Is(err, ca.ErrMisconfigured) || !strings.Contains(err.Error(), "certificateTemplates/no-such-template") {
		t.Errorf("CheckTemplate of a missing template = %v, want ca.ErrMisconfigured naming it", err)
	}
	if err := e.issuer.CheckTemplate(testCtx(t), "bad/template"); !errors.Is(err, ca.ErrMisconfigured) {
		t.Errorf("CheckTemplate of a malformed name = %v, want ca.ErrMisconfigured", err)
	}
	e.fake.FailNext(casfake.MethodFetchCaCerts, 1, codes.NotFound)
	err = e.issuer.Check(testCtx(t))
	if !errors.Is(err, ca.ErrMisconfigured) || !strings.Contains(err.Error(), e.fake.Pool()) {
		t.Errorf("Check of a missing pool = %v, want ca.ErrMisconfigured naming the pool", err)
	}
}

func TestIssueSendsConfigNotCSR(t *testing.T) {
	e := newEnv(t, casfake.Config{}, 3)
	req := issueReq(t, "order-config", ecKey(t, elliptic.P256()))
	// The CSR names more than the request; only the request may reach CAS.
	req.CSR = newCSR(t, ecKey(t, elliptic.P256()), "order-config.example.internal", "evil.example.internal")
	req.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	got, err := e.issuer.Issue(testCtx(t), req)
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	if configs, pemCSRs := e.fake.Requests(); configs != 1 || pemCSRs != 0 {
		t.Errorf("CAS got %d config and %d pem_csr requests, want 1 and 0", configs, pemCSRs)
	}
	leaf := parse(t, got.Chain[0])
	if err := ca.CheckIssued(req, leaf, time.Now()); err != nil {
		t.Errorf("CheckIssued: %v", err)
	}
}

func TestIssueTemplateNames(t *testing.T) {
	const full = "projects/acmera-test/locations/us-central1/certificateTemplates/tls-server"
	e := newEnv(t, casfake.Config{Templates: []string{full}}, 3)
	for i, tmpl := range []string{"tls-server", full} {
		t.Run(tmpl, func(t *testing.T) {
			req := issueReq(t, "order-tmpl-"+string(rune('a'+i)), ecKey(t, elliptic.P256()))
			req.Template = tmpl
			if _, err := e.issuer.Issue(testCtx(t), req); err != nil {
				t.Fatalf("Issue with template %q: %v", tmpl, err)
			}
		})
	}
	req := issueReq(t, "order-tmpl-bad", ecKey(t, elliptic.P256()))
	req.Template = "bad/template"
	if _, err := e.issuer.Issue(testCtx(t), req); err == nil {
		t.Error("Issue accepted a malformed template name")
	}
}

func TestIssueLifetimeTruncatedAtCAExpiry(t *testing.T) {
	e := newEnv(t, casfake.Config{CALifetime: 72 * time.Hour}, 3)
	tests := []struct {
		name     string
		lifetime time.Duration
		wantCA   bool // notAfter equals the intermediate's
	}{
		{"within the CA's life", 24 * time.Hour, false},
		{"past the CA's life", 30 * 24 * time.Hour, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := issueReq(t, "order-life-"+tt.name, ecKey(t, elliptic.P256()))
			req.Lifetime, req.RequestedAt = tt.lifetime, time.Now()
			got, err := e.issuer.Issue(testCtx(t), req)
			if err != nil {
				t.Fatalf("Issue: %v", err)
			}
			leaf, inter := parse(t, got.Chain[0]), parse(t, got.Chain[1])
			// The RA's check reports the truncation instead of hiding it.
			var m *ca.MismatchError
			if err := ca.CheckIssued(req, leaf, time.Now()); tt.wantCA != (errors.As(err, &m) && strings.Contains(m.Detail, "shortened")) {
				t.Errorf("CheckIssued: %v, want a shortened-validity mismatch: %v", err, tt.wantCA)
			}
			if tt.wantCA {
				if !leaf.NotAfter.Equal(inter.NotAfter) {
					t.Errorf("leaf NotAfter %v, want the CA's %v", leaf.NotAfter, inter.NotAfter)
				}
			} else if d := leaf.NotAfter.Sub(leaf.NotBefore); d != tt.lifetime {
				t.Errorf("leaf lifetime %v, want %v", d, tt.lifetime)
			}
		})
	}
}

func TestIssueValidatesRequest(t *testing.T) {
	e := newEnv(t, casfake.Config{}, 3)
	good := issueReq(t, "order-v", ecKey(t, elliptic.P256()))
	tests := []struct {
		name   string
		mutate func(*ca.IssueRequest)
	}{
		{"nil public key", func(r *ca.IssueRequest) { r.PublicKey = nil }},
		{"request ID not a UUID", func(r *ca.IssueRequest) { r.RequestID = "order-v" }},
		{"zero lifetime", func(r *ca.IssueRequest) { r.Lifetime = 0 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := good
			tt.mutate(&req)
			if _, err := e.issuer.Issue(testCtx(t), req); err == nil {
				t.Fatal("Issue accepted an invalid request")
			}
		})
	}
	if n := e.fake.Stats()[casfake.MethodCreateCertificate]; n != 0 {
		t.Errorf("CreateCertificate calls = %d, want 0", n)
	}
}

// An order's notAfter bounds the certificate even when the call comes
// late: the lifetime is computed at the call, from CAS's now.
func TestIssueHonoursNotAfter(t *testing.T) {
	e := newEnv(t, casfake.Config{}, 3)
	req := issueReq(t, "order-not-after", ecKey(t, elliptic.P256()))
	req.NotAfter = time.Now().Add(5 * time.Hour).Truncate(time.Second)
	req.Lifetime = 24 * time.Hour // as if computed long before the call
	got, err := e.issuer.Issue(testCtx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	leaf := parse(t, got.Chain[0])
	if leaf.NotAfter.After(req.NotAfter) || leaf.NotAfter.Before(req.NotAfter.Add(-time.Minute)) {
		t.Errorf("NotAfter %s, want at most (and about) %s", leaf.NotAfter, req.NotAfter)
	}
	if err := ca.CheckIssued(req, leaf, time.Now()); err != nil {
		t.Errorf("CheckIssued: %v", err)
	}
	req.NotAfter = time.Now().Add(-time.Minute)
	var rej *ca.RejectedError
	if _, err := e.issuer.Issue(testCtx(t), req); !errors.As(err, &rej) {
		t.Errorf("notAfter in the past: %v, want a refusal", err)
	}
}

// Find proves "never issued" only in an ENTERPRISE pool, once Check has
// read the tier; a DevOps pool keeps no certificates to find.
func TestFindByTier(t *testing.T) {
	ent := newEnv(t, casfake.Config{}, 2)
	req := issueReq(t, "order-find", ecKey(t, elliptic.P256()))
	if _, err := ent.issuer.Find(testCtx(t), ca.IssueRequest{RequestID: ca.RequestID("order-none")}); err == nil || errors.Is(err, ca.ErrNotIssued) {
		t.Fatalf("Find before Check: %v, want an answer that proves nothing", err)
	}
	if err := ent.issuer.Check(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := ent.issuer.Find(testCtx(t), ca.IssueRequest{RequestID: ca.RequestID("order-none")}); !errors.Is(err, ca.ErrNotIssued) {
		t.Fatalf("Find of nothing in an ENTERPRISE pool: %v, want ErrNotIssued", err)
	}
	minted, err := ent.issuer.Issue(testCtx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	found, err := ent.issuer.Find(testCtx(t), ca.IssueRequest{RequestID: req.RequestID})
	if err != nil || string(found.Chain[0]) != string(minted.Chain[0]) {
		t.Fatalf("Find of the minted certificate: %v", err)
	}
	dev := newEnv(t, casfake.Config{Tier: privatecapb.CaPool_DEVOPS}, 2)
	if err := dev.issuer.Check(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := dev.issuer.Find(testCtx(t), ca.IssueRequest{RequestID: ca.RequestID("order-none")}); err == nil || errors.Is(err, ca.ErrNotIssued) {
		t.Fatalf("Find in a DevOps pool: %v, want an answer that proves nothing", err)
	}
}
