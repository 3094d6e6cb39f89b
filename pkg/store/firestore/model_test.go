package firestore

import (
	"errors"
	"testing"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/acmera/acmera/pkg/acme"
	"github.com/acmera/acmera/pkg/core"
	"github.com/acmera/acmera/pkg/store"
)

// TestExpireAt checks the TTL field each document gets (policy in docs.go),
// read back raw from the emulator.
func TestExpireAt(t *testing.T) {
	s, _ := openTest(t)
	defer s.Close()
	ctx := testCtx(t)
	acct := newAccount("thumb-ttl")
	if err := s.CreateAccount(ctx, acct); err != nil {
		t.Fatalf("CreateAccount: %v", err)
	}
	o, azs := newOrder(acct, "a.example.com")
	if err := s.CreateOrder(ctx, o, azs); err != nil {
		t.Fatalf("CreateOrder: %v", err)
	}
	expireAt := func(t *testing.T, ref *firestore.DocumentRef) (time.Time, bool) {
		t.Helper()
		snap, err := ref.Get(ctx)
		if err != nil {
			t.Fatalf("Get(%s): %v", ref.Path, err)
		}
		v, err := snap.DataAt(fExpireAt)
		if err != nil {
			return time.Time{}, false
		}
		ts, ok := v.(time.Time)
		if !ok {
			t.Fatalf("%s.expireAt is %T, want a timestamp", ref.Path, v)
		}
		return ts, true
	}
	check := func(name string, ref *firestore.DocumentRef, want time.Time) {
		t.Run(name, func(t *testing.T) {
			got, ok := expireAt(t, ref)
			if !ok || !got.Equal(want) {
				t.Errorf("expireAt = %v (present %v), want %v", got, ok, want)
			}
		})
	}
	check("pending order", s.orders.Doc(o.ID), o.Expires.Add(shortGrace))
	check("pending authz", s.authzs.Doc(azs[0].ID), azs[0].Expires.Add(shortGrace))
	validate(ctx, t, s, azs[0])
	check("valid authz", s.authzs.Doc(azs[0].ID), azs[0].Expires)
	if _, err := s.BeginFinalize(ctx, o.ID, []byte("csr"), fixtureNow); err != nil {
		t.Fatalf("BeginFinalize: %v", err)
	}
	check("processing order", s.orders.Doc(o.ID), o.Expires.Add(processingGrace))
	cert := &core.Certificate{ID: o.ID, OrderID: o.ID, Serial: "ab", NotAfter: fixtureNow.Add(90 * 24 * time.Hour), Status: core.StatusValid}
	if _, err := s.CompleteFinalize(ctx, o.ID, cert); err != nil {
		t.Fatalf("CompleteFinalize: %v", err)
	}
	check("valid order", s.orders.Doc(o.ID), cert.NotAfter.Add(certGrace))
	check("certificate", s.certs.Doc(o.ID), cert.NotAfter.Add(certGrace))
	nonceExp := fixtureNow.Add(time.Hour)
	if err := s.RedeemNonce(ctx, "n1", nonceExp); err != nil {
		t.Fatalf("RedeemNonce: %v", err)
	}
	check("nonce", s.nonces.Doc("n1"), nonceExp)
	t.Run("account has none", func(t *testing.T) {
		if got, ok := expireAt(t, s.accounts.Doc(acct.ID)); ok {
			t.Errorf("account expireAt = %v, want none", got)
		}
	})
}

// TestErrors checks the error mapping: missing and unnameable documents are
// ErrNotFound, replays and taken keys ErrConflict.
func TestErrors(t *testing.T) {
	s, _ := openTest(t)
	defer s.Close()
	ctx := testCtx(t)
	acct := newAccount("thumb-err")
	if err := s.CreateAccount(ctx, acct); err != nil {
		t.Fatalf("CreateAccount: %v", err)
	}
	other := newAccount("thumb-err-2")
	if err := s.CreateAccount(ctx, other); err != nil {
		t.Fatalf("CreateAccount: %v", err)
	}
	if err := s.RedeemNonce(ctx, "nonce-1", fixtureNow); err != nil {
		t.Fatalf("RedeemNonce: %v", err)
	}
	tests := []struct {
		name string
		call func() error
		want error
	}{
		{"missing account", func() error { _, err := s.GetAccount(ctx, "nope"); return err }, store.ErrNotFound},
		{"slash in ID", func() error { _, err := s.GetOrder(ctx, "a/b"); return err }, store.ErrNotFound},
		{"empty ID", func() error { _, err := s.GetAuthorization(ctx, ""); return err }, store.ErrNotFound},
		{"reserved ID", func() error { _, err := s.GetCertificate(ctx, "__x__"); return err }, store.ErrNotFound},
		{"missing key", func() error { _, err := s.GetAccountByKey(ctx, "nope"); return err }, store.ErrNotFound},
		{"missing serial", func() error { _, err := s.GetCertificateBySerial(ctx, "ff"); return err }, store.ErrNotFound},
		{"transition of missing order", func() error { _, err := s.FailFinalize(ctx, "nope", nil); return err }, store.ErrNotFound},
		{"nonce replay", func() error { return s.RedeemNonce(ctx, "nonce-1", fixtureNow) }, store.ErrConflict},
		{"second account for a key", func() error { return s.CreateAccount(ctx, newAccount("thumb-err")) }, store.ErrConflict},
		{"key change to a bound key", func() error {
			_, err := s.ChangeAccountKey(ctx, acct.ID, "thumb-err", "thumb-err-2", nil)
			return err
		}, store.ErrConflict},
		{"key change from a wrong key", func() error {
			_, err := s.ChangeAccountKey(ctx, acct.ID, "thumb-err-2", "thumb-err-3", nil)
			return err
		}, store.ErrConflict},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); !errors.Is(err, tc.want) {
				t.Errorf("error %v, want %v", err, tc.want)
			}
		})
	}
	t.Run("failed key change keeps the binding", func(t *testing.T) {
		got, err := s.GetAccountByKey(ctx, "thumb-err")
		if err != nil || got.ID != acct.ID {
			t.Fatalf("GetAccountByKey = %v, %v; want account %s", got, err, acct.ID)
		}
	})
}

// TestChangeAccountKeyFreesOldKey: after a key change the old key is
// unbound and may register a new account; the new key finds the account.
func TestChangeAccountKeyFreesOldKey(t *testing.T) {
	s, _ := openTest(t)
	defer s.Close()
	ctx := testCtx(t)
	acct := newAccount("thumb-old")
	if err := s.CreateAccount(ctx, acct); err != nil {
		t.Fatalf("CreateAccount: %v", err)
	}
	got, err := s.ChangeAccountKey(ctx, acct.ID, "thumb-old", "thumb-new", []byte("new"))
	if err != nil || got.KeyThumbprint != "thumb-new" || string(got.Key) != "new" {
		t.Fatalf("ChangeAccountKey = %+v, %v", got, err)
	}
	if byKey, err := s.GetAccountByKey(ctx, "thumb-new"); err != nil || byKey.ID != acct.ID {
		t.Errorf("GetAccountByKey(new) = %v, %v; want %s", byKey, err, acct.ID)
	}
	if _, err := s.GetAccountByKey(ctx, "thumb-old"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetAccountByKey(old) error %v, want ErrNotFound", err)
	}
	if err := s.CreateAccount(ctx, newAccount("thumb-old")); err != nil {
		t.Errorf("CreateAccount with the old key: %v", err)
	}
}

// TestFindValidAuthorizationsWildcard: a wildcard authorization, stored
// with the base name, answers only the wildcard identifier.
func TestFindValidAuthorizationsWildcard(t *testing.T) {
	s, _ := openTest(t)
	defer s.Close()
	ctx := testCtx(t)
	acct := newAccount("thumb-wild")
	if err := s.CreateAccount(ctx, acct); err != nil {
		t.Fatalf("CreateAccount: %v", err)
	}
	o, azs := newOrder(acct, "example.com")
	azs[0].Wildcard = true
	o.Identifiers[0].Value = "*.example.com"
	if err := s.CreateOrder(ctx, o, azs); err != nil {
		t.Fatalf("CreateOrder: %v", err)
	}
	validate(ctx, t, s, azs[0])
	wild := acme.Identifier{Type: "dns", Value: "*.example.com"}
	base := acme.Identifier{Type: "dns", Value: "example.com"}
	tests := []struct {
		name      string
		profile   string
		notBefore time.Time
		want      map[acme.Identifier]bool
	}{
		{"wildcard matches", "acme", fixtureNow, map[acme.Identifier]bool{wild: true}},
		{"other profile", "other", fixtureNow, map[acme.Identifier]bool{}},
		{"expires too soon", "acme", azs[0].Expires, map[acme.Identifier]bool{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.FindValidAuthorizations(ctx, acct.ID, tc.profile, []acme.Identifier{wild, base}, tc.notBefore)
			if err != nil {
				t.Fatalf("FindValidAuthorizations: %v", err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("found %d (%v), want %v", len(got), got, tc.want)
			}
			for id := range tc.want {
				if got[id] == nil || got[id].ID != azs[0].ID {
					t.Errorf("%v -> %v, want authorization %s", id, got[id], azs[0].ID)
				}
			}
		})
	}
}
