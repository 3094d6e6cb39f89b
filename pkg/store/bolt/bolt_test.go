package bolt

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/acmera/acmera/pkg/acme"
	"github.com/acmera/acmera/pkg/core"
	"github.com/acmera/acmera/pkg/store"
	"github.com/acmera/acmera/pkg/store/storetest"
)

func openTemp(t testing.TB, opts ...Option) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "acmera.db")
	s, err := Open(path, opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s, path
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, _ := openTemp(t)
		return s
	})
}

// issued is the state TestDurability writes before closing the file.
type issued struct {
	acct  *core.Account
	order *core.Order
	authz *core.Authorization
	cert  *core.Certificate
	open  *core.Order // left processing, as if the process had crashed
}

func issue(t *testing.T, s *Store, now time.Time) issued {
	t.Helper()
	ctx := t.Context()
	var out issued
	out.acct = &core.Account{ID: core.NewID(), KeyThumbprint: core.NewID(), Key: []byte(`{"kty":"EC"}`),
		Status: core.StatusValid, CreatedAt: now, Profile: "acme"}
	if err := s.CreateAccount(ctx, out.acct); err != nil {
		t.Fatalf("CreateAccount: %v", err)
	}
	mkOrder := func() (*core.Order, *core.Authorization) {
		o := &core.Order{ID: core.NewID(), AccountID: out.acct.ID, Profile: "acme", Status: core.StatusPending,
			Expires: now.Add(time.Hour), Identifiers: []acme.Identifier{{Type: acme.IdentifierDNS, Value: "a.example"}}, CreatedAt: now}
		az := &core.Authorization{ID: core.NewID(), AccountID: o.AccountID, OrderID: o.ID, Profile: "acme",
			Identifier: o.Identifiers[0], Status: core.StatusPending, Expires: now.Add(time.Hour), CreatedAt: now,
			Challenges: []core.Challenge{{ID: core.NewID(), Type: acme.ChallengeHTTP01, Token: core.NewToken(), Status: core.StatusPending}}}
		o.AuthzIDs = []string{az.ID}
		if err := s.CreateOrder(ctx, o, []*core.Authorization{az}); err != nil {
			t.Fatalf("CreateOrder: %v", err)
		}
		if _, err := s.MarkChallengeProcessing(ctx, az.ID, az.Challenges[0].ID); err != nil {
			t.Fatalf("MarkChallengeProcessing: %v", err)
		}
		if _, err := s.RecordValidation(ctx, core.ValidationResult{AuthzID: az.ID, ChallengeID: az.Challenges[0].ID, ValidatedAt: now}); err != nil {
			t.Fatalf("RecordValidation: %v", err)
		}
		if _, err := s.BeginFinalize(ctx, o.ID, []byte("csr"), now); err != nil {
			t.Fatalf("BeginFinalize: %v", err)
		}
		return o, az
	}
	out.order, out.authz = mkOrder()
	out.cert = &core.Certificate{AccountID: out.acct.ID, Serial: "1f2e3d", Chain: []byte("pem"),
		NotBefore: now, NotAfter: now.Add(24 * time.Hour), Status: core.StatusValid, CreatedAt: now}
	if _, err := s.CompleteFinalize(ctx, out.order.ID, out.cert); err != nil {
		t.Fatalf("CompleteFinalize: %v", err)
	}
	out.open, _ = mkOrder()
	return out
}

func TestDurability(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC)
	s, path := openTemp(t)
	want := issue(t, s, now)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	s, err := Open(path)
	if err != nil {
		t.Fatalf("Open (again): %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	ctx := t.Context()

	if a, err := s.GetAccountByKey(ctx, want.acct.KeyThumbprint); err != nil || a.ID != want.acct.ID {
		t.Errorf("GetAccountByKey = %+v, %v; want account %s", a, err, want.acct.ID)
	}
	if o, err := s.GetOrder(ctx, want.order.ID); err != nil || o.Status != core.StatusValid || o.CertificateID != want.order.ID {
		t.Errorf("GetOrder = %+v, %v; want valid with its certificate", o, err)
	}
	if c, err := s.GetCertificateBySerial(ctx, want.cert.Serial); err != nil || c.ID != want.order.ID || !c.NotAfter.Equal(want.cert.NotAfter) {
		t.Errorf("GetCertificateBySerial = %+v, %v; want the certificate of order %s", c, err, want.order.ID)
	}
	ids, err := s.ListOrders(ctx, want.acct.ID, 10)
	if err != nil || len(ids) != 2 {
		t.Errorf("ListOrders = %v, %v; want both orders", ids, err)
	}
	found, err := s.FindValidAuthorizations(ctx, want.acct.ID, "acme", want.order.Identifiers, now)
	if err != nil || len(found) != 1 {
		t.Errorf("FindValidAuthorizations = %v, %v; want one", found, err)
	}
	procs, err := s.ProcessingOrders(ctx)
	if err != nil || !slices.Equal(procs, []string{want.open.ID}) {
		t.Errorf("ProcessingOrders = %v, %v; want [%s]", procs, err, want.open.ID)
	}
}

// holdCommit starts a commit that blocks until the returned function is
// called, so that the writers started meanwhile queue up and share the
// next commit. queued reports how many are waiting.
func holdCommit(t *testing.T, s *Store) (release func(), queued func() int) {
	t.Helper()
	started, hold, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		done <- s.group.update(func(*bbolt.Tx) error {
			select {
			case <-started:
			default:
				close(started)
			}
			<-hold
			return nil
		})
	}()
	<-started
	return func() {
			close(hold)
			if err := <-done; err != nil {
				t.Errorf("held commit: %v", err)
			}
		}, func() int {
			s.group.mu.Lock()
			defer s.group.mu.Unlock()
			return len(s.group.pending)
		}
}

// waitQueued waits until n writers are queued behind a held commit.
func waitQueued(t *testing.T, queued func() int, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for queued() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d writers queued after 10 s, want %d", queued(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestBatchedConflicts puts racing writes in one commit (they queue behind
// a held one): a lost race inside a batch must neither fail nor re-run the
// others, and exactly one of the same-key creations wins.
func TestBatchedConflicts(t *testing.T) {
	s, _ := openTemp(t)
	t.Cleanup(func() { _ = s.Close() })
	release, queued := holdCommit(t, s)
	const n = 16
	shared := core.NewID()
	errs := make([]error, 2*n)
	var wg sync.WaitGroup
	for i := range 2 * n {
		wg.Go(func() {
			a := &core.Account{ID: core.NewID(), KeyThumbprint: core.NewID(), Status: core.StatusValid}
			if i < n {
				a.KeyThumbprint = shared
			}
			errs[i] = s.CreateAccount(t.Context(), a)
		})
	}
	waitQueued(t, queued, 2*n)
	release()
	wg.Wait()
	wins := 0
	for i, err := range errs {
		switch {
		case i >= n && err != nil:
			t.Errorf("distinct key %d: %v", i, err)
		case i < n && err == nil:
			wins++
		case i < n && !errors.Is(err, store.ErrConflict):
			t.Errorf("shared key %d: %v, want ErrConflict", i, err)
		}
	}
	if wins != 1 {
		t.Errorf("%d creations with one key won, want 1", wins)
	}
}

// TestBatchedFailure checks that a function failing inside a batch gets
// its own error, and neither it nor its failure spoils the others' commit.
func TestBatchedFailure(t *testing.T) {
	s, _ := openTemp(t)
	t.Cleanup(func() { _ = s.Close() })
	release, queued := holdCommit(t, s)
	boom := errors.New("boom")
	const n = 8
	errs := make([]error, n)
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		ids[i] = core.NewID()
		wg.Go(func() {
			errs[i] = s.group.update(func(tx *bbolt.Tx) error {
				if err := put(tx, bucketAccounts, []byte(ids[i]), []byte("{}")); err != nil {
					return err
				}
				if i%3 == 0 {
					return boom
				}
				return nil
			})
		})
	}
	waitQueued(t, queued, n)
	release()
	wg.Wait()
	err := s.db.View(func(tx *bbolt.Tx) error {
		for i := range n {
			got := bucket(tx, bucketAccounts).Get([]byte(ids[i])) != nil
			switch {
			case i%3 == 0 && !errors.Is(errs[i], boom):
				t.Errorf("failing writer %d: %v, want boom", i, errs[i])
			case i%3 == 0 && got:
				t.Errorf("failing writer %d: its write was committed", i)
			case i%3 != 0 && (errs[i] != nil || !got):
				t.Errorf("writer %d: %v, committed %v; want nil, true", i, errs[i], got)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestOpenLocked(t *testing.T) {
	s, path := openTemp(t)
	t.Cleanup(func() { _ = s.Close() })
	if s2, err := Open(path, WithLockTimeout(50*time.Millisecond)); err == nil {
		_ = s2.Close()
		t.Fatal("second Open of a file in use succeeded")
	}
}

func TestCanceledContext(t *testing.T) {
	s, _ := openTemp(t)
	t.Cleanup(func() { _ = s.Close() })
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := s.CreateAccount(ctx, &core.Account{ID: core.NewID(), KeyThumbprint: core.NewID()}); !errors.Is(err, context.Canceled) {
		t.Errorf("CreateAccount(canceled) = %v, want context.Canceled", err)
	}
	if _, err := s.GetAccount(ctx, core.NewID()); !errors.Is(err, context.Canceled) {
		t.Errorf("GetAccount(canceled) = %v, want context.Canceled", err)
	}
}

// TestCreateOrderKeepsExistingAuthz checks that an existing authorization
// passed again to CreateOrder (a reused one) is not rewritten.
func TestCreateOrderKeepsExistingAuthz(t *testing.T) {
	s, _ := openTemp(t)
	t.Cleanup(func() { _ = s.Close() })
	ctx := t.Context()
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	want := issue(t, s, now)
	stored, err := s.GetAuthorization(ctx, want.authz.ID)
	if err != nil {
		t.Fatalf("GetAuthorization: %v", err)
	}
	rewritten := *stored
	rewritten.OrderID, rewritten.Status = core.NewID(), core.StatusPending
	o := &core.Order{ID: core.NewID(), AccountID: want.acct.ID, Status: core.StatusReady, Expires: now.Add(time.Hour),
		Identifiers: []acme.Identifier{stored.Identifier}, AuthzIDs: []string{stored.ID}, CreatedAt: now}
	if err := s.CreateOrder(ctx, o, []*core.Authorization{&rewritten}); err != nil {
		t.Fatalf("CreateOrder: %v", err)
	}
	got, err := s.GetAuthorization(ctx, stored.ID)
	if err != nil {
		t.Fatalf("GetAuthorization: %v", err)
	}
	if got.OrderID != stored.OrderID || got.Status != core.StatusValid {
		t.Errorf("reused authorization rewritten: order %s status %s, want %s valid", got.OrderID, got.Status, stored.OrderID)
	}
	if err := s.CreateOrder(ctx, o, nil); !errors.Is(err, store.ErrConflict) {
		t.Errorf("CreateOrder(same ID) = %v, want ErrConflict", err)
	}
}
