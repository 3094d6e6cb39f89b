package storetest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/acmera/acmera/pkg/acme"
	"github.com/acmera/acmera/pkg/core"
	"github.com/acmera/acmera/pkg/store"
)

// Each race runs raceRounds rounds on fresh objects, so that an
// implementation that only sometimes lets two callers win is likely caught.

func testRaceCreateAccount(t *testing.T, s store.Store) {
	for range raceRounds {
		accts := []*core.Account{newAccount(), newAccount()}
		accts[1].KeyThumbprint = accts[0].KeyThumbprint
		errs := race(t, len(accts), func(ctx context.Context, i int) error { return s.CreateAccount(ctx, accts[i]) })
		w := oneWinner(t, "CreateAccount", errs)
		if w < 0 {
			continue
		}
		got, err := s.GetAccountByKey(t.Context(), accts[w].KeyThumbprint)
		if err != nil || got.ID != accts[w].ID {
			t.Errorf("GetAccountByKey = %v, %v; want the winner %s", got, err, accts[w].ID)
		}
		_, err = s.GetAccount(t.Context(), accts[1-w].ID)
		wantErr(t, "GetAccount(loser)", err, store.ErrNotFound)
	}
}

func testRaceBeginFinalize(t *testing.T, s store.Store) {
	for range raceRounds {
		o, _ := readyOrder(t, s, dns("a.example"))
		csrs := [][]byte{[]byte("csr-0"), []byte("csr-1")}
		errs := race(t, len(csrs), func(ctx context.Context, i int) error {
			_, err := s.BeginFinalize(ctx, o.ID, csrs[i], at(time.Hour))
			return err
		})
		if w := oneWinner(t, "BeginFinalize", errs); w >= 0 {
			if got := getOrder(t, s, o.ID); got.Status != core.StatusProcessing || string(got.CSR) != string(csrs[w]) {
				t.Errorf("order is %s with CSR %q, want processing with the winner's %q", got.Status, got.CSR, csrs[w])
			}
		}
	}
}

func testRaceMarkChallengeProcessing(t *testing.T, s store.Store) {
	for range raceRounds {
		_, azs := mustCreateOrder(t, s, orderSpec{account: mustCreateAccount(t, s), idents: []acme.Identifier{dns("a.example")}})
		az := azs[0]
		errs := race(t, 2, func(ctx context.Context, _ int) error {
			_, err := s.MarkChallengeProcessing(ctx, az.ID, az.Challenges[0].ID)
			return err
		})
		oneWinner(t, "MarkChallengeProcessing", errs)
		if got := getAuthz(t, s, az.ID); got.Challenges[0].Status != core.StatusProcessing {
			t.Errorf("challenge is %s, want processing", got.Challenges[0].Status)
		}
	}
}

func testRaceRecordValidation(t *testing.T, s store.Store) {
	for range raceRounds {
		o, azs := mustCreateOrder(t, s, orderSpec{account: mustCreateAccount(t, s), idents: []acme.Identifier{dns("a.example")}})
		az := azs[0]
		ch := az.Challenges[0].ID
		if _, err := s.MarkChallengeProcessing(t.Context(), az.ID, ch); err != nil {
			t.Fatalf("MarkChallengeProcessing: %v", err)
		}
		// One success and one failure for the same challenge, as from a
		// redelivered task that saw different network conditions.
		results := []core.ValidationResult{
			{AuthzID: az.ID, ChallengeID: ch, ValidatedAt: at(time.Minute)},
			{AuthzID: az.ID, ChallengeID: ch, ValidatedAt: at(time.Minute), Error: testProblem(az.Identifier)},
		}
		errs := race(t, len(results), func(ctx context.Context, i int) error {
			_, err := s.RecordValidation(ctx, results[i])
			return err
		})
		w := oneWinner(t, "RecordValidation", errs)
		if w < 0 {
			continue
		}
		wantAuthz, wantOrder := core.StatusValid, core.StatusReady
		if results[w].Error != nil {
			wantAuthz, wantOrder = core.StatusInvalid, core.StatusInvalid
		}
		if got := getAuthz(t, s, az.ID); got.Status != wantAuthz || got.Challenges[0].Status != wantAuthz {
			t.Errorf("authorization %s, challenge %s; want both %s (the winner's result)", got.Status, got.Challenges[0].Status, wantAuthz)
		}
		if got := getOrder(t, s, o.ID); got.Status != wantOrder {
			t.Errorf("order is %s, want %s", got.Status, wantOrder)
		}
	}
}

func testRedeemNonce(t *testing.T, s store.Store) {
	ctx := t.Context()
	n1, n2 := core.NewID(), core.NewID()
	wantErr(t, "RedeemNonce(fresh)", s.RedeemNonce(ctx, n1, at(time.Hour)), nil)
	wantErr(t, "RedeemNonce(replayed)", s.RedeemNonce(ctx, n1, at(time.Hour)), store.ErrConflict)
	wantErr(t, "RedeemNonce(another)", s.RedeemNonce(ctx, n2, at(time.Hour)), nil)
	wantErr(t, "RedeemNonce(another, replayed)", s.RedeemNonce(ctx, n2, at(2*time.Hour)), store.ErrConflict)
}

func testRaceRedeemNonce(t *testing.T, s store.Store) {
	for range raceRounds {
		nonce := core.NewID()
		errs := race(t, 8, func(ctx context.Context, _ int) error { return s.RedeemNonce(ctx, nonce, at(time.Hour)) })
		oneWinner(t, "RedeemNonce", errs)
	}
}

func testRecoverer(t *testing.T, s store.Store) {
	r, ok := s.(store.Recoverer)
	if !ok {
		t.Skip("store does not implement store.Recoverer")
	}
	ctx := t.Context()
	challenges := func() [][2]string {
		t.Helper()
		got, err := r.ProcessingChallenges(ctx)
		if err != nil {
			t.Fatalf("ProcessingChallenges: %v", err)
		}
		return got
	}
	orders := func() []string {
		t.Helper()
		got, err := r.ProcessingOrders(ctx)
		if err != nil {
			t.Fatalf("ProcessingOrders: %v", err)
		}
		return got
	}
	_, azs := mustCreateOrder(t, s, orderSpec{account: mustCreateAccount(t, s), idents: []acme.Identifier{dns("a.example")}})
	pair := [2]string{azs[0].ID, azs[0].Challenges[0].ID}
	if slices.Contains(challenges(), pair) {
		t.Errorf("pending challenge %v listed as processing", pair)
	}
	if _, err := s.MarkChallengeProcessing(ctx, pair[0], pair[1]); err != nil {
		t.Fatalf("MarkChallengeProcessing: %v", err)
	}
	if !slices.Contains(challenges(), pair) {
		t.Errorf("processing challenge %v not listed", pair)
	}
	if _, err := s.RecordValidation(ctx, core.ValidationResult{AuthzID: pair[0], ChallengeID: pair[1], ValidatedAt: at(time.Minute)}); err != nil {
		t.Fatalf("RecordValidation: %v", err)
	}
	if slices.Contains(challenges(), pair) {
		t.Errorf("validated challenge %v still listed", pair)
	}

	done, failed := processingOrder(t, s), processingOrder(t, s)
	for _, id := range []string{done.ID, failed.ID} {
		if !slices.Contains(orders(), id) {
			t.Errorf("processing order %s not listed", id)
		}
	}
	if _, err := s.CompleteFinalize(ctx, done.ID, newCert(done)); err != nil {
		t.Fatalf("CompleteFinalize: %v", err)
	}
	if _, err := s.FailFinalize(ctx, failed.ID, testProblem(dns("www.example.com"))); err != nil {
		t.Fatalf("FailFinalize: %v", err)
	}
	for _, id := range []string{done.ID, failed.ID} {
		if slices.Contains(orders(), id) {
			t.Errorf("finished order %s still listed", id)
		}
	}
}
