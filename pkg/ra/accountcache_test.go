package ra

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/acmera/acmera/pkg/core"
	"github.com/acmera/acmera/pkg/policy"
	"github.com/acmera/acmera/pkg/problem"
	"github.com/acmera/acmera/pkg/store"
)

func TestAccountCache(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := newAccountCache(5*time.Second, 2)
	a := &core.Account{ID: "a"}
	c.put(a, c.begin(), now)
	if c.get("a", now.Add(4*time.Second)) != a {
		t.Fatal("entry not served within its TTL")
	}
	if c.get("a", now.Add(6*time.Second)) != nil {
		t.Fatal("entry served after its TTL")
	}
	c.put(a, c.begin(), now)
	c.evict("a")
	if c.get("a", now) != nil {
		t.Fatal("evicted entry served")
	}
	epoch := c.begin()
	c.evict("other") // any eviction while a read is in flight
	c.put(a, epoch, now)
	if c.get("a", now) != nil {
		t.Fatal("a read that began before an eviction was cached")
	}
	c.put(&core.Account{ID: "b"}, c.begin(), now)
	c.put(&core.Account{ID: "c"}, c.begin(), now)
	c.put(&core.Account{ID: "d"}, c.begin(), now) // over the bound: the cache empties first
	if c.get("b", now) != nil || c.get("d", now) == nil || len(c.m) != 1 {
		t.Fatalf("bound not enforced: %d entries", len(c.m))
	}
	for _, ttl := range []time.Duration{0, -1} {
		off := newAccountCache(ttl, 10)
		off.put(a, off.begin(), now)
		if off.get("a", now) != nil {
			t.Fatalf("cache with TTL %v served an entry", ttl)
		}
	}
}

// hookStore wraps a store to fail account writes after applying them (as a
// timeout after the commit would) and to pause an account read between
// reading and returning.
type hookStore struct {
	store.Store
	failWrites  bool
	beforeWrite func()        // when set, runs before an account write
	readDone    chan struct{} // when set, GetAccount signals here after reading...
	release     chan struct{} // ...and waits here before returning
}

var errAfterWrite = errors.New("the write was applied but the call failed")

func (s *hookStore) GetAccount(ctx context.Context, id string) (*core.Account, error) {
	a, err := s.Store.GetAccount(ctx, id)
	if s.readDone != nil {
		s.readDone <- struct{}{}
		<-s.release
	}
	return a, err
}

func (s *hookStore) DeactivateAccount(ctx context.Context, id string) (*core.Account, error) {
	if s.beforeWrite != nil {
		s.beforeWrite()
	}
	a, err := s.Store.DeactivateAccount(ctx, id)
	if err == nil && s.failWrites {
		return nil, errAfterWrite
	}
	return a, err
}

func (s *hookStore) ChangeAccountKey(ctx context.Context, id, oldTP, newTP string, newKey []byte) (*core.Account, error) {
	a, err := s.Store.ChangeAccountKey(ctx, id, oldTP, newTP, newKey)
	if err == nil && s.failWrites {
		return nil, errAfterWrite
	}
	return a, err
}

// cachingRA returns an RA over f's store wrapped in a hookStore, with the
// account cache on, as the embedded default runs it.
func cachingRA(t *testing.T, f *fixture) (*RA, *hookStore) {
	t.Helper()
	hs := &hookStore{Store: f.store}
	r, err := New(Config{Store: hs, Queue: f.q, Validator: f.va, Issuer: f.ca, Policy: policy.AllowAny(),
		Clock: func() time.Time { return f.now }, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		AccountCacheTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return r, hs
}

// wantDeactivated checks that Account refuses a deactivated account with
// RFC 8555 §7.3.6's 401 unauthorized.
func wantDeactivated(t *testing.T, r *RA, id string) {
	t.Helper()
	_, err := r.Account(t.Context(), id)
	p, ok := problem.Of(err)
	if !ok || p.Type != problem.Unauthorized || p.Status != 401 || p.Detail != "account is deactivated" {
		t.Fatalf("Account after deactivation: %v, want 401 unauthorized \"account is deactivated\"", err)
	}
}

// A change this RA makes holds from its next request even with the cache
// on, also when the store reports a failure after applying the write.
func TestAccountCacheSeesOwnChanges(t *testing.T) {
	for _, failWrites := range []bool{false, true} {
		f := newFixture(t, 0)
		r, hs := cachingRA(t, f)
		ctx := t.Context()
		a, err := r.Account(ctx, f.acct.ID) // cached from here on
		if err != nil {
			t.Fatal(err)
		}
		hs.failWrites = failWrites
		if _, err := r.ChangeKey(ctx, a, []byte(`{}`), "new-thumbprint"); failWrites != errors.Is(err, errAfterWrite) {
			t.Fatalf("ChangeKey (failing: %v): %v", failWrites, err)
		}
		if a, err = r.Account(ctx, f.acct.ID); err != nil || a.KeyThumbprint != "new-thumbprint" {
			t.Fatalf("Account after ChangeKey (failing: %v): key %q, %v; want the new key", failWrites, a.KeyThumbprint, err)
		}
		if _, err := r.DeactivateAccount(ctx, a); failWrites != errors.Is(err, errAfterWrite) {
			t.Fatalf("DeactivateAccount (failing: %v): %v", failWrites, err)
		}
		wantDeactivated(t, r, f.acct.ID)
	}
}

// A request that reads the account while this RA writes a change to it
// (here: just before the write lands) does not leave the old account in
// the cache: the eviction comes after the write.
func TestAccountCacheReadDuringAWrite(t *testing.T) {
	f := newFixture(t, 0)
	r, hs := cachingRA(t, f)
	hs.beforeWrite = func() {
		if _, err := r.Account(t.Context(), f.acct.ID); err != nil {
			t.Errorf("Account before the write lands: %v", err)
		}
	}
	if _, err := r.DeactivateAccount(t.Context(), f.acct); err != nil {
		t.Fatal(err)
	}
	wantDeactivated(t, r, f.acct.ID)
}

// A read that started before a change and ends after it does not put the
// old account back into the cache.
func TestAccountCacheReadRacingAChange(t *testing.T) {
	f := newFixture(t, 0)
	r, hs := cachingRA(t, f)
	ctx := t.Context()
	hs.readDone, hs.release = make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() { _, err := r.Account(ctx, f.acct.ID); done <- err }()
	wait := func(ch <-chan struct{}, what string) {
		select {
		case <-ch:
		case <-time.After(10 * time.Second):
			t.Fatalf("no %s within 10 s", what)
		}
	}
	wait(hs.readDone, "account read") // the reader holds the valid account
	hs.readDone = nil                 // later reads do not pause
	if _, err := r.DeactivateAccount(ctx, f.acct); err != nil {
		t.Fatal(err)
	}
	close(hs.release)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the racing read: %v, want the account it read", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the racing read did not return within 10 s")
	}
	wantDeactivated(t, r, f.acct.ID)
}
