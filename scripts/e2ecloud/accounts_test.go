package e2ecloud

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/acme"

	"github.com/acmera/acmera/scripts/internal/e2eutil"
)

// via returns an x/crypto/acme client for an existing account that sends
// every request to instance p, whatever the URL's host: a load balancer
// that picked p. The URLs (and so the Host header, from which the
// functions derive their own URLs) stay those of the first instance.
func via(p *fnProc, dirURL string, key crypto.Signer, kid acme.KeyID) *acme.Client {
	addr := strings.TrimSuffix(strings.TrimPrefix(p.URL(), "http://"), "/")
	var d net.Dialer
	tr := &http.Transport{Proxy: nil, DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return d.DialContext(ctx, network, addr)
	}}
	return &acme.Client{Key: key, KID: kid, DirectoryURL: dirURL, RetryBackoff: shortBackoff,
		HTTPClient: &http.Client{Timeout: 30 * time.Second, Transport: tr}}
}

// wantProblem checks an ACME error's status, type and that its detail
// names the fault.
func wantProblem(t *testing.T, err error, status int, typ, detailHas string) {
	t.Helper()
	var ae *acme.Error
	if !errors.As(err, &ae) {
		t.Fatalf("got %v, want a %d %s problem", err, status, typ)
	}
	if ae.StatusCode != status || ae.ProblemType != "urn:ietf:params:acme:error:"+typ || !strings.Contains(ae.Detail, detailHas) {
		t.Fatalf("got %d %s %q, want %d %s naming %q", ae.StatusCode, ae.ProblemType, ae.Detail, status, typ, detailHas)
	}
}

// TestAccountChangesAcrossInstances runs two ACME instances on one
// Firestore: a key rollover (RFC 8555 §7.3.5) and a deactivation (§7.3.6)
// made through the first hold on the second from its very next request,
// although the second had just served the account.
func TestAccountChangesAcrossInstances(t *testing.T) {
	t.Parallel()
	needEmulator(t)
	gcp := startFakeGCP(t)
	s := newStack(t, gcp.gcpEndpoints)
	second := s.addACME()
	ctx := e2eutil.TestContext(t, 2*time.Minute)
	first, err := newClient(s.DirURL, nil)
	mustf(t, err, "newClient")
	acct, err := first.Register(ctx, &acme.Account{}, acme.AcceptTOS)
	mustf(t, err, "Register")
	kid := acme.KeyID(acct.URI)
	order := acme.DomainIDs("rollover.example.test")

	oldKey := first.Key
	old := via(second, s.DirURL, oldKey, kid)
	_, err = old.AuthorizeOrder(ctx, order)
	mustf(t, err, "new-order through the second instance, before the rollover")

	newKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	mustf(t, err, "ecdsa.GenerateKey")
	mustf(t, first.AccountKeyRollover(ctx, newKey), "keyChange through the first instance")
	_, err = old.AuthorizeOrder(ctx, order)
	wantProblem(t, err, http.StatusBadRequest, "malformed", "current key of account")

	rolled := via(second, s.DirURL, newKey, kid)
	_, err = rolled.AuthorizeOrder(ctx, order)
	mustf(t, err, "new-order with the new key through the second instance")

	mustf(t, first.DeactivateReg(ctx), "deactivation through the first instance")
	_, err = rolled.AuthorizeOrder(ctx, order)
	wantProblem(t, err, http.StatusUnauthorized, "unauthorized", "deactivated")

	// The refusals came from the second instance.
	newOrder := func(ev map[string]any) bool {
		hr, _ := ev["httpRequest"].(map[string]any)
		u, _ := hr["requestUrl"].(string)
		return strings.HasSuffix(u, "/new-order")
	}
	var statuses []int
	for _, ev := range second.waitLogEvents(ctx, "request", 4, newOrder) {
		st, _ := ev["httpRequest"].(map[string]any)["status"].(float64)
		statuses = append(statuses, int(st))
	}
	if want := []int{201, 400, 201, 401}; !slices.Equal(statuses, want) {
		t.Fatalf("the second instance answered new-order with %v, want %v", statuses, want)
	}
}
