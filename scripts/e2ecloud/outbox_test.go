package e2ecloud

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/acme"

	"github.com/acmera/acmera/scripts/internal/e2eutil"
)

// TestKillBetweenCAAnswerAndRecord kill -9s the ACME process while CAS
// has minted but not yet answered (the fake holds the answer), so the
// certificate exists only at the CA. The finalize task queued before the
// CA call (the outbox) asks CAS again with the same request ID, and the
// order ends valid with the one certificate CAS minted.
func TestKillBetweenCAAnswerAndRecord(t *testing.T) {
	t.Parallel()
	needEmulator(t)
	gcp := startFakeGCP(t)
	s := newStack(t, gcp.gcpEndpoints)
	roots := gcp.Roots(t)
	ctx := e2eutil.TestContext(t, 90*time.Second)
	name := "outbox.example.test"
	cl, o := s.readyOrder(t, ctx, name)
	gcp.Post(t, "/hold?n=1")
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{name}}, key)
	mustf(t, err, "CreateCertificateRequest")
	finalized := make(chan error, 1)
	go func() {
		_, _, err := cl.CreateOrderCert(ctx, o.FinalizeURL, csr, false)
		finalized <- err
	}()
	waitStats(t, ctx, gcp, "the certificate minted", func(st gcpStats) bool { return st.Minted == 1 })
	s.ACME.Kill()
	s.ACME.Start()
	// The client re-sends its finalize to the new process, which finds the
	// order already processing.
	if err := <-finalized; err == nil {
		t.Fatal("finalize succeeded although the ACME process was killed before CAS answered")
	}
	// Within 20 s: before the RA's 30 s re-queue of a processing order, so
	// only the outbox task can have healed it.
	pollCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	done, err := pollFinal(pollCtx, cl, o.URI)
	mustf(t, err, "poll the order")
	if done.Status != acme.StatusValid {
		t.Fatalf("order %s (%v), want valid", done.Status, done.Error)
	}
	chain, err := cl.FetchCert(ctx, done.CertURL, true)
	mustf(t, err, "FetchCert")
	leaf, err := e2eutil.VerifyChain(roots, chain, acme.DomainIDs(name), key.Public())
	mustf(t, err, "verify")
	if st := gcp.Stats(t); st.Minted != 1 {
		t.Errorf("CAS minted %d certificates, want the one", st.Minted)
	}
	checkBuiltByAcmera(t, leaf, name)
}

// checkBuiltByAcmera checks that a leaf holds exactly what acmera builds:
// CN and one DNS SAN of the name, digitalSignature, serverAuth only, not
// a CA, and no extension beyond those and the CA's key identifiers.
func checkBuiltByAcmera(t *testing.T, leaf *x509.Certificate, name string) {
	t.Helper()
	if leaf.Subject.CommonName != name || len(leaf.Subject.Names) != 1 || len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != name ||
		len(leaf.IPAddresses)+len(leaf.EmailAddresses)+len(leaf.URIs) != 0 {
		t.Errorf("leaf subject %v SANs %v %v %v %v: want only %s", leaf.Subject, leaf.DNSNames, leaf.IPAddresses, leaf.EmailAddresses, leaf.URIs, name)
	}
	if leaf.IsCA || leaf.KeyUsage != x509.KeyUsageDigitalSignature ||
		len(leaf.ExtKeyUsage) != 1 || leaf.ExtKeyUsage[0] != x509.ExtKeyUsageServerAuth || len(leaf.UnknownExtKeyUsage) != 0 {
		t.Errorf("leaf CA %v KU %v EKU %v %v: want digitalSignature, serverAuth, not a CA", leaf.IsCA, leaf.KeyUsage, leaf.ExtKeyUsage, leaf.UnknownExtKeyUsage)
	}
	allowed := map[string]bool{"2.5.29.15": true, "2.5.29.37": true, "2.5.29.19": true, "2.5.29.17": true, "2.5.29.35": true, "2.5.29.14": true}
	for _, e := range leaf.Extensions {
		if !allowed[e.Id.String()] {
			t.Errorf("leaf carries extension %s that acmera did not build", e.Id)
		}
	}
}

// TestCSRSmugglingRefused sends CSRs that ask for more than the order on
// the Firestore stack: each is badCSR, and the order stays ready.
func TestCSRSmugglingRefused(t *testing.T) {
	t.Parallel()
	needEmulator(t)
	gcp := startFakeGCP(t)
	s := newStack(t, gcp.gcpEndpoints)
	ctx := e2eutil.TestContext(t, 60*time.Second)
	name := "app.example.test"
	cl, o := s.readyOrder(t, ctx, name)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	bc, _ := asn1.Marshal(struct{ IsCA bool }{true})
	upn := []byte{0xa0, 0x0a, 0x06, 0x03, 0x2b, 0x06, 0x01, 0xa0, 0x03, 0x0c, 0x01, 0x61} // otherName
	san, _ := asn1.Marshal([]asn1.RawValue{{Class: asn1.ClassContextSpecific, Tag: 2, Bytes: []byte(name)}, {FullBytes: upn}})
	eku, _ := asn1.Marshal([]asn1.ObjectIdentifier{{1, 3, 6, 1, 5, 5, 7, 3, 3}})
	cases := []struct {
		what string
		tmpl x509.CertificateRequest
		want string
	}{
		{"CA:TRUE", x509.CertificateRequest{DNSNames: []string{name}, ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 19}, Critical: true, Value: bc}}}, "CA certificate"},
		{"codeSigning", x509.CertificateRequest{DNSNames: []string{name}, ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 37}, Value: eku}}}, "extended key usage"},
		{"otherName UPN", x509.CertificateRequest{ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 17}, Value: san}}}, "otherName"},
		{"O and OU", x509.CertificateRequest{Subject: pkix.Name{Organization: []string{"Evil Corp"}, OrganizationalUnit: []string{"Domain Admins"}}, DNSNames: []string{name}}, "only a commonName"},
	}
	for _, tc := range cases {
		der, err := x509.CreateCertificateRequest(rand.Reader, &tc.tmpl, key)
		mustf(t, err, "CSR %s", tc.what)
		_, _, err = cl.CreateOrderCert(ctx, o.FinalizeURL, der, false)
		var ae *acme.Error
		if !errors.As(err, &ae) || ae.StatusCode != 400 || ae.ProblemType != "urn:ietf:params:acme:error:badCSR" || !strings.Contains(ae.Detail, tc.want) {
			t.Errorf("%s: %v, want 400 badCSR naming %q", tc.what, err, tc.want)
		}
	}
	now, err := cl.GetOrder(ctx, o.URI)
	mustf(t, err, "GetOrder")
	if now.Status != acme.StatusReady {
		t.Errorf("order %s after the refusals, want ready", now.Status)
	}
	if st := gcp.Stats(t); st.CAS["CreateCertificate"] != 0 {
		t.Errorf("CAS got %d CreateCertificate calls, want none", st.CAS["CreateCertificate"])
	}
}

// readyOrder registers a new account and makes an order for name ready
// (http-01).
func (s *stack) readyOrder(t *testing.T, ctx context.Context, name string) (*acme.Client, *acme.Order) {
	t.Helper()
	cl, err := newClient(s.DirURL, nil)
	mustf(t, err, "newClient")
	mustf(t, register(ctx, cl), "register")
	o, _, err := s.authorize(ctx, cl, []string{name}, "http-01")
	mustf(t, err, "authorize")
	return cl, o
}
