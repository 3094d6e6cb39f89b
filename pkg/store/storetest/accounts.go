package storetest

import (
	"context"
	"testing"

	"github.com/acmera/acmera/pkg/core"
	"github.com/acmera/acmera/pkg/store"
)

func testAccountRoundTrip(t *testing.T, s store.Store) {
	a := newAccount()
	a.EABKeyID = mustCreateEABKey(t, s, func(k *core.EABKey) { k.Reusable = true }).KID
	if err := s.CreateAccount(t.Context(), a); err != nil {
		t.Fatalf("CreateAccount: %v", err)
	}
	got, err := s.GetAccount(t.Context(), a.ID)
	if err != nil {
		t.Fatalf("GetAccount: %v", err)
	}
	sameAs(t, "GetAccount", got, a, normAccount)
	got, err = s.GetAccountByKey(t.Context(), a.KeyThumbprint)
	if err != nil {
		t.Fatalf("GetAccountByKey: %v", err)
	}
	sameAs(t, "GetAccountByKey", got, a, normAccount)

	// Optional fields left empty round-trip as empty.
	b := newAccount()
	b.Contact, b.EABKeyID = nil, ""
	if err := s.CreateAccount(t.Context(), b); err != nil {
		t.Fatalf("CreateAccount: %v", err)
	}
	got, err = s.GetAccount(t.Context(), b.ID)
	if err != nil {
		t.Fatalf("GetAccount: %v", err)
	}
	sameAs(t, "GetAccount(no contact)", got, b, normAccount)
}

func testAccountNotFound(t *testing.T, s store.Store) {
	ctx, id := t.Context(), core.NewID()
	calls := map[string]func() error{
		"GetAccount":      func() error { _, err := s.GetAccount(ctx, id); return err },
		"GetAccountByKey": func() error { _, err := s.GetAccountByKey(ctx, id); return err },
		"UpdateAccountContact": func() error {
			_, err := s.UpdateAccountContact(ctx, id, []string{"mailto:x@example.com"})
			return err
		},
		"DeactivateAccount": func() error { _, err := s.DeactivateAccount(ctx, id); return err },
		"ChangeAccountKey": func() error {
			_, err := s.ChangeAccountKey(ctx, id, core.NewID(), core.NewID(), []byte("{}"))
			return err
		},
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) { wantErr(t, name, call(), store.ErrNotFound) })
	}
}

func testAccountDuplicateKey(t *testing.T, s store.Store) {
	a := mustCreateAccount(t, s)
	b := newAccount()
	b.KeyThumbprint = a.KeyThumbprint
	wantErr(t, "CreateAccount(same key)", s.CreateAccount(t.Context(), b), store.ErrConflict)
	_, err := s.GetAccount(t.Context(), b.ID)
	wantErr(t, "GetAccount(refused account)", err, store.ErrNotFound)
	got, err := s.GetAccountByKey(t.Context(), a.KeyThumbprint)
	if err != nil {
		t.Fatalf("GetAccountByKey: %v", err)
	}
	if got.ID != a.ID {
		t.Errorf("key bound to %s, want the first account %s", got.ID, a.ID)
	}
}

func testAccountUpdateContact(t *testing.T, s store.Store) {
	a := mustCreateAccount(t, s)
	for _, contact := range [][]string{{"mailto:new@example.com"}, nil} {
		got, err := s.UpdateAccountContact(t.Context(), a.ID, contact)
		if err != nil {
			t.Fatalf("UpdateAccountContact(%v): %v", contact, err)
		}
		want := *a
		want.Contact = contact
		sameAs(t, "UpdateAccountContact result", got, &want, normAccount)
		stored, err := s.GetAccount(t.Context(), a.ID)
		if err != nil {
			t.Fatalf("GetAccount: %v", err)
		}
		sameAs(t, "GetAccount after UpdateAccountContact", stored, &want, normAccount)
	}
}

func testAccountDeactivate(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mustCreateAccount(t, s)
	got, err := s.DeactivateAccount(ctx, a.ID)
	if err != nil {
		t.Fatalf("DeactivateAccount: %v", err)
	}
	want := *a
	want.Status = core.StatusDeactivated
	sameAs(t, "DeactivateAccount result", got, &want, normAccount)
	byKey, err := s.GetAccountByKey(ctx, a.KeyThumbprint)
	if err != nil {
		t.Fatalf("GetAccountByKey after deactivation: %v (the key must stay bound)", err)
	}
	sameAs(t, "GetAccountByKey after deactivation", byKey, &want, normAccount)

	again := newAccount()
	again.KeyThumbprint = a.KeyThumbprint
	refused := map[string]func(context.Context) error{
		"DeactivateAccount": func(ctx context.Context) error { _, err := s.DeactivateAccount(ctx, a.ID); return err },
		"UpdateAccountContact": func(ctx context.Context) error {
			_, err := s.UpdateAccountContact(ctx, a.ID, []string{"mailto:x@example.com"})
			return err
		},
		"ChangeAccountKey": func(ctx context.Context) error {
			_, err := s.ChangeAccountKey(ctx, a.ID, a.KeyThumbprint, core.NewID(), []byte("{}"))
			return err
		},
		"CreateAccount(same key)": func(ctx context.Context) error { return s.CreateAccount(ctx, again) },
	}
	for name, call := range refused {
		t.Run(name, func(t *testing.T) {
			wantErr(t, name, call(t.Context()), store.ErrConflict)
			stored, err := s.GetAccount(t.Context(), a.ID)
			if err != nil {
				t.Fatalf("GetAccount: %v", err)
			}
			sameAs(t, "account after refused "+name, stored, &want, normAccount)
		})
	}
}

func testAccountChangeKey(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mustCreateAccount(t, s)
	newTP, newKey := core.NewID(), []byte(`{"kty":"OKP","crv":"Ed25519","x":"new"}`)
	got, err := s.ChangeAccountKey(ctx, a.ID, a.KeyThumbprint, newTP, newKey)
	if err != nil {
		t.Fatalf("ChangeAccountKey: %v", err)
	}
	want := *a
	want.KeyThumbprint, want.Key = newTP, newKey
	sameAs(t, "ChangeAccountKey result", got, &want, normAccount)
	_, err = s.GetAccountByKey(ctx, a.KeyThumbprint)
	wantErr(t, "GetAccountByKey(old key)", err, store.ErrNotFound)
	byKey, err := s.GetAccountByKey(ctx, newTP)
	if err != nil {
		t.Fatalf("GetAccountByKey(new key): %v", err)
	}
	sameAs(t, "GetAccountByKey(new key)", byKey, &want, normAccount)
	// The old key is free again: a new account may bind it.
	b := newAccount()
	b.KeyThumbprint = a.KeyThumbprint
	wantErr(t, "CreateAccount(old key)", s.CreateAccount(ctx, b), nil)
}

func testAccountChangeKeyConflicts(t *testing.T, s store.Store) {
	a, other := mustCreateAccount(t, s), mustCreateAccount(t, s)
	tests := []struct {
		name     string
		old, new string
	}{
		{"new key bound to another account", a.KeyThumbprint, other.KeyThumbprint},
		{"new key is the current key", a.KeyThumbprint, a.KeyThumbprint},
		{"old key is not the account's", core.NewID(), core.NewID()},
		{"old key is another account's", other.KeyThumbprint, core.NewID()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			_, err := s.ChangeAccountKey(ctx, a.ID, tc.old, tc.new, []byte(`{"new":true}`))
			wantErr(t, "ChangeAccountKey", err, store.ErrConflict)
			for _, acct := range []*core.Account{a, other} {
				got, err := s.GetAccountByKey(ctx, acct.KeyThumbprint)
				if err != nil {
					t.Fatalf("GetAccountByKey(%s): %v", acct.ID, err)
				}
				sameAs(t, "account after refused key change", got, acct, normAccount)
			}
		})
	}
}
