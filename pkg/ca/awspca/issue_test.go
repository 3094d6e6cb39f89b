package awspca

import (
	"bytes"
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/acmera/acmera/pkg/ca"
	"github.com/acmera/acmera/scripts/fakeaws/pcafake"
)

func TestIssueChainVerifiesToFakeRoot(t *testing.T) {
	eachWire(t, func(t *testing.T, w wire) {
		e := newEnv(t, w, pcafake.Config{}, nil)
		req := issueReq(t, "order-1")
		req.RequestedAt = e.clock.now()
		got, err := e.issuer.Issue(testCtx(t), req)
		if err != nil {
			t.Fatalf("Issue: %v", err)
		}
		if len(got.Chain) != 2 {
			t.Fatalf("chain has %d certificates, want leaf + subordinate CA", len(got.Chain))
		}
		if !strings.HasPrefix(got.Resource, e.fake.CAArn()+"/certificate/") {
			t.Errorf("Resource = %q, want a certificate ARN under the CA", got.Resource)
		}
		roots := x509.NewCertPool()
		roots.AppendCertsFromPEM(e.fake.RootPEM())
		inters := x509.NewCertPool()
		inters.AddCert(parse(t, got.Chain[1]))
		leaf := parse(t, got.Chain[0])
		if _, err := leaf.Verify(x509.VerifyOptions{
			DNSName: "order-1.example.internal", Roots: roots, Intermediates: inters,
			CurrentTime: e.clock.now(),
		}); err != nil {
			t.Errorf("leaf does not verify to the fake's root: %v", err)
		}
		if err := ca.CheckIssued(req, leaf, e.clock.now()); err != nil {
			t.Errorf("ca.CheckIssued: %v", err)
		}
		in := e.fake.IssueRequests()[0]
		if got, want := in["TemplateArn"], "arn:aws:acm-pca:::template/EndEntityServerAuthCertificate/V1"; got != want {
			t.Errorf("TemplateArn = %v, want %s", got, want)
		}
		if got := in["SigningAlgorithm"]; got != "SHA256WITHECDSA" {
			t.Errorf("SigningAlgorithm = %v, want SHA256WITHECDSA (derived from the CA's EC_prime256v1 key)", got)
		}
		if got := in["IdempotencyToken"]; got != IdempotencyToken(req.RequestID) {
			t.Errorf("IdempotencyToken = %v, want %s", got, IdempotencyToken(req.RequestID))
		}
		if want := time.Hour; e.clock.now().Sub(leaf.NotBefore) != want {
			t.Errorf("notBefore %s is not issuance − 60 min", leaf.NotBefore)
		}
		e.checkWire(t)
	})
}

func TestIssueExactValidity(t *testing.T) {
	eachWire(t, func(t *testing.T, w wire) {
		e := newEnv(t, w, pcafake.Config{}, nil)
		req := issueReq(t, "order-exact")
		req.NotBefore = e.clock.now().Add(-5 * time.Minute)
		req.NotAfter = e.clock.now().Add(7*time.Hour + 17*time.Second)
		got, err := e.issuer.Issue(testCtx(t), req)
		if err != nil {
			t.Fatalf("Issue: %v", err)
		}
		leaf := parse(t, got.Chain[0])
		if !leaf.NotAfter.Equal(req.NotAfter) {
			t.Errorf("notAfter = %s, want exactly %s", leaf.NotAfter, req.NotAfter)
		}
		if !leaf.NotBefore.Equal(req.NotBefore) {
			t.Errorf("notBefore = %s, want exactly %s (ValidityNotBefore)", leaf.NotBefore, req.NotBefore)
		}
		if v := e.fake.IssueRequests()[0]["Validity"].(map[string]any); v["Type"] != "END_DATE" {
			t.Errorf("Validity = %v, want END_DATE", v)
		}
		if err := ca.CheckIssued(req, leaf, e.clock.now()); err != nil {
			t.Errorf("ca.CheckIssued: %v", err)
		}
		req.NotAfter = e.clock.now().Add(-time.Second)
		var rej *ca.RejectedError
		if _, err := e.issuer.Issue(testCtx(t), req); !errors.As(err, &rej) {
			t.Errorf("Issue with a past notAfter = %v, want *ca.RejectedError", err)
		}
	})
}

func TestIssueWaitsWhileInProgress(t *testing.T) {
	eachWire(t, func(t *testing.T, w wire) {
		e := newEnv(t, w, pcafake.Config{InProgressGets: 2}, nil)
		if _, err := e.issuer.Issue(testCtx(t), issueReq(t, "order-wait")); err != nil {
			t.Fatalf("Issue: %v", err)
		}
		if n := e.fake.Calls()[pcafake.OpGetCertificate]; n != 3 {
			t.Errorf("GetCertificate calls = %d, want 3", n)
		}
		if got := e.waits.get(); len(got) != 2 || got[0] != testBackoff || got[1] != 2*testBackoff {
			t.Errorf("waits = %v, want [%s %s]", got, testBackoff, 2*testBackoff)
		}
	})
}

func TestIssueInProgressBeyondBoundIsTransientThenResumes(t *testing.T) {
	eachWire(t, func(t *testing.T, w wire) {
		e := newEnv(t, w, pcafake.Config{InProgressGets: 6}, nil)
		var recorded string
		req := issueReq(t, "order-slow")
		req.Submitted = func(_ context.Context, arn string) error { recorded = arn; return nil }
		_, err := e.issuer.Issue(testCtx(t), req)
		if !errors.Is(err, ca.ErrTransient) {
			t.Fatalf("Issue = %v, want ca.ErrTransient after 4 polls", err)
		}
		if recorded == "" || !strings.Contains(err.Error(), recorded) {
			t.Errorf("Submitted recorded %q; the error %q should name it", recorded, err)
		}
		got, err := e.issuer.Resume(testCtx(t), recorded)
		if err != nil {
			t.Fatalf("Resume: %v", err)
		}
		if got.Resource != recorded || e.fake.Minted() != 1 || e.fake.Calls()[pcafake.OpIssueCertificate] != 1 {
			t.Errorf("Resume = %s, minted %d, calls %v; want the recorded certificate, one issuance", got.Resource, e.fake.Minted(), e.fake.Calls())
		}
	})
}

func TestIssueSameRequestIDWithinWindowMintsOnce(t *testing.T) {
	eachWire(t, func(t *testing.T, w wire) {
		e := newEnv(t, w, pcafake.Config{}, nil)
		req := issueReq(t, "order-dup")
		first, err := e.issuer.Issue(testCtx(t), req)
		if err != nil {
			t.Fatalf("first Issue: %v", err)
		}
		e.clock.advance(4 * time.Minute)
		second, err := e.issuer.Issue(testCtx(t), req)
		if err != nil {
			t.Fatalf("second Issue: %v", err)
		}
		if first.Resource != second.Resource || !bytes.Equal(first.Chain[0], second.Chain[0]) {
			t.Error("second Issue inside the window returned a different certificate")
		}
		if n := e.fake.Minted(); n != 1 {
			t.Errorf("fake minted %d certificates, want 1", n)
		}
	})
}

func TestBeyondWindowResumeKeepsOneCertificate(t *testing.T) {
	eachWire(t, func(t *testing.T, w wire) {
		e := newEnv(t, w, pcafake.Config{}, nil)
		req := issueReq(t, "order-late")
		var recorded []string
		req.Submitted = func(_ context.Context, arn string) error {
			recorded = append(recorded, arn)
			return nil
		}
		first, err := e.issuer.Issue(testCtx(t), req)
		if err != nil {
			t.Fatalf("Issue: %v", err)
		}
		e.clock.advance(6 * time.Minute) // the instance died; AWS forgot the token
		got, err := e.issuer.Resume(testCtx(t), recorded[0])
		if err != nil {
			t.Fatalf("Resume: %v", err)
		}
		if got.Resource != first.Resource || !bytes.Equal(got.Chain[0], first.Chain[0]) || e.fake.Minted() != 1 {
			t.Errorf("Resume after the window: %s (minted %d), want %s and one certificate", got.Resource, e.fake.Minted(), first.Resource)
		}
		// What Resume avoids: issuing again past the window mints anew.
		again, err := e.issuer.Issue(testCtx(t), req)
		if err != nil {
			t.Fatalf("Issue past the window: %v", err)
		}
		if again.Resource == first.Resource || e.fake.Minted() != 2 {
			t.Errorf("Issue past the window returned %s, minted %d: the fake's window is not 5 minutes", again.Resource, e.fake.Minted())
		}
		if _, err := e.issuer.Resume(testCtx(t), e.fake.CAArn()+"/certificate/00000000000000000000000000000000"); !errors.Is(err, ca.ErrNotIssued) {
			t.Errorf("Resume of an unknown ARN = %v, want ca.ErrNotIssued", err)
		}
	})
}

func TestIssueRefusesCSRBeyondTheOrder(t *testing.T) {
	key := ecKey(t)
	cases := []struct {
		name string
		tmpl *x509.CertificateRequest
	}{
		{"extra DNS name", &x509.CertificateRequest{DNSNames: []string{"a.example.internal", "evil.example"}}},
		{"other common name", &x509.CertificateRequest{Subject: pkix.Name{CommonName: "evil.example"}, DNSNames: []string{"a.example.internal"}}},
		{"organization in the subject", &x509.CertificateRequest{Subject: pkix.Name{Organization: []string{"Evil"}}, DNSNames: []string{"a.example.internal"}}},
		{"e-mail address", &x509.CertificateRequest{DNSNames: []string{"a.example.internal"}, EmailAddresses: []string{"x@example.com"}}},
	}
	e := newEnv(t, wires[0], pcafake.Config{}, nil)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			csr := newCSR(t, key, tc.tmpl)
			req := ca.IssueRequest{
				CSR: csr, PublicKey: csr.PublicKey, CommonName: "a.example.internal",
				DNSNames: []string{"a.example.internal"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
				Lifetime: time.Hour, RequestID: ca.RequestID("o"),
			}
			var rej *ca.RejectedError
			if _, err := e.issuer.Issue(testCtx(t), req); !errors.As(err, &rej) {
				t.Fatalf("Issue = %v, want *ca.RejectedError", err)
			}
		})
	}
	if n := e.fake.Calls()[pcafake.OpIssueCertificate]; n != 0 {
		t.Errorf("IssueCertificate calls = %d, want 0", n)
	}
}

func TestIssueMismatchedSigningAlgorithm(t *testing.T) {
	eachWire(t, func(t *testing.T, w wire) {
		e := newEnv(t, w, pcafake.Config{}, func(c *Config) { c.SigningAlgorithm = "SHA256WITHRSA" })
		if err := e.issuer.Check(testCtx(t)); !errors.Is(err, ca.ErrMisconfigured) || !strings.Contains(err.Error(), "SigningAlgorithm") {
			t.Errorf("Check = %v, want ca.ErrMisconfigured naming SigningAlgorithm", err)
		}
		var rej *ca.RejectedError
		_, err := e.issuer.Issue(testCtx(t), issueReq(t, "order-rsa"))
		if !errors.As(err, &rej) || code(err) != "InvalidArgsException" {
			t.Errorf("Issue = %v, want the fake's InvalidArgsException as *ca.RejectedError", err)
		}
	})
}

func TestRoots(t *testing.T) {
	for _, rootCA := range []bool{false, true} {
		t.Run(map[bool]string{false: "subordinate", true: "root"}[rootCA], func(t *testing.T) {
			eachWire(t, func(t *testing.T, w wire) {
				e := newEnv(t, w, pcafake.Config{RootCA: rootCA}, nil)
				roots, err := e.issuer.Roots(testCtx(t))
				if err != nil {
					t.Fatalf("Roots: %v", err)
				}
				block, _ := pem.Decode(e.fake.RootPEM())
				if len(roots) != 1 || !bytes.Equal(roots[0], block.Bytes) {
					t.Errorf("RootCA=%v: Roots is not the fake's root", rootCA)
				}
				if rootCA {
					got, err := e.issuer.Issue(testCtx(t), issueReq(t, "order-root"))
					if err != nil || len(got.Chain) != 1 {
						t.Errorf("Issue under a root CA = %v, %v; want the leaf alone", got, err)
					}
				}
			})
		})
	}
}
