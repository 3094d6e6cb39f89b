package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/acmera/acmera/pkg/acme"
	"github.com/acmera/acmera/pkg/core"
	"github.com/acmera/acmera/pkg/problem"
	"github.com/acmera/acmera/pkg/store"
)

// base is the suite's fixed clock: far enough ahead that no store forgets
// a nonce or document by wall-clock expiry during a run, and with
// sub-millisecond digits to show the precision the contract guarantees.
func base() time.Time { return time.Date(2099, 3, 4, 5, 6, 7, 123_456_789, time.UTC) }

// at is base plus d.
func at(d time.Duration) time.Time { return base().Add(d) }

const (
	day         = 24 * time.Hour
	raceTimeout = 60 * time.Second
	raceRounds  = 3
)

func newAccount() *core.Account {
	id := core.NewID()
	return &core.Account{
		ID:            id,
		KeyThumbprint: core.NewID(),
		Key:           []byte(`{"kty":"EC","crv":"P-256","x":"` + id + `","y":"y"}`),
		Contact:       []string{"mailto:ops@example.com", "mailto:" + id + "@example.com"},
		Status:        core.StatusValid,
		CreatedAt:     at(0),
		Profile:       "acme",
	}
}

func mustCreateAccount(t *testing.T, s store.Store) *core.Account {
	t.Helper()
	a := newAccount()
	if err := s.CreateAccount(t.Context(), a); err != nil {
		t.Fatalf("CreateAccount: %v", err)
	}
	return a
}

func dns(name string) acme.Identifier { return acme.Identifier{Type: acme.IdentifierDNS, Value: name} }

// newAuthz is a pending authorization of o for ident, with the three
// challenge types, expiring at expires.
func newAuthz(o *core.Order, ident acme.Identifier, expires time.Time) *core.Authorization {
	az := &core.Authorization{
		ID: core.NewID(), AccountID: o.AccountID, OrderID: o.ID, Profile: o.Profile,
		Identifier: ident, Status: core.StatusPending, Expires: expires, CreatedAt: o.CreatedAt,
	}
	for _, typ := range []string{acme.ChallengeHTTP01, acme.ChallengeDNS01, acme.ChallengeTLSALPN01} {
		az.Challenges = append(az.Challenges, core.Challenge{
			ID: core.NewID(), Type: typ, Token: core.NewToken(), Status: core.StatusPending,
		})
	}
	return az
}

// orderSpec describes an order to create.
type orderSpec struct {
	account      *core.Account
	profile      string // default "acme"
	idents       []acme.Identifier
	created      time.Time         // default base
	expires      time.Time         // default base + 7 days
	authzExpires time.Time         // default base + 30 days
	reuse        []string          // IDs of existing valid authorizations to reuse
	reusedIdents []acme.Identifier // their identifiers, appended to Identifiers
}

// newOrder builds a pending order and one new pending authorization per
// identifier of spec.idents; spec.reuse and spec.reusedIdents are appended
// to AuthzIDs and Identifiers.
func newOrder(spec orderSpec) (*core.Order, []*core.Authorization) {
	if spec.profile == "" {
		spec.profile = "acme"
	}
	if spec.created.IsZero() {
		spec.created = at(0)
	}
	if spec.expires.IsZero() {
		spec.expires = at(7 * day)
	}
	if spec.authzExpires.IsZero() {
		spec.authzExpires = at(30 * day)
	}
	o := &core.Order{
		ID: core.NewID(), AccountID: spec.account.ID, Profile: spec.profile,
		Status: core.StatusPending, Expires: spec.expires,
		Identifiers: append(slices.Clone(spec.idents), spec.reusedIdents...),
		CreatedAt:   spec.created, UpdatedAt: spec.created,
	}
	var azs []*core.Authorization
	for _, id := range spec.idents {
		az := newAuthz(o, id, spec.authzExpires)
		azs = append(azs, az)
		o.AuthzIDs = append(o.AuthzIDs, az.ID)
	}
	o.AuthzIDs = append(o.AuthzIDs, spec.reuse...)
	return o, azs
}

func mustCreateOrder(t *testing.T, s store.Store, spec orderSpec) (*core.Order, []*core.Authorization) {
	t.Helper()
	o, azs := newOrder(spec)
	if err := s.CreateOrder(t.Context(), o, azs); err != nil {
		t.Fatalf("CreateOrder: %v", err)
	}
	return o, azs
}

// validate answers az's first challenge successfully at when.
func validate(t *testing.T, s store.Store, az *core.Authorization, when time.Time) *core.Authorization {
	t.Helper()
	ch := az.Challenges[0].ID
	if _, err := s.MarkChallengeProcessing(t.Context(), az.ID, ch); err != nil {
		t.Fatalf("MarkChallengeProcessing: %v", err)
	}
	got, err := s.RecordValidation(t.Context(), core.ValidationResult{AuthzID: az.ID, ChallengeID: ch, ValidatedAt: when})
	if err != nil {
		t.Fatalf("RecordValidation: %v", err)
	}
	return got
}

// readyOrder creates an account and a ready order for idents.
func readyOrder(t *testing.T, s store.Store, idents ...acme.Identifier) (*core.Order, []*core.Authorization) {
	t.Helper()
	o, azs := mustCreateOrder(t, s, orderSpec{account: mustCreateAccount(t, s), idents: idents})
	for _, az := range azs {
		validate(t, s, az, at(time.Minute))
	}
	return o, azs
}

// processingOrder creates a ready order and begins its finalization.
func processingOrder(t *testing.T, s store.Store) *core.Order {
	t.Helper()
	o, _ := readyOrder(t, s, dns("www.example.com"))
	got, err := s.BeginFinalize(t.Context(), o.ID, []byte("csr-"+o.ID), at(time.Hour))
	if err != nil {
		t.Fatalf("BeginFinalize: %v", err)
	}
	return got
}

func newCert(o *core.Order) *core.Certificate {
	return &core.Certificate{
		ID: o.ID, AccountID: o.AccountID, OrderID: o.ID, Profile: o.Profile,
		Serial:     fmt.Sprintf("%x", []byte(o.ID))[:32],
		Chain:      []byte("-----BEGIN CERTIFICATE-----\n" + o.ID + "\n-----END CERTIFICATE-----\n"),
		NotBefore:  at(time.Hour),
		NotAfter:   at(25 * time.Hour),
		CAResource: "projects/p/locations/l/caPools/pool/certificates/" + o.ID,
		Status:     core.StatusValid,
		CreatedAt:  at(time.Hour + time.Second),
		Backend:    o.Backend,
	}
}

func testProblem(ident acme.Identifier) *problem.Problem {
	p := problem.New(problem.Compound, "validation of %s failed", ident.Value).WithIdentifier(ident)
	p.Subproblems = []problem.Problem{*problem.New(problem.Connection, "connection refused").WithIdentifier(ident)}
	return p
}

func getOrder(t *testing.T, s store.Store, id string) *core.Order {
	t.Helper()
	o, err := s.GetOrder(t.Context(), id)
	if err != nil {
		t.Fatalf("GetOrder(%s): %v", id, err)
	}
	return o
}

func getAuthz(t *testing.T, s store.Store, id string) *core.Authorization {
	t.Helper()
	a, err := s.GetAuthorization(t.Context(), id)
	if err != nil {
		t.Fatalf("GetAuthorization(%s): %v", id, err)
	}
	return a
}

// wantErr fails unless err matches want (nil meaning success).
func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Errorf("%s: unexpected error %v", what, err)
	case want != nil && !errors.Is(err, want):
		t.Errorf("%s: error %v, want %v", what, err, want)
	}
}

// race runs fn(0..n-1) concurrently, released together, and returns their
// errors; it fails the test if they do not all return within raceTimeout.
func race(t *testing.T, n int, fn func(ctx context.Context, i int) error) []error {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), raceTimeout)
	defer cancel()
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = fn(ctx, i)
		})
	}
	close(start)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(raceTimeout + 5*time.Second):
		t.Fatalf("racing calls did not return within %v", raceTimeout)
	}
	return errs
}

// oneWinner fails unless exactly one of errs is nil and the rest are
// ErrConflict; it returns the winner's index.
func oneWinner(t *testing.T, what string, errs []error) int {
	t.Helper()
	winner, wins := -1, 0
	for i, err := range errs {
		switch {
		case err == nil:
			winner = i
			wins++
		case !errors.Is(err, store.ErrConflict):
			t.Errorf("%s: call %d: error %v, want nil or ErrConflict", what, i, err)
		}
	}
	if wins != 1 {
		t.Errorf("%s: %d calls succeeded, want exactly 1 (errors %v)", what, wins, errs)
	}
	return winner
}
