package storetest

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/acmera/acmera/pkg/core"
	"github.com/acmera/acmera/pkg/store"
)

// newEABKey is a single-use key of profile "acme" with every narrowing
// field set, expiring a day after base.
func newEABKey() *core.EABKey {
	return &core.EABKey{
		KID: "kid-" + core.NewID(), Profile: "acme", HMAC: []byte("0123456789abcdef0123456789abcdef"),
		Expires: at(day), CreatedAt: at(-time.Hour),
		Allow:      []string{"*.team-a.example", "host.example", "10.0.0.0/8"},
		Challenges: []string{"http-01", "dns-01"}, MaxLifetime: 48 * time.Hour,
	}
}

func mustCreateEABKey(t *testing.T, s store.Store, change func(*core.EABKey)) *core.EABKey {
	t.Helper()
	k := newEABKey()
	if change != nil {
		change(k)
	}
	if err := s.CreateEABKey(t.Context(), k); err != nil {
		t.Fatalf("CreateEABKey: %v", err)
	}
	return k
}

func normEABKey(k *core.EABKey) *core.EABKey {
	if k == nil {
		return nil
	}
	c := *k
	c.Expires, c.CreatedAt, c.RevokedAt = msTime(k.Expires), msTime(k.CreatedAt), msTime(k.RevokedAt)
	c.HMAC, c.Allow, c.Challenges = nilIfEmpty(k.HMAC), nilIfEmpty(k.Allow), nilIfEmpty(k.Challenges)
	return &c
}

func getEABKey(t *testing.T, s store.Store, kid string) *core.EABKey {
	t.Helper()
	k, err := s.GetEABKey(t.Context(), kid)
	if err != nil {
		t.Fatalf("GetEABKey(%s): %v", kid, err)
	}
	return k
}

func testEABKeyRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	k := mustCreateEABKey(t, s, nil)
	sameAs(t, "GetEABKey", getEABKey(t, s, k.KID), k, normEABKey)
	bare := mustCreateEABKey(t, s, func(k *core.EABKey) {
		k.Expires, k.Allow, k.Challenges, k.MaxLifetime, k.Reusable = time.Time{}, nil, nil, 0, true
	})
	sameAs(t, "GetEABKey(bare)", getEABKey(t, s, bare.KID), bare, normEABKey)
	wantErr(t, "CreateEABKey(same kid)", s.CreateEABKey(ctx, k), store.ErrConflict)
	_, err := s.GetEABKey(ctx, "kid-"+core.NewID())
	wantErr(t, "GetEABKey(unknown)", err, store.ErrNotFound)
	list, err := s.ListEABKeys(ctx)
	if err != nil {
		t.Fatalf("ListEABKeys: %v", err)
	}
	var kids []string
	for _, l := range list {
		kids = append(kids, l.KID)
		if l.KID == k.KID && !reflect.DeepEqual(normEABKey(l), normEABKey(k)) {
			t.Errorf("ListEABKeys: %+v, want %+v", l, k)
		}
	}
	if !slices.Contains(kids, k.KID) || !slices.Contains(kids, bare.KID) || !slices.IsSorted(kids) {
		t.Errorf("ListEABKeys = %v, want both keys, sorted", kids)
	}
}

func testEABKeyRevoke(t *testing.T, s store.Store) {
	ctx := t.Context()
	k := mustCreateEABKey(t, s, nil)
	got, err := s.RevokeEABKey(ctx, k.KID, at(time.Minute))
	if err != nil || !sameTime(got.RevokedAt, at(time.Minute)) {
		t.Fatalf("RevokeEABKey = %+v, %v; want revoked at %v", got, err, at(time.Minute))
	}
	if k := getEABKey(t, s, k.KID); !sameTime(k.RevokedAt, at(time.Minute)) {
		t.Errorf("stored RevokedAt = %v", k.RevokedAt)
	}
	got, err = s.RevokeEABKey(ctx, k.KID, at(time.Hour))
	wantErr(t, "RevokeEABKey(again)", err, store.ErrConflict)
	if got == nil || !sameTime(got.RevokedAt, at(time.Minute)) {
		t.Errorf("RevokeEABKey(again) returned %+v, want the key as revoked first", got)
	}
	_, err = s.RevokeEABKey(ctx, "kid-"+core.NewID(), at(0))
	wantErr(t, "RevokeEABKey(unknown)", err, store.ErrNotFound)
}

func testEABKeyBind(t *testing.T, s store.Store) {
	ctx := t.Context()
	k := mustCreateEABKey(t, s, func(k *core.EABKey) { k.Reusable = true })
	for i := range 2 {
		a := newAccount()
		a.EABKeyID = k.KID
		if err := s.CreateAccount(ctx, a); err != nil {
			t.Fatalf("CreateAccount %d: %v", i, err)
		}
		if got, err := s.GetAccount(ctx, a.ID); err != nil || got.EABKeyID != k.KID {
			t.Errorf("GetAccount = %+v, %v; want bound to %s", got, err, k.KID)
		}
	}
	if got := getEABKey(t, s, k.KID); got.Uses != 2 {
		t.Errorf("reusable key: Uses = %d, want 2", got.Uses)
	}
	// A known account key is a conflict, whatever the EAB key, and does
	// not count as a use.
	one := mustCreateEABKey(t, s, nil)
	dup := newAccount()
	dup.KeyThumbprint = mustCreateAccount(t, s).KeyThumbprint
	dup.EABKeyID = one.KID
	wantErr(t, "CreateAccount(bound thumbprint)", s.CreateAccount(ctx, dup), store.ErrConflict)
	if got := getEABKey(t, s, one.KID); got.Uses != 0 {
		t.Errorf("after a conflict: Uses = %d, want 0", got.Uses)
	}
}

func testEABKeyBindRefused(t *testing.T, s store.Store) {
	ctx := t.Context()
	used := mustCreateEABKey(t, s, nil)
	first := newAccount()
	first.EABKeyID = used.KID
	if err := s.CreateAccount(ctx, first); err != nil {
		t.Fatalf("CreateAccount: %v", err)
	}
	revoked := mustCreateEABKey(t, s, func(k *core.EABKey) { k.Reusable = true })
	if _, err := s.RevokeEABKey(ctx, revoked.KID, at(-time.Minute)); err != nil {
		t.Fatalf("RevokeEABKey: %v", err)
	}
	expired := mustCreateEABKey(t, s, func(k *core.EABKey) { k.Expires = at(0) }) // expires at CreatedAt
	other := mustCreateEABKey(t, s, func(k *core.EABKey) { k.Profile = "other" })
	for name, kid := range map[string]string{
		"used": used.KID, "revoked": revoked.KID, "expired": expired.KID, "other profile": other.KID,
		"unknown": "kid-" + core.NewID(), "invalid kid": "a/b",
	} {
		t.Run(name, func(t *testing.T) {
			a := newAccount()
			a.EABKeyID = kid
			err := s.CreateAccount(ctx, a)
			if !errors.Is(err, store.ErrEABKeyUnusable) || errors.Is(err, store.ErrConflict) {
				t.Fatalf("CreateAccount = %v, want ErrEABKeyUnusable", err)
			}
			_, err = s.GetAccount(ctx, a.ID)
			wantErr(t, "GetAccount(refused)", err, store.ErrNotFound)
			_, err = s.GetAccountByKey(ctx, a.KeyThumbprint)
			wantErr(t, "GetAccountByKey(refused)", err, store.ErrNotFound)
		})
	}
	if got := getEABKey(t, s, used.KID); got.Uses != 1 {
		t.Errorf("single-use key: Uses = %d, want 1", got.Uses)
	}
	if got := getEABKey(t, s, revoked.KID); got.Uses != 0 {
		t.Errorf("revoked key: Uses = %d, want 0", got.Uses)
	}
}

// testRaceBindEABKey races two accounts (different account keys) for one
// single-use EAB key: exactly one is created, the other is refused with
// ErrEABKeyUnusable and leaves nothing.
func testRaceBindEABKey(t *testing.T, s store.Store) {
	for range raceRounds {
		k := mustCreateEABKey(t, s, nil)
		accts := []*core.Account{newAccount(), newAccount()}
		for _, a := range accts {
			a.EABKeyID = k.KID
		}
		errs := race(t, len(accts), func(ctx context.Context, i int) error { return s.CreateAccount(ctx, accts[i]) })
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner < 0:
				winner = i
			case err == nil:
				t.Errorf("both accounts bound the single-use key %s", k.KID)
			case !errors.Is(err, store.ErrEABKeyUnusable):
				t.Errorf("CreateAccount %d: %v, want nil or ErrEABKeyUnusable", i, err)
			}
		}
		if winner < 0 {
			t.Errorf("no account bound the key: %v", errs)
			continue
		}
		_, err := s.GetAccount(t.Context(), accts[1-winner].ID)
		wantErr(t, "GetAccount(loser)", err, store.ErrNotFound)
		if got := getEABKey(t, s, k.KID); got.Uses != 1 {
			t.Errorf("Uses = %d, want 1", got.Uses)
		}
	}
}
