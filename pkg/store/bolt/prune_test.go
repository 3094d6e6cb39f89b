package bolt

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/acmera/acmera/pkg/acme"
	"github.com/acmera/acmera/pkg/core"
	"github.com/acmera/acmera/pkg/store"
)

// pruneFixture holds one object in each retention class.
type pruneFixture struct {
	pending, processing, valid *core.Order
	pendingAz, validAz         *core.Authorization
	cert                       *core.Certificate
}

func newPruneFixture(t *testing.T, s *Store, acct *core.Account, t0 time.Time) pruneFixture {
	t.Helper()
	ctx := t.Context()
	mk := func(status core.Status) (*core.Order, *core.Authorization) {
		o := &core.Order{ID: core.NewID(), AccountID: acct.ID, Profile: "acme", Status: core.StatusPending,
			Expires: t0.Add(time.Hour), Identifiers: []acme.Identifier{{Type: acme.IdentifierDNS, Value: "a.example"}},
			CreatedAt: t0, UpdatedAt: t0}
		az := &core.Authorization{ID: core.NewID(), AccountID: acct.ID, OrderID: o.ID, Profile: "acme",
			Identifier: o.Identifiers[0], Status: core.StatusPending, Expires: o.Expires, CreatedAt: t0,
			Challenges: []core.Challenge{{ID: "c1", Type: acme.ChallengeHTTP01, Token: core.NewToken(), Status: core.StatusPending}}}
		o.AuthzIDs = []string{az.ID}
		if err := s.CreateOrder(ctx, o, []*core.Authorization{az}); err != nil {
			t.Fatal(err)
		}
		if status == core.StatusPending {
			return o, az
		}
		if _, err := s.MarkChallengeProcessing(ctx, az.ID, "c1"); err != nil {
			t.Fatal(err)
		}
		res := core.ValidationResult{AuthzID: az.ID, ChallengeID: "c1", ValidatedAt: t0, Expires: t0.Add(30 * 24 * time.Hour)}
		if _, err := s.RecordValidation(ctx, res); err != nil {
			t.Fatal(err)
		}
		if _, err := s.BeginFinalize(ctx, o.ID, []byte{0x30}, t0); err != nil {
			t.Fatal(err)
		}
		return o, az
	}
	var f pruneFixture
	f.pending, f.pendingAz = mk(core.StatusPending)
	f.processing, _ = mk(core.StatusProcessing)
	f.valid, f.validAz = mk(core.StatusValid)
	f.cert = &core.Certificate{AccountID: acct.ID, Profile: "acme", Serial: "0abc", Chain: pemBlock([]byte{1, 2, 3}),
		NotBefore: t0, NotAfter: t0.Add(24 * time.Hour), Status: core.StatusValid, CreatedAt: t0}
	if _, err := s.CompleteFinalize(ctx, f.valid.ID, f.cert); err != nil {
		t.Fatal(err)
	}
	return f
}

// Prune deletes each kind of object only after its retention, with its
// index entries, a bounded number per step.
func TestPrune(t *testing.T) {
	s, _ := openTemp(t)
	defer s.Close()
	ctx := t.Context()
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	acct := &core.Account{ID: core.NewID(), KeyThumbprint: core.NewID(), Status: core.StatusValid, CreatedAt: t0}
	if err := s.CreateAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	f := newPruneFixture(t, s, acct, t0)
	gone := func(get func() error) bool { return errors.Is(get(), store.ErrNotFound) }
	order := func(o *core.Order) func() error {
		return func() error { _, err := s.GetOrder(ctx, o.ID); return err }
	}
	authz := func(a *core.Authorization) func() error {
		return func() error { _, err := s.GetAuthorization(ctx, a.ID); return err }
	}
	certBySerial := func() error { _, err := s.GetCertificateBySerial(ctx, f.cert.Serial); return err }
	steps := []struct {
		at       time.Duration
		goneNow  []func() error
		keptNow  []func() error
		validIdx bool // the valid authorization is still offered for reuse
	}{
		{time.Hour + ShortGrace - time.Minute, nil, []func() error{order(f.pending), authz(f.pendingAz)}, true},
		{time.Hour + ShortGrace + time.Minute, []func() error{order(f.pending), authz(f.pendingAz)},
			[]func() error{order(f.processing), order(f.valid), authz(f.validAz), certBySerial}, true},
		{time.Hour + ProcessingGrace + time.Minute, []func() error{order(f.processing)},
			[]func() error{order(f.valid), authz(f.validAz), certBySerial}, true},
		{30*24*time.Hour + time.Minute, []func() error{authz(f.validAz)}, []func() error{order(f.valid), certBySerial}, false},
		{24*time.Hour + CertGrace + time.Minute, []func() error{order(f.valid), certBySerial}, nil, false},
	}
	for i, st := range steps {
		now := t0.Add(st.at)
		for range 20 { // limit 1: every step looks at one document per kind
			res, err := s.Prune(ctx, now, 1)
			if err != nil {
				t.Fatalf("step %d: Prune: %v", i, err)
			}
			if res.Scanned > 3 {
				t.Fatalf("step %d: scanned %d documents, limit 1 per kind", i, res.Scanned)
			}
		}
		for j, g := range st.goneNow {
			if !gone(g) {
				t.Errorf("step %d: object %d still there", i, j)
			}
		}
		for j, k := range st.keptNow {
			if err := k(); err != nil {
				t.Errorf("step %d: object %d: %v, want kept", i, j, err)
			}
		}
		found, err := s.FindValidAuthorizations(ctx, acct.ID, "acme", f.pending.Identifiers, t0)
		if err != nil || (len(found) == 1) != st.validIdx {
			t.Errorf("step %d: reusable authorizations %v (%v), want present %v", i, found, err, st.validIdx)
		}
	}
	if ids, err := s.ListOrders(ctx, acct.ID, 10); err != nil || len(ids) != 0 {
		t.Errorf("orders still listed after pruning: %v %v", ids, err)
	}
	s.db.View(func(tx *bbolt.Tx) error {
		for _, name := range []string{bucketProcessing, bucketCertSerials, bucketAccountOrders, bucketValidAuthzs} {
			if n := bucket(tx, name).Stats().KeyN; n != 0 {
				t.Errorf("index %s keeps %d entries", name, n)
			}
		}
		return nil
	})
	if got, err := s.GetAccount(ctx, acct.ID); err != nil || got.ID != acct.ID {
		t.Errorf("account pruned: %v", err)
	}
}

// RunPruner prunes on its ticker and stops with its context.
func TestRunPruner(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	s, _ := openTemp(t, WithClock(func() time.Time { return now.Add(48 * time.Hour) }))
	defer s.Close()
	acct := &core.Account{ID: core.NewID(), KeyThumbprint: core.NewID(), Status: core.StatusValid, CreatedAt: now}
	if err := s.CreateAccount(t.Context(), acct); err != nil {
		t.Fatal(err)
	}
	f := newPruneFixture(t, s, acct, now)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { s.RunPruner(ctx, 5*time.Millisecond, 100, func(err error) { t.Error(err) }); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := s.GetOrder(t.Context(), f.pending.ID); errors.Is(err, store.ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the pruner did not delete the expired order within 5 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("RunPruner did not stop with its context")
	}
}
