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
	"testing"
	"time"

	"golang.org/x/crypto/acme"

	"github.com/acmera/acmera/scripts/internal/e2eutil"
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

// findChallenge returns z's challenge of type typ.
func findChallenge(t *testing.T, z *acme.Authorization, typ string) *acme.Challenge {
	t.Helper()
	ch, err := e2eutil.FindChallenge(z, typ)
	if err != nil {
		t.Fatal(err)
	}
	return ch
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
	return e.answer(ctx, t, cl, o, pick)
}

// answer answers one challenge of each authorization of o that is not
// valid yet and waits for the order to be ready.
func (e *env) answer(ctx context.Context, t *testing.T, cl *acme.Client, o *acme.Order, pick chooser) *acme.Order {
	t.Helper()
	for _, u := range o.AuthzURLs {
		z, err := cl.GetAuthorization(ctx, u)
		if err != nil {
			t.Fatalf("GetAuthorization: %v", err)
		}
		if z.Status == acme.StatusValid {
			continue
		}
		ch := findChallenge(t, z, pick(z))
		if err := e.Present(cl, z, ch); err != nil {
			t.Fatalf("%s response for %s: %v", ch.Type, z.Identifier.Value, err)
		}
		if _, err := cl.Accept(ctx, ch); err != nil {
			t.Fatalf("Accept %s for %s: %v", ch.Type, z.Identifier.Value, err)
		}
		if _, err := cl.WaitAuthorization(ctx, z.URI); err != nil {
			t.Fatalf("WaitAuthorization %s (%s): %v", z.Identifier.Value, ch.Type, err)
		}
	}
	o, err := cl.WaitOrder(ctx, o.URI)
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

// verifyChain checks a downloaded chain (e2eutil.VerifyChain: it verifies
// to roots, names exactly ids and holds pub) and that the leaf's lifetime
// is the default (≤ 24 h).
func verifyChain(t *testing.T, roots *x509.CertPool, chain [][]byte, ids []acme.AuthzID, pub crypto.PublicKey) *x509.Certificate {
	t.Helper()
	leaf, err := e2eutil.VerifyChain(roots, chain, ids, pub)
	if err != nil {
		t.Fatal(err)
	}
	if life := leaf.NotAfter.Sub(leaf.NotBefore); life > maxLifetime || life <= 0 {
		t.Errorf("leaf lifetime %s, want the 24h default", life)
	}
	return leaf
}
