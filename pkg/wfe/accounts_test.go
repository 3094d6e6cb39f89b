package wfe_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/acme"

	acmefn "github.com/acmera/acmera/functions/acme"
)

// wantACMEError checks an x/crypto/acme error's status, problem type and
// that its detail names the fault.
func wantACMEError(t *testing.T, err error, status int, typ, detailHas string) {
	t.Helper()
	var ae *acme.Error
	if !errors.As(err, &ae) {
		t.Fatalf("got %v, want a %d %s problem", err, status, typ)
	}
	if ae.StatusCode != status || ae.ProblemType != urn+typ || !strings.Contains(ae.Detail, detailHas) {
		t.Fatalf("got %d %s %q, want %d %s naming %q", ae.StatusCode, ae.ProblemType, ae.Detail, status, typ, detailHas)
	}
}

// A key rollover and a deactivation hold from the very next request
// (RFC 8555 §7.3.5, §7.3.6), with the account cache of the embedded default
// and without it (the cloud functions).
func TestAccountChangesHoldAtOnce(t *testing.T) {
	for _, ttl := range []time.Duration{5 * time.Second, 0} {
		t.Run("cache "+ttl.String(), func(t *testing.T) {
			e := newEnv(t, func(p *acmefn.Parts) { p.AccountCacheTTL = ttl })
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			c := e.client(t)
			acct, err := c.Register(ctx, &acme.Account{}, acme.AcceptTOS)
			if err != nil {
				t.Fatalf("Register: %v", err)
			}
			order := acme.DomainIDs("a.example")
			if _, err := c.AuthorizeOrder(ctx, order); err != nil { // the account is cached now
				t.Fatalf("AuthorizeOrder: %v", err)
			}
			oldKey := c.Key
			newKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if err := c.AccountKeyRollover(ctx, newKey); err != nil {
				t.Fatalf("AccountKeyRollover: %v", err)
			}
			old := &acme.Client{Key: oldKey, KID: acme.KeyID(acct.URI), DirectoryURL: c.DirectoryURL}
			_, err = old.AuthorizeOrder(ctx, order)
			wantACMEError(t, err, 400, "malformed", "current key of account")
			if _, err := c.AuthorizeOrder(ctx, order); err != nil {
				t.Fatalf("AuthorizeOrder with the new key: %v", err)
			}
			if err := c.DeactivateReg(ctx); err != nil {
				t.Fatalf("DeactivateReg: %v", err)
			}
			_, err = c.AuthorizeOrder(ctx, order)
			wantACMEError(t, err, 401, "unauthorized", "deactivated")
		})
	}
}

// getssl's "mailto: user@example.com" is normalized, not refused, at
// newAccount and at a contact update.
func TestContactNormalized(t *testing.T) {
	e := newEnv(t)
	c := newRawClient(t, e)
	contact := func(r *response) string {
		var a struct {
			Contact []string `json:"contact"`
		}
		if err := json.Unmarshal(r.body, &a); err != nil || len(a.Contact) != 1 {
			t.Fatalf("account %s: %v", r.body, err)
		}
		return a.Contact[0]
	}
	r := c.do(c.base+"/new-account", map[string]any{"contact": []string{"mailto: user@example.com"}, "termsOfServiceAgreed": true})
	if r.status != http.StatusCreated || contact(r) != "mailto:user@example.com" {
		t.Fatalf("new-account: %d %s", r.status, r.body)
	}
	c.kid = r.header.Get("Location")
	r = c.do(c.kid, map[string]any{"contact": []string{" mailto: other@example.com"}})
	if r.status != http.StatusOK || contact(r) != "mailto:other@example.com" {
		t.Fatalf("contact update: %d %s", r.status, r.body)
	}
}
