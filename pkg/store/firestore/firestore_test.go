package firestore

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/acmera/acmera/pkg/acme"
	"github.com/acmera/acmera/pkg/core"
	"github.com/acmera/acmera/pkg/store"
)

// testProject is the emulator project; the emulator accepts any.
const testProject = "acmera-test"

// openTest opens a Store on the emulator named by FIRESTORE_EMULATOR_HOST,
// with a collection prefix of its own so tests never see each other's
// documents, and an op counter on its connection. It skips the test when
// no emulator is configured (start one with scripts/firestore-emulator.sh).
func openTest(t *testing.T) (*Store, *OpCounter) {
	t.Helper()
	host := os.Getenv("FIRESTORE_EMULATOR_HOST")
	if host == "" {
		t.Skip("FIRESTORE_EMULATOR_HOST not set; run scripts/firestore-emulator.sh start")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := NewOpCounter()
	s, err := New(ctx, Config{
		ProjectID:        testProject,
		CollectionPrefix: "t" + strings.ReplaceAll(core.NewID(), "-", "_") + "_",
		EmulatorHost:     host,
		DialOptions:      c.DialOptions(),
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s, c
}

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// fixture times are whole microseconds, Firestore's precision.
var fixtureNow = time.Date(2030, 1, 2, 3, 4, 5, 6000, time.UTC)

func newAccount(thumb string) *core.Account {
	return &core.Account{
		ID: core.NewID(), KeyThumbprint: thumb, Key: []byte(`{"kty":"EC"}`),
		Contact: []string{"mailto:a@example.com"}, Status: core.StatusValid,
		CreatedAt: fixtureNow, Profile: "acme",
	}
}

// newOrder returns a pending order of acct for names, with one pending
// authorization (one http-01 challenge) per name.
func newOrder(acct *core.Account, names ...string) (*core.Order, []*core.Authorization) {
	o := &core.Order{
		ID: core.NewID(), AccountID: acct.ID, Profile: acct.Profile, Status: core.StatusPending,
		Expires: fixtureNow.Add(7 * 24 * time.Hour), CreatedAt: fixtureNow,
	}
	var azs []*core.Authorization
	for _, n := range names {
		id := acme.Identifier{Type: "dns", Value: n}
		a := &core.Authorization{
			ID: core.NewID(), AccountID: acct.ID, OrderID: o.ID, Profile: acct.Profile, Identifier: id,
			Status: core.StatusPending, Expires: fixtureNow.Add(7 * 24 * time.Hour), CreatedAt: fixtureNow,
			Challenges: []core.Challenge{{ID: core.NewID(), Type: "http-01", Token: core.NewToken(), Status: core.StatusPending}},
		}
		o.Identifiers = append(o.Identifiers, id)
		o.AuthzIDs = append(o.AuthzIDs, a.ID)
		azs = append(azs, a)
	}
	return o, azs
}

// validate runs a challenge through MarkChallengeProcessing and a
// successful RecordValidation.
func validate(ctx context.Context, t *testing.T, s *Store, a *core.Authorization) {
	t.Helper()
	if _, err := s.MarkChallengeProcessing(ctx, a.ID, a.Challenges[0].ID); err != nil {
		t.Fatalf("MarkChallengeProcessing: %v", err)
	}
	r := core.ValidationResult{AuthzID: a.ID, ChallengeID: a.Challenges[0].ID, ValidatedAt: fixtureNow}
	if _, err := s.RecordValidation(ctx, r); err != nil {
		t.Fatalf("RecordValidation: %v", err)
	}
}

// race runs f n times concurrently and returns how many calls succeeded;
// every failure must be ErrConflict.
func race(t *testing.T, n int, f func() error) int {
	t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = f()
		}()
	}
	close(start)
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, store.ErrConflict):
			t.Errorf("racing call: %v, want nil or ErrConflict", err)
		}
	}
	return ok
}

func TestCreateAccountRaceOneKey(t *testing.T) {
	s, _ := openTest(t)
	defer s.Close()
	ctx := testCtx(t)
	const n = 6
	accts := make(chan *core.Account, n)
	ok := race(t, n, func() error {
		a := newAccount("thumb-race")
		err := s.CreateAccount(ctx, a)
		if err == nil {
			accts <- a
		}
		return err
	})
	if ok != 1 {
		t.Fatalf("%d of %d racing CreateAccount calls succeeded, want 1", ok, n)
	}
	winner := <-accts
	got, err := s.GetAccountByKey(ctx, "thumb-race")
	if err != nil {
		t.Fatalf("GetAccountByKey: %v", err)
	}
	if got.ID != winner.ID {
		t.Errorf("GetAccountByKey = %s, want the winner %s", got.ID, winner.ID)
	}
}

func TestBeginFinalizeRace(t *testing.T) {
	s, _ := openTest(t)
	defer s.Close()
	ctx := testCtx(t)
	acct := newAccount("thumb-fin")
	if err := s.CreateAccount(ctx, acct); err != nil {
		t.Fatalf("CreateAccount: %v", err)
	}
	o, azs := newOrder(acct, "a.example.com")
	if err := s.CreateOrder(ctx, o, azs); err != nil {
		t.Fatalf("CreateOrder: %v", err)
	}
	validate(ctx, t, s, azs[0])
	const n = 4
	ok := race(t, n, func() error {
		_, err := s.BeginFinalize(ctx, o.ID, []byte("csr"), fixtureNow)
		return err
	})
	if ok != 1 {
		t.Fatalf("%d of %d racing BeginFinalize calls succeeded, want 1", ok, n)
	}
	got, err := s.GetOrder(ctx, o.ID)
	if err != nil {
		t.Fatalf("GetOrder: %v", err)
	}
	if got.Status != core.StatusProcessing || string(got.CSR) != "csr" {
		t.Errorf("order after finalize race: status %s csr %q, want processing csr", got.Status, got.CSR)
	}
}

// TestRecordValidationConcurrentSiblings validates the two authorizations of
// one order at the same time: whichever commits second must see the other
// valid and make the order ready. Without a transaction over the sibling
// read, both could see the other pending and leave the order pending.
func TestRecordValidationConcurrentSiblings(t *testing.T) {
	s, _ := openTest(t)
	defer s.Close()
	ctx := testCtx(t)
	acct := newAccount("thumb-sib")
	if err := s.CreateAccount(ctx, acct); err != nil {
		t.Fatalf("CreateAccount: %v", err)
	}
	for round := range 3 {
		o, azs := newOrder(acct, "a.example.com", "b.example.com")
		if err := s.CreateOrder(ctx, o, azs); err != nil {
			t.Fatalf("CreateOrder: %v", err)
		}
		for _, a := range azs {
			if _, err := s.MarkChallengeProcessing(ctx, a.ID, a.Challenges[0].ID); err != nil {
				t.Fatalf("MarkChallengeProcessing: %v", err)
			}
		}
		var i int
		var mu sync.Mutex
		ok := race(t, len(azs), func() error {
			mu.Lock()
			a := azs[i]
			i++
			mu.Unlock()
			_, err := s.RecordValidation(ctx, core.ValidationResult{AuthzID: a.ID, ChallengeID: a.Challenges[0].ID, ValidatedAt: fixtureNow})
			return err
		})
		if ok != len(azs) {
			t.Fatalf("round %d: %d of %d RecordValidation calls succeeded", round, ok, len(azs))
		}
		got, err := s.GetOrder(ctx, o.ID)
		if err != nil {
			t.Fatalf("GetOrder: %v", err)
		}
		if got.Status != core.StatusReady {
			t.Fatalf("round %d: order is %s after both authorizations were validated, want ready", round, got.Status)
		}
	}
}
