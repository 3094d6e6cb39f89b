package wfe_test

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"golang.org/x/crypto/acme"
)

// RFC 8555 §7.6: an account holding valid authorizations for every
// identifier of a certificate may revoke it, although another account
// issued it; an account without them may not.
func TestRevokeByAuthorizationHolder(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	issuer := e.client(t)
	der, _ := e.issueIP(t, ctx, issuer)
	stranger := e.client(t)
	if _, err := stranger.Register(ctx, &acme.Account{}, acme.AcceptTOS); err != nil {
		t.Fatal(err)
	}
	err := stranger.RevokeCert(ctx, nil, der[0], acme.CRLReasonKeyCompromise)
	var ae *acme.Error
	if !errors.As(err, &ae) || ae.StatusCode != 403 || ae.ProblemType != "urn:ietf:params:acme:error:unauthorized" {
		t.Fatalf("revocation by an account without authorizations: %v, want 403 unauthorized", err)
	}
	holder := e.client(t)
	e.issueIP(t, ctx, holder) // holder now holds a valid authorization for 127.0.0.1
	if err := holder.RevokeCert(ctx, nil, der[0], acme.CRLReasonKeyCompromise); err != nil {
		t.Fatalf("revocation by an account holding the authorizations: %v", err)
	}
	// x/crypto/acme hides alreadyRevoked; ARI shows the revocation took:
	// the window of a revoked certificate has passed.
	leaf, err := x509.ParseCertificate(der[0])
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.Get(e.srv.URL + "/acme/acme/renewal-info/" + certID(leaf))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var ri struct{ SuggestedWindow struct{ End time.Time } }
	if err := json.NewDecoder(res.Body).Decode(&ri); err != nil || !ri.SuggestedWindow.End.Before(time.Now()) {
		t.Fatalf("renewal window after the revocation ends %s (%v), want in the past", ri.SuggestedWindow.End, err)
	}
}
