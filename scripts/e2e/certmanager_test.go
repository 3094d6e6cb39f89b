package e2e

import (
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
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.status != http.StatusOK || rec.location != orderURL {
		t.Errorf("finalize response: %d, Location %q; want 200 with Location %s", rec.status, rec.location, orderURL)
	}
	if certURL == "" {
		t.Errorf("no certificate URL")
	}
}
