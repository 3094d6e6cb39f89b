package e2e

import (
	"context"
	"crypto/x509"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	cmacme "github.com/cert-manager/cert-manager/third_party/forked/acme"
	"golang.org/x/crypto/acme"

	"github.com/acmera/acmera/scripts/internal/e2eutil"
)

// finalizeRecorder remembers the status and Location header of the
// finalize response, which cert-manager's client polls.
type finalizeRecorder struct {
	base http.RoundTripper

	mu       sync.Mutex
	status   int
	location string
}

func (f *finalizeRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := f.base.RoundTrip(req)
	if err == nil && req.Method == http.MethodPost && strings.HasSuffix(req.URL.Path, "/finalize") {
		f.mu.Lock()
		f.status, f.location = res.StatusCode, res.Header.Get("Location")
		f.mu.Unlock()
	}
	return res, err
}

// TestCertManagerHTTP01 completes an http-01 order with cert-manager's
// forked ACME client, through its own finalize path: it polls the order at
// the finalize response's Location (RFC 8555 §7.4) and downloads the
// chain.
func TestCertManagerHTTP01(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := e2eutil.TestContext(t, 60*time.Second)
	hc := e.Srv.HTTPClient()
	rec := &finalizeRecorder{base: hc.Transport}
	hc.Transport = rec
	cl := &cmacme.Client{Key: newKey(t), DirectoryURL: e.Srv.DirURL, HTTPClient: hc, UserAgent: "cert-manager-e2e"}
	if _, err := cl.Register(ctx, &cmacme.Account{}, cmacme.AcceptTOS); err != nil {
		t.Fatalf("Register: %v", err)
	}
	const name = "cert-manager.e2e.test"
	o, err := cl.AuthorizeOrder(ctx, cmacme.DomainIDs(name))
	if err != nil {
		t.Fatalf("AuthorizeOrder: %v", err)
	}
	for _, u := range o.AuthzURLs {
		z, err := cl.GetAuthorization(ctx, u)
		if err != nil {
			t.Fatalf("GetAuthorization: %v", err)
		}
		var ch *cmacme.Challenge
		for _, c := range z.Challenges {
			if c.Type == "http-01" {
				ch = c
			}
		}
		if ch == nil {
			t.Fatalf("authorization for %s offers no http-01", z.Identifier.Value)
		}
		body, err := cl.HTTP01ChallengeResponse(ch.Token)
		if err != nil {
			t.Fatalf("HTTP01ChallengeResponse: %v", err)
		}
		e.HTTP01.Set(ch.Token, body)
		if _, err := cl.Accept(ctx, ch); err != nil {
			t.Fatalf("Accept: %v", err)
		}
		if _, err := cl.WaitAuthorization(ctx, z.URI); err != nil {
			t.Fatalf("WaitAuthorization: %v", err)
		}
	}
	orderURL := o.URI // a POST-as-GET of the order has no Location, so o.URI is lost below
	if o, err = cl.WaitOrder(ctx, orderURL); err != nil || o.Status != cmacme.StatusReady {
		t.Fatalf("WaitOrder: %+v, %v; want ready", o, err)
	}
	key := newKey(t)
	ids := acme.DomainIDs(name)
	chain, certURL, err := cl.CreateOrderCert(ctx, o.FinalizeURL, csrFor(t, key, ids), true)
	if err != nil {
		t.Fatalf("CreateOrderCert: %v", err)
	}
	verifyChain(t, e.Srv.Root, chain, ids, key.Public())
	checkRenewalInfo(t, ctx, cl, chain[0])
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.status != http.StatusOK || rec.location != orderURL {
		t.Errorf("finalize response: %d, Location %q; want 200 with Location %s", rec.status, rec.location, orderURL)
	}
	if certURL == "" {
		t.Errorf("no certificate URL")
	}
}

// checkRenewalInfo fetches the certificate's ARI window with cert-manager's
// own client (RFC 9773): a window around the start of its last third, and
// a Retry-After.
func checkRenewalInfo(t *testing.T, ctx context.Context, cl *cmacme.Client, der []byte) {
	t.Helper()
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	ri, err := cl.GetRenewalInfo(ctx, leaf)
	if err != nil {
		t.Fatalf("GetRenewalInfo: %v", err)
	}
	life := leaf.NotAfter.Sub(leaf.NotBefore)
	w := ri.SuggestedWindow
	if !w.Start.After(leaf.NotBefore.Add(life/2)) || !w.End.Before(leaf.NotAfter) || !w.End.After(w.Start) || ri.RetryAfter <= 0 {
		t.Errorf("renewal window %s to %s (retry after %s) for a certificate valid %s to %s",
			w.Start, w.End, ri.RetryAfter, leaf.NotBefore, leaf.NotAfter)
	}
}
