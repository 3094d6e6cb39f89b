package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/acmera/acmera/pkg/acme"
	"github.com/acmera/acmera/pkg/core"
	"github.com/acmera/acmera/pkg/store"
)

// hourLimit is a fresh limit key, so the suite also runs on a shared store.
func hourLimit(max int64, shards int) store.RateLimit {
	return store.RateLimit{Key: "test:" + core.NewID(), Max: max, Window: time.Hour, Shards: shards}
}

// windowStart is a full hour of the suite's clock.
func windowStart() time.Time { return base().Truncate(time.Hour).Add(time.Hour) }

func mustCounts(t *testing.T, s store.Store, now time.Time, ls ...store.RateLimit) []int64 {
	t.Helper()
	got, err := s.Counts(t.Context(), ls, now)
	if err != nil {
		t.Fatalf("Counts: %v", err)
	}
	if len(got) != len(ls) {
		t.Fatalf("Counts returned %d counts for %d limits", len(got), len(ls))
	}
	return got
}

// Spend counts up to Max per fixed window, refuses beyond it without
// counting, names the window's end, and starts over in the next window.
func testRateLimitSpend(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, shards := range []int{0, 1, 4} {
		l := hourLimit(3, shards)
		w := windowStart()
		steps := []struct {
			name   string
			n      int64
			now    time.Time
			wantOK bool
		}{
			{"first", 1, w, true},
			{"two more", 2, w.Add(time.Minute), true},
			{"over the limit", 1, w.Add(59 * time.Minute), false},
			{"over by more", 3, w.Add(30 * time.Minute), false},
			{"next window", 3, w.Add(time.Hour), true},
		}
		for _, st := range steps {
			ok, retryAt, err := s.Spend(ctx, l, st.n, st.now)
			if err != nil {
				t.Fatalf("shards %d, %s: Spend: %v", shards, st.name, err)
			}
			wantRetry := time.Time{}
			if !st.wantOK {
				wantRetry = w.Add(time.Hour)
			}
			if ok != st.wantOK || !retryAt.Equal(wantRetry) {
				t.Errorf("shards %d, %s: Spend = %v, %v; want %v, %v", shards, st.name, ok, retryAt, st.wantOK, wantRetry)
			}
		}
		if got := mustCounts(t, s, w, l); got[0] != 3 {
			t.Errorf("shards %d: count %d after refusals, want 3 (a refusal counts nothing)", shards, got[0])
		}
		if err := s.Add(ctx, l, -1, w.Add(2*time.Minute)); err != nil {
			t.Fatalf("Add(-1): %v", err)
		}
		if ok, _, err := s.Spend(ctx, l, 1, w.Add(3*time.Minute)); err != nil || !ok {
			t.Errorf("shards %d: Spend after a refund = %v, %v; want true", shards, ok, err)
		}
	}
	unlimited := hourLimit(0, 2)
	for range 3 {
		if ok, _, err := s.Spend(ctx, unlimited, 5, windowStart()); err != nil || !ok {
			t.Fatalf("Spend with no Max = %v, %v; want true", ok, err)
		}
	}
	if got := mustCounts(t, s, windowStart(), unlimited); got[0] != 15 {
		t.Errorf("unlimited count %d, want 15 (Spend with no Max still counts)", got[0])
	}
	if _, _, err := s.Spend(ctx, store.RateLimit{Key: "x", Max: 1, Window: time.Millisecond}, 1, windowStart()); err == nil {
		t.Error("Spend with a sub-second window succeeded, want an error")
	}
}

// Counts reads many limits at once; a limit never spent counts zero, and
// one named twice is read once and reported twice.
func testRateLimitCounts(t *testing.T, s store.Store) {
	ctx := t.Context()
	w := windowStart()
	a, b, never := hourLimit(10, 1), hourLimit(10, 8), hourLimit(10, 3)
	for range 2 {
		if err := s.Add(ctx, a, 2, w); err != nil {
			t.Fatalf("Add: %v", err)
		}
	}
	if _, _, err := s.Spend(ctx, b, 7, w.Add(time.Second)); err != nil {
		t.Fatalf("Spend: %v", err)
	}
	got := mustCounts(t, s, w.Add(time.Minute), a, never, b, a)
	if want := []int64{4, 0, 7, 4}; !equalInts(got, want) {
		t.Errorf("Counts = %v, want %v", got, want)
	}
	if got := mustCounts(t, s, w.Add(-time.Second), a, b); !equalInts(got, []int64{0, 0}) {
		t.Errorf("Counts of the previous window = %v, want zeros", got)
	}
	if got := mustCounts(t, s, w); len(got) != 0 {
		t.Errorf("Counts of no limits = %v, want none", got)
	}
}

func equalInts(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Concurrent Spends lose no increment: the count is exactly the number
// that succeeded, at least Max of them did, and a sharding store overshoots
// by less than the number of callers.
func testRaceRateLimitSpend(t *testing.T, s store.Store) {
	const callers, limit = 12, 5
	for range raceRounds {
		l := hourLimit(limit, 4)
		errs := race(t, callers, func(ctx context.Context, _ int) error {
			ok, _, err := s.Spend(ctx, l, 1, windowStart())
			if err == nil && !ok {
				return errRefused
			}
			return err
		})
		oks := 0
		for i, err := range errs {
			switch err {
			case nil:
				oks++
			case errRefused:
			default:
				t.Errorf("Spend %d: %v", i, err)
			}
		}
		got := mustCounts(t, s, windowStart(), l)
		if got[0] != int64(oks) || oks < limit || oks >= limit+callers {
			t.Errorf("%d of %d Spends succeeded, count %d; want at least %d, all counted", oks, callers, got[0], limit)
		}
	}
}

// errRefused marks a Spend that answered "over the limit".
var errRefused = errors.New("refused")

// CountPendingAuthorizations counts the account's pending, unexpired
// authorizations (up to the limit asked), and NextPendingExpiry names the
// first to expire; validated, failed and deactivated ones no longer count.
func testPendingAuthorizations(t *testing.T, s store.Store) {
	ctx := t.Context()
	acct, other := mustCreateAccount(t, s), mustCreateAccount(t, s)
	soon := orderSpec{account: acct, idents: []acme.Identifier{dns("a.example"), dns("b.example")}, authzExpires: at(2 * time.Hour)}
	_, first := mustCreateOrder(t, s, soon)
	later := orderSpec{account: acct, idents: []acme.Identifier{dns("c.example"), dns("d.example"), dns("e.example")}, authzExpires: at(5 * time.Hour)}
	_, second := mustCreateOrder(t, s, later)
	mustCreateOrder(t, s, orderSpec{account: other, idents: []acme.Identifier{dns("a.example")}})

	count := func(now time.Time, limit int) int {
		t.Helper()
		n, err := s.CountPendingAuthorizations(ctx, acct.ID, now, limit)
		if err != nil {
			t.Fatalf("CountPendingAuthorizations: %v", err)
		}
		return n
	}
	next := func(now time.Time) time.Time {
		t.Helper()
		e, err := s.NextPendingExpiry(ctx, acct.ID, now)
		if err != nil {
			t.Fatalf("NextPendingExpiry: %v", err)
		}
		return e
	}
	if n := count(at(0), 100); n != 5 {
		t.Errorf("pending = %d, want 5", n)
	}
	if n := count(at(0), 3); n != 3 {
		t.Errorf("pending up to 3 = %d, want 3", n)
	}
	if e := next(at(0)); !sameTime(e, at(2*time.Hour)) {
		t.Errorf("NextPendingExpiry = %v, want %v", e, at(2*time.Hour))
	}
	if n := count(at(3*time.Hour), 100); n != 3 {
		t.Errorf("pending after the first two expired = %d, want 3", n)
	}
	if e := next(at(3 * time.Hour)); !sameTime(e, at(5*time.Hour)) {
		t.Errorf("NextPendingExpiry after the first expired = %v, want %v", e, at(5*time.Hour))
	}

	validate(t, s, first[0], at(time.Minute))
	ch := second[0].Challenges[0].ID
	if _, err := s.MarkChallengeProcessing(ctx, second[0].ID, ch); err != nil {
		t.Fatalf("MarkChallengeProcessing: %v", err)
	}
	if n := count(at(0), 100); n != 4 {
		t.Errorf("pending with one valid and one processing = %d, want 4 (processing is still pending)", n)
	}
	res := core.ValidationResult{AuthzID: second[0].ID, ChallengeID: ch, ValidatedAt: at(time.Minute), Error: testProblem(second[0].Identifier)}
	if _, err := s.RecordValidation(ctx, res); err != nil {
		t.Fatalf("RecordValidation(invalid): %v", err)
	}
	if _, err := s.DeactivateAuthorization(ctx, first[1].ID); err != nil {
		t.Fatalf("DeactivateAuthorization: %v", err)
	}
	// The failed order's other two authorizations stay pending (RFC 8555
	// §7.1.6 moves the order, not its siblings), so they still count.
	if n := count(at(0), 100); n != 2 {
		t.Errorf("pending after valid, invalid, deactivated = %d, want 2", n)
	}
	if n := count(at(6*time.Hour), 100); n != 0 {
		t.Errorf("pending after all expired = %d, want 0", n)
	}
	_, err := s.NextPendingExpiry(ctx, acct.ID, at(6*time.Hour))
	wantErr(t, "NextPendingExpiry(none left)", err, store.ErrNotFound)
	if n, err := s.CountPendingAuthorizations(ctx, core.NewID(), at(0), 100); err != nil || n != 0 {
		t.Errorf("unknown account: %d, %v; want 0", n, err)
	}
}
