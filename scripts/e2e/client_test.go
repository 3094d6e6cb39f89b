package e2e

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/acme"
)

// maxLifetime is the longest certificate the embedded default may issue
// with no notAfter requested: its 24 h default, plus an hour of backdating.
const maxLifetime = 25 * time.Hour

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("ecdsa.GenerateKey: %v", err)
	}
	return k
}

// newClient returns an x/crypto/acme client with a fresh key and a newly
// registered account (RFC 8555 §7.3).
func (e *env) newClient(ctx context.Context, t *testing.T) *acme.Client {
	t.Helper()
	cl := &acme.Client{Key: newKey(t), DirectoryURL: e.Srv.DirURL, HTTPClient: e.Srv.HTTPClient()}
	acct, err := cl.Register(ctx, &acme.Account{Contact: []string{"mailto:e2e@example.test"}}, acme.AcceptTOS)
	if err != nil {
		t.Fatalf("Register: %v", err)
	}
	if acct.Status != acme.StatusValid || acct.URI == "" {
		t.Fatalf("Register: account %+v, want valid with a URI", acct)
	}
	return cl
}

// chooser picks the challenge type to answer for an authorization.
type chooser func(z *acme.Authorization) string

func always(typ string) chooser { return func(*acme.Authorization) string { return typ } }

// present publishes the response to one challenge through e's responders
// (RFC 8555 §8.3, §8.4; RFC 8737 §3).
func (e *env) present(t *testing.T, cl *acme.Client, z *acme.Authorization, ch *acme.Challenge) {
	t.Helper()
	var err error
	switch ch.Type {
	case "http-01":
		var body string
		if body, err = cl.HTTP01ChallengeResponse(ch.Token); err == nil {
			e.HTTP01.Set(ch.Token, body)
		}
	case "dns-01":
		var rec string
		if rec, err = cl.DNS01ChallengeRecord(ch.Token); err == nil {
			e.DNS.AddTXT("_acme-challenge."+z.Identifier.Value, rec)
		}
	case "tls-alpn-01":
		name := z.Identifier.Value
		if ip := net.ParseIP(name); ip != nil {
			name = "" // RFC 8738 §6: no SNI; not used by these tests
		}
		cert, cerr := cl.TLSALPN01ChallengeCert(ch.Token, z.Identifier.Value)
		if err = cerr; err == nil {
			e.ALPN.Set(name, cert)
		}
	default:
		t.Fatalf("no responder for %s", ch.Type)
	}
	if err != nil {
		t.Fatalf("%s response for %s: %v", ch.Type, z.Identifier.Value, err)
	}
}

// findChallenge returns z's challenge of type typ.
func findChallenge(t *testing.T, z *acme.Authorization, typ string) *acme.Challenge {
	t.Helper()
	for _, ch := range z.Challenges {
		if ch.Type == typ {
			return ch
		}
	}
	var have []string
	for _, ch := range z.Challenges {
		have = append(have, ch.Type)
	}
	t.Fatalf("authorization for %s offers %v, not %s", z.Identifier.Value, have, typ)
	return nil
}

// authorize places an order and answers one challenge per authorization,
// then waits for the order to be ready (RFC 8555 §7.4, §7.5.1).
func (e *env) authorize(ctx context.Context, t *testing.T, cl *acme.Client, ids []acme.AuthzID, pick chooser) *acme.Order {
	t.Helper()
	o, err := cl.AuthorizeOrder(ctx, ids)
	if err != nil {
		t.Fatalf("AuthorizeOrder %v: %v", ids, err)
	}
	if o.Status != acme.StatusPending || len(o.AuthzURLs) != len(ids) {
		t.Fatalf("new order: status %s with %d authorizations, want pending with %d", o.Status, len(o.AuthzURLs), len(ids))
	}
	for _, u := range o.AuthzURLs {
		z, err := cl.GetAuthorization(ctx, u)
		if err != nil {
			t.Fatalf("GetAuthorization: %v", err)
		}
		if z.Status == acme.StatusValid {
			continue
		}
		ch := findChallenge(t, z, pick(z))
		e.present(t, cl, z, ch)
		if _, err := cl.Accept(ctx, ch); err != nil {
			t.Fatalf("Accept %s for %s: %v", ch.Type, z.Identifier.Value, err)
		}
		if _, err := cl.WaitAuthorization(ctx, z.URI); err != nil {
			t.Fatalf("WaitAuthorization %s (%s): %v", z.Identifier.Value, ch.Type, err)
		}
	}
	o, err = cl.WaitOrder(ctx, o.URI)
	if err != nil {
		t.Fatalf("WaitOrder: %v", err)
	}
	if o.Status != acme.StatusReady {
		t.Fatalf("order status %s after every authorization is valid, want ready", o.Status)
	}
	return o
}

// csrFor makes a CSR for the identifiers, signed by key.
func csrFor(t *testing.T, key crypto.Signer, ids []acme.AuthzID) []byte {
	t.Helper()
	tmpl := &x509.CertificateRequest{Subject: pkix.Name{}}
	for _, id := range ids {
		if id.Type == "ip" {
			tmpl.IPAddresses = append(tmpl.IPAddresses, net.ParseIP(id.Value))
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, id.Value)
		}
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatalf("x509.CreateCertificateRequest: %v", err)
	}
	return der
}

// issue runs a whole order and returns the chain and the certificate key.
func (e *env) issue(ctx context.Context, t *testing.T, cl *acme.Client, ids []acme.AuthzID, pick chooser) ([][]byte, *ecdsa.PrivateKey) {
	t.Helper()
	o := e.authorize(ctx, t, cl, ids, pick)
	key := newKey(t)
	chain, _, err := cl.CreateOrderCert(ctx, o.FinalizeURL, csrFor(t, key, ids), true)
	if err != nil {
		t.Fatalf("CreateOrderCert: %v", err)
	}
	verifyChain(t, e.Srv.Root, chain, ids, key.Public())
	return chain, key
}

// verifyChain checks a downloaded chain: it verifies to the server's root
// for TLS server auth, the leaf's SANs are exactly the identifiers, the
// leaf holds the CSR's key, and the lifetime is the default (≤ 24 h).
func verifyChain(t *testing.T, roots *x509.CertPool, chain [][]byte, ids []acme.AuthzID, pub crypto.PublicKey) *x509.Certificate {
	t.Helper()
	if len(chain) < 2 {
		t.Fatalf("chain has %d certificates, want leaf + intermediate", len(chain))
	}
	certs := make([]*x509.Certificate, len(chain))
	for i, der := range chain {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatalf("chain[%d]: x509.ParseCertificate: %v", i, err)
		}
		certs[i] = c
	}
	leaf, inter := certs[0], x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		t.Fatalf("leaf does not verify to root.pem: %v", err)
	}
	var wantDNS, wantIP, gotIP []string
	for _, id := range ids {
		if id.Type == "ip" {
			wantIP = append(wantIP, net.ParseIP(id.Value).String())
		} else {
			wantDNS = append(wantDNS, strings.ToLower(id.Value))
		}
	}
	for _, ip := range leaf.IPAddresses {
		gotIP = append(gotIP, ip.String())
	}
	gotDNS := slices.Clone(leaf.DNSNames)
	slices.Sort(wantDNS)
	slices.Sort(gotDNS)
	slices.Sort(wantIP)
	slices.Sort(gotIP)
	if !slices.Equal(gotDNS, wantDNS) || !slices.Equal(gotIP, wantIP) {
		t.Errorf("leaf SANs: DNS %q IP %q, want DNS %q IP %q", gotDNS, gotIP, wantDNS, wantIP)
	}
	if k, ok := pub.(interface{ Equal(crypto.PublicKey) bool }); !ok || !k.Equal(leaf.PublicKey) {
		t.Errorf("leaf public key is not the CSR's key")
	}
	if life := leaf.NotAfter.Sub(leaf.NotBefore); life > maxLifetime || life <= 0 {
		t.Errorf("leaf lifetime %s, want the 24h default", life)
	}
	return leaf
}
