package ra

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/acmera/acmera/pkg/acme"
	"github.com/acmera/acmera/pkg/core"
	"github.com/acmera/acmera/pkg/policy"
	"github.com/acmera/acmera/pkg/problem"
	"github.com/acmera/acmera/pkg/store"
	"github.com/acmera/acmera/pkg/store/bolt"
	"github.com/acmera/acmera/pkg/va"
)

// newAccountReq returns a newAccount request for a fresh key from source.
func newAccountReq(source string) NewAccountRequest {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jwk, _ := (&jose.JSONWebKey{Key: key.Public()}).MarshalJSON()
	return NewAccountRequest{Profile: "acme", Key: jwk, Thumbprint: core.NewID(), Source: source}
}

// badVA fails every identifier whose name starts with "bad".
type badVA struct{}

func (badVA) Validate(_ context.Context, req va.Request) *problem.Problem {
	if strings.HasPrefix(req.Identifier.Value, "bad") {
		return problem.New(problem.Connection, "connection refused")
	}
	return nil
}

// limitFixture is an RA on a bolt store with one profile, on a clock 20
// minutes into an hour, so a refusal's Retry-After is 40 minutes.
type limitFixture struct {
	*fixture
	st *bolt.Store // unwrapped, to see what was written
}

var limitNow = time.Date(2026, 3, 1, 10, 20, 0, 0, time.UTC)

func newLimitFixture(t *testing.T, profile string, newAccounts int, wrap func(store.Store) store.Store) *limitFixture {
	t.Helper()
	pol, err := policy.Parse([]byte(`{"profiles":{"acme":` + profile + `}}`))
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, 0)
	st, err := bolt.Open(filepath.Join(t.TempDir(), "limits.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var s store.Store = st
	if wrap != nil {
		s = wrap(st)
	}
	f.now = limitNow
	f.ra, err = New(Config{Store: s, Queue: f.q, Validator: badVA{}, Issuer: f.ca, Policy: pol,
		Clock: func() time.Time { return f.now }, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		NewAccountsPerHour: newAccounts})
	if err != nil {
		t.Fatal(err)
	}
	if f.acct, _, err = f.ra.NewAccount(t.Context(), newAccountReq("192.0.2.99")); err != nil {
		t.Fatal(err)
	}
	return &limitFixture{fixture: f, st: st}
}

func (f *limitFixture) order(names ...string) (*core.Order, error) {
	var ids []acme.Identifier
	for _, n := range names {
		ids = append(ids, acme.Identifier{Type: acme.IdentifierDNS, Value: n})
	}
	return f.ra.NewOrder(context.Background(), f.acct, NewOrderRequest{Profile: "acme", Identifiers: ids})
}

// failValidation places an order for name and runs its (failing) validation.
func (f *limitFixture) failValidation(t *testing.T, name string) {
	t.Helper()
	o, err := f.order(name)
	if err != nil {
		t.Fatalf("order for %s: %v", name, err)
	}
	az, err := f.ra.Authorization(t.Context(), f.acct, o.AuthzIDs[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.ra.AnswerChallenge(t.Context(), f.acct, ChallengeAnswer{AuthzID: az.ID, ChallengeID: az.Challenges[0].ID}); err != nil {
		t.Fatal(err)
	}
	for _, err := range f.runTasks(t) {
		if err != nil {
			t.Fatal(err)
		}
	}
	if az, _ = f.ra.Authorization(t.Context(), f.acct, az.ID); az.Status != core.StatusInvalid {
		t.Fatalf("authorization of %s is %s, want invalid", name, az.Status)
	}
}

// written is what a refused request must leave unchanged.
type written struct {
	orders, pending int
	spent           int64
}

func (f *limitFixture) written(t *testing.T) written {
	t.Helper()
	ctx := t.Context()
	ids, err := f.st.ListOrders(ctx, f.acct.ID, 1000)
	if err != nil {
		t.Fatal(err)
	}
	pending, err := f.st.CountPendingAuthorizations(ctx, f.acct.ID, f.now, 1000)
	if err != nil {
		t.Fatal(err)
	}
	c, err := f.st.Counts(ctx, []store.RateLimit{ordersLimit(f.acct.ID, 0)}, f.now)
	if err != nil {
		t.Fatal(err)
	}
	return written{orders: len(ids), pending: pending, spent: c[0]}
}

// Each limit refuses with 429 rateLimited, a Retry-After for when it
// frees, and a detail naming the limit and its value; a refused request
// writes nothing (no order, no authorization, no count).
func TestRateLimits(t *testing.T) {
	tests := []struct {
		name        string
		profile     string
		newAccounts int
		setup       func(t *testing.T, f *limitFixture)
		refused     func(f *limitFixture) error
		detail      []string
		retryAfter  time.Duration
		subproblems []string // identifiers named, in order
	}{{
		name:    "orders per account per hour",
		profile: `{"allowAnyName":true,"maxOrdersPerHour":2}`,
		setup: func(t *testing.T, f *limitFixture) {
			for _, n := range []string{"a.example", "b.example"} {
				if _, err := f.order(n); err != nil {
					t.Fatal(err)
				}
			}
		},
		refused:    func(f *limitFixture) error { _, err := f.order("c.example"); return err },
		detail:     []string{"maxOrdersPerHour", "2 new orders per hour", "2026-03-01T10:00:00Z to 2026-03-01T11:00:00Z"},
		retryAfter: 40 * time.Minute,
	}, {
		name:    "pending authorizations per account",
		profile: `{"allowAnyName":true,"maxPendingAuthorizations":3,"pendingLifetime":"2h"}`,
		setup: func(t *testing.T, f *limitFixture) {
			if _, err := f.order("a.example", "b.example"); err != nil {
				t.Fatal(err)
			}
			f.now = f.now.Add(30 * time.Minute)
		},
		refused:    func(f *limitFixture) error { _, err := f.order("c.example", "d.example"); return err },
		detail:     []string{"maxPendingAuthorizations", "may hold 3 pending authorizations, has 2 and the order needs 2 more"},
		retryAfter: 90 * time.Minute, // the first pending one expires 2 h after it was made
	}, {
		name:    "failed validations per identifier per hour",
		profile: `{"allowAnyName":true,"allowWildcards":true,"maxFailedValidationsPerHour":2}`,
		setup: func(t *testing.T, f *limitFixture) {
			f.failValidation(t, "bad.example")
			f.failValidation(t, "bad.example")
			f.failValidation(t, "bad2.example")
		},
		refused: func(f *limitFixture) error {
			_, err := f.order("ok.example", "bad.example", "bad2.example", "*.bad.example")
			return err
		},
		detail:      []string{"maxFailedValidationsPerHour", "bad.example, *.bad.example failed validation 2 or more times"},
		retryAfter:  40 * time.Minute,
		subproblems: []string{"bad.example", "*.bad.example"},
	}, {
		name:        "new accounts per client address per hour",
		profile:     `{"allowAnyName":true}`,
		newAccounts: 2,
		setup: func(t *testing.T, f *limitFixture) {
			if _, _, err := f.ra.NewAccount(t.Context(), newAccountReq("192.0.2.1")); err != nil {
				t.Fatal(err)
			}
			if _, _, err := f.ra.NewAccount(t.Context(), newAccountReq("192.0.2.1")); err != nil {
				t.Fatal(err)
			}
		},
		refused: func(f *limitFixture) error {
			_, _, err := f.ra.NewAccount(context.Background(), newAccountReq("192.0.2.1"))
			return err
		},
		detail:     []string{"ACMERA_NEW_ACCOUNT_RATE", "2 accounts may be created from 192.0.2.1 per hour"},
		retryAfter: 40 * time.Minute,
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newLimitFixture(t, tc.profile, tc.newAccounts, nil)
			tc.setup(t, f)
			before := f.written(t)
			err := tc.refused(f)
			p, ok := problem.Of(err)
			if !ok || p.Type != problem.RateLimited || p.Status != 429 || p.RetryAfter != tc.retryAfter {
				t.Fatalf("got %v (%+v), want 429 %s with Retry-After %v", err, p, problem.RateLimited, tc.retryAfter)
			}
			for _, d := range tc.detail {
				if !strings.Contains(p.Detail, d) {
					t.Errorf("detail %q does not name %q", p.Detail, d)
				}
			}
			var subs []string
			for _, s := range p.Subproblems {
				if s.Type != problem.RateLimited || s.Identifier == nil {
					t.Errorf("subproblem %+v, want rateLimited naming its identifier", s)
					continue
				}
				subs = append(subs, s.Identifier.Value)
			}
			if strings.Join(subs, ",") != strings.Join(tc.subproblems, ",") {
				t.Errorf("subproblems name %v, want %v", subs, tc.subproblems)
			}
			if after := f.written(t); after != before {
				t.Errorf("the refused request wrote: %+v before, %+v after", before, after)
			}
		})
	}
}

// Limits start over in the next window, and a negative limit is none.
func TestRateLimitWindowsAndNone(t *testing.T) {
	f := newLimitFixture(t, `{"allowAnyName":true,"maxOrdersPerHour":1}`, 0, nil)
	if _, err := f.order("a.example"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.order("a.example"); err == nil {
		t.Fatal("second order within the hour was accepted")
	}
	f.now = f.now.Add(40 * time.Minute) // 11:00, the next window
	if _, err := f.order("a.example"); err != nil {
		t.Fatalf("order in the next window: %v", err)
	}
	none := newLimitFixture(t, `{"allowAnyName":true,"maxOrdersPerHour":-1,"maxPendingAuthorizations":-1,"maxFailedValidationsPerHour":-1}`, -1, nil)
	for range 3 {
		none.failValidation(t, "bad.example")
	}
	if _, err := none.order("bad.example", "b.example"); err != nil {
		t.Fatalf("order with no limits: %v", err)
	}
	if w := none.written(t); w.spent != 0 {
		t.Errorf("an unlimited profile counted %d orders, want none", w.spent)
	}
}

// New accounts: a key that has an account still gets it when its
// address is limited (RFC 8555 §7.3.1), another address is not limited,
// and a newAccount that finds its key bound gives its count back.
func TestNewAccountRateLimit(t *testing.T) {
	f := newLimitFixture(t, `{"allowAnyName":true}`, 2, nil)
	ctx := t.Context()
	first := newAccountReq("192.0.2.1")
	for _, req := range []NewAccountRequest{first, first, newAccountReq("192.0.2.1")} {
		if _, _, err := f.ra.NewAccount(ctx, req); err != nil {
			t.Fatalf("account under the limit: %v", err)
		}
	}
	if _, _, err := f.ra.NewAccount(ctx, newAccountReq("192.0.2.1")); err == nil {
		t.Fatal("third new account from one address was accepted")
	}
	if a, created, err := f.ra.NewAccount(ctx, first); err != nil || created || a == nil {
		t.Fatalf("existing key while limited: %v %v %v, want its account", a, created, err)
	}
	if _, created, err := f.ra.NewAccount(ctx, newAccountReq("192.0.2.2")); err != nil || !created {
		t.Fatalf("another address: %v %v", created, err)
	}
}

// failingLimits fails the rate-limit calls of a store.
type failingLimits struct {
	store.Store
	fail string // the method to fail
}

var errLimitsDown = errors.New("counters unreachable")

func (s *failingLimits) Spend(ctx context.Context, l store.RateLimit, n int64, now time.Time) (bool, time.Time, error) {
	if s.fail == "Spend" {
		return false, time.Time{}, errLimitsDown
	}
	return s.Store.Spend(ctx, l, n, now)
}

func (s *failingLimits) Counts(ctx context.Context, ls []store.RateLimit, now time.Time) ([]int64, error) {
	if s.fail == "Counts" {
		return nil, errLimitsDown
	}
	return s.Store.Counts(ctx, ls, now)
}

func (s *failingLimits) CountPendingAuthorizations(ctx context.Context, id string, now time.Time, limit int) (int, error) {
	if s.fail == "CountPendingAuthorizations" {
		return 0, errLimitsDown
	}
	return s.Store.CountPendingAuthorizations(ctx, id, now, limit)
}

// A store failure in a limit refuses the order as an internal error (not
// a client problem, not a pass), naming the failing call, and writes
// nothing.
func TestRateLimitStoreFailure(t *testing.T) {
	for _, method := range []string{"Spend", "Counts", "CountPendingAuthorizations"} {
		t.Run(method, func(t *testing.T) {
			fl := &failingLimits{}
			f := newLimitFixture(t, `{"allowAnyName":true}`, 0, func(s store.Store) store.Store { fl.Store = s; return fl })
			fl.fail = method
			before := f.written(t)
			_, err := f.order("a.example")
			if _, isProblem := problem.Of(err); err == nil || isProblem || !errors.Is(err, errLimitsDown) ||
				!strings.Contains(err.Error(), "store."+method) {
				t.Fatalf("got %v, want an internal error wrapping the failure and naming store.%s", err, method)
			}
			if after := f.written(t); after != before {
				t.Errorf("the failed order wrote: %+v before, %+v after", before, after)
			}
		})
	}
}
