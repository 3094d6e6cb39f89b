package bolt

import (
	"errors"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/acmera/acmera/pkg/acme"
	"github.com/acmera/acmera/pkg/core"
	"github.com/acmera/acmera/pkg/store"
)

// A file made before the pendingAuthzs index existed gets it built on
// open, so its pending authorizations count at once; and Prune drops
// counters whose window has ended.
func TestPendingIndexBuiltOnOpenAndCountersPruned(t *testing.T) {
	ctx := t.Context()
	now := time.Now().UTC()
	s, path := openTemp(t)
	acct := &core.Account{ID: core.NewID(), KeyThumbprint: core.NewID(), Status: core.StatusValid, CreatedAt: now}
	o := &core.Order{ID: core.NewID(), AccountID: acct.ID, Profile: "acme", Status: core.StatusPending,
		Expires: now.Add(time.Hour), Identifiers: []acme.Identifier{{Type: acme.IdentifierDNS, Value: "a.example"}}, CreatedAt: now}
	az := &core.Authorization{ID: core.NewID(), AccountID: acct.ID, OrderID: o.ID, Profile: "acme",
		Identifier: o.Identifiers[0], Status: core.StatusPending, Expires: now.Add(time.Hour), CreatedAt: now}
	o.AuthzIDs = []string{az.ID}
	l := store.RateLimit{Key: "orders:" + acct.ID, Max: 5, Window: time.Hour}
	if err := s.CreateAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateOrder(ctx, o, []*core.Authorization{az}); err != nil {
		t.Fatal(err)
	}
	if err := s.Add(ctx, l, 2, now); err != nil {
		t.Fatal(err)
	}
	if err := s.db.Update(func(tx *bbolt.Tx) error { return tx.DeleteBucket([]byte(bucketPendingAuthzs)) }); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n, err := s.CountPendingAuthorizations(ctx, acct.ID, now, 10); err != nil || n != 1 {
		t.Fatalf("pending after reopening = %d, %v; want 1", n, err)
	}
	if _, err := s.Prune(ctx, l.WindowEnd(now).Add(time.Second), 100); err != nil {
		t.Fatal(err)
	}
	err = s.db.View(func(tx *bbolt.Tx) error {
		if n := bucket(tx, bucketRateLimits).Stats().KeyN; n != 0 {
			t.Errorf("%d counters left after their window ended, want 0", n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestSpendCreateOrder checks the one-transaction new order: counted and
// stored together, and neither when the limit refuses or the order exists.
func TestSpendCreateOrder(t *testing.T) {
	s, _ := openTemp(t)
	t.Cleanup(func() { _ = s.Close() })
	ctx := t.Context()
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	l := store.RateLimit{Key: "orders:acct", Max: 2, Window: time.Hour, Shards: 16}
	newOrder := func() *core.Order {
		return &core.Order{ID: core.NewID(), AccountID: "acct", Profile: "acme", Status: core.StatusReady,
			Expires: now.Add(time.Hour), Identifiers: []acme.Identifier{{Type: acme.IdentifierDNS, Value: "a.example"}}, CreatedAt: now}
	}
	counted := func() int64 {
		t.Helper()
		n, err := s.Counts(ctx, []store.RateLimit{l}, now)
		if err != nil {
			t.Fatal(err)
		}
		return n[0]
	}
	first := newOrder()
	if ok, _, err := s.SpendCreateOrder(ctx, l, now, first, nil); err != nil || !ok {
		t.Fatalf("first = %v, %v; want spent", ok, err)
	}
	if _, err := s.GetOrder(ctx, first.ID); err != nil || counted() != 1 {
		t.Fatalf("after the first: GetOrder %v, count %d; want stored, 1", err, counted())
	}
	if ok, _, err := s.SpendCreateOrder(ctx, l, now, first, nil); !errors.Is(err, store.ErrConflict) || ok || counted() != 1 {
		t.Errorf("same order again = %v, %v, count %d; want ErrConflict and nothing spent", ok, err, counted())
	}
	if ok, _, err := s.SpendCreateOrder(ctx, l, now, newOrder(), nil); err != nil || !ok {
		t.Fatalf("second = %v, %v; want spent", ok, err)
	}
	over := newOrder()
	ok, until, err := s.SpendCreateOrder(ctx, l, now, over, nil)
	if err != nil || ok || !until.Equal(l.WindowEnd(now)) {
		t.Errorf("over the limit = %v, %v, %v; want refused until %v", ok, until, err, l.WindowEnd(now))
	}
	if _, err := s.GetOrder(ctx, over.ID); !errors.Is(err, store.ErrNotFound) || counted() != 2 {
		t.Errorf("refused order: GetOrder %v, count %d; want not stored, 2", err, counted())
	}
}
