package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/acmera/acmera/pkg/acme"
	"github.com/acmera/acmera/pkg/core"
	"github.com/acmera/acmera/pkg/store"
)

func testOrderRoundTrip(t *testing.T, s store.Store) {
	acct := mustCreateAccount(t, s)
	idents := []acme.Identifier{dns("example.com"), {Type: acme.IdentifierIP, Value: "192.0.2.7"}}
	o, azs := newOrder(orderSpec{account: acct, profile: "internal", idents: idents})
	o.NotBefore, o.NotAfter, o.LifetimeCap = at(time.Hour), at(48*time.Hour), 36*time.Hour
	// Every field set, including those that transitions fill in later.
	o.Error, o.CSR, o.CertificateID = testProblem(idents[0]), []byte{0x30, 0x82, 0x01, 0x00}, core.NewID()
	o.UpdatedAt = at(time.Minute)
	azs[0].Wildcard = true
	azs[0].Challenges[1].Validated = at(2 * time.Minute)
	azs[0].Challenges[1].Error = testProblem(idents[0])
	if err := s.CreateOrder(t.Context(), o, azs); err != nil {
		t.Fatalf("CreateOrder: %v", err)
	}
	sameAs(t, "GetOrder", getOrder(t, s, o.ID), o, normOrder)
	for _, az := range azs {
		sameAs(t, "GetAuthorization", getAuthz(t, s, az.ID), az, normAuthz)
	}
}

func testOrderNotFound(t *testing.T, s store.Store) {
	ctx, id := t.Context(), core.NewID()
	res := core.ValidationResult{AuthzID: id, ChallengeID: core.NewID(), ValidatedAt: at(0)}
	calls := map[string]func() error{
		"GetOrder":                func() error { _, err := s.GetOrder(ctx, id); return err },
		"GetAuthorization":        func() error { _, err := s.GetAuthorization(ctx, id); return err },
		"GetCertificate":          func() error { _, err := s.GetCertificate(ctx, id); return err },
		"GetCertificateBySerial":  func() error { _, err := s.GetCertificateBySerial(ctx, "1234abcd"); return err },
		"MarkChallengeProcessing": func() error { _, err := s.MarkChallengeProcessing(ctx, id, core.NewID()); return err },
		"RecordValidation":        func() error { _, err := s.RecordValidation(ctx, res); return err },
		"DeactivateAuthorization": func() error { _, err := s.DeactivateAuthorization(ctx, id); return err },
		"BeginFinalize":           func() error { _, err := s.BeginFinalize(ctx, id, []byte("csr"), at(0)); return err },
		"CompleteFinalize": func() error {
			_, err := s.CompleteFinalize(ctx, id, newCert(&core.Order{ID: id, AccountID: core.NewID()}))
			return err
		},
		"FailFinalize":      func() error { _, err := s.FailFinalize(ctx, id, testProblem(dns("x.example"))); return err },
		"RevokeCertificate": func() error { _, err := s.RevokeCertificate(ctx, id, 1, at(0)); return err },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) { wantErr(t, name, call(), store.ErrNotFound) })
	}
	// An unknown challenge of a known authorization is refused either way.
	_, azs := mustCreateOrder(t, s, orderSpec{account: mustCreateAccount(t, s), idents: []acme.Identifier{dns("a.example")}})
	_, err := s.MarkChallengeProcessing(ctx, azs[0].ID, core.NewID())
	if !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrConflict) {
		t.Errorf("MarkChallengeProcessing(unknown challenge): error %v, want ErrNotFound or ErrConflict", err)
	}
	sameAs(t, "authorization after unknown challenge", getAuthz(t, s, azs[0].ID), azs[0], normAuthz)
}

func testListOrders(t *testing.T, s store.Store) {
	ctx := t.Context()
	acct, other := mustCreateAccount(t, s), mustCreateAccount(t, s)
	// Created out of order, so only CreatedAt can give "newest first".
	offsets := []time.Duration{time.Minute, 3 * time.Minute, 0, 2 * time.Minute}
	ids := make(map[time.Duration]string)
	for _, off := range offsets {
		o, _ := mustCreateOrder(t, s, orderSpec{account: acct, idents: []acme.Identifier{dns("a.example")}, created: at(off)})
		ids[off] = o.ID
	}
	mustCreateOrder(t, s, orderSpec{account: other, idents: []acme.Identifier{dns("a.example")}, created: at(5 * time.Minute)})
	newestFirst := []string{ids[3*time.Minute], ids[2*time.Minute], ids[time.Minute], ids[0]}
	for _, limit := range []int{1, 3, 4, 10} {
		got, err := s.ListOrders(ctx, acct.ID, limit)
		if err != nil {
			t.Fatalf("ListOrders(limit %d): %v", limit, err)
		}
		want := newestFirst[:min(limit, len(newestFirst))]
		if !slices.Equal(got, want) {
			t.Errorf("ListOrders(limit %d) = %v, want %v", limit, got, want)
		}
	}
	got, err := s.ListOrders(ctx, core.NewID(), 10)
	if len(got) != 0 || (err != nil && !errors.Is(err, store.ErrNotFound)) {
		t.Errorf("ListOrders(unknown account) = %v, %v; want no orders", got, err)
	}
}

func testReuseAuthorization(t *testing.T, s store.Store) {
	acct := mustCreateAccount(t, s)
	first, azs := mustCreateOrder(t, s, orderSpec{account: acct, idents: []acme.Identifier{dns("a.example")}})
	reused := validate(t, s, azs[0], at(time.Minute))
	if o := getOrder(t, s, first.ID); o.Status != core.StatusReady {
		t.Fatalf("first order is %s, want ready", o.Status)
	}
	second, newAzs := mustCreateOrder(t, s, orderSpec{account: acct, created: at(time.Hour),
		idents: []acme.Identifier{dns("b.example")}, reuse: []string{reused.ID}, reusedIdents: []acme.Identifier{dns("a.example")}})
	sameAs(t, "reused authorization after CreateOrder", getAuthz(t, s, reused.ID), reused, normAuthz)
	if got := getOrder(t, s, second.ID); !slices.Equal(got.AuthzIDs, second.AuthzIDs) || got.Status != core.StatusPending {
		t.Fatalf("second order: authzs %v status %s, want %v pending", got.AuthzIDs, got.Status, second.AuthzIDs)
	}
	validate(t, s, newAzs[0], at(2*time.Hour))
	if o := getOrder(t, s, second.ID); o.Status != core.StatusReady {
		t.Errorf("second order is %s after its new authorization was validated, want ready", o.Status)
	}
	if o := getOrder(t, s, first.ID); o.Status != core.StatusReady {
		t.Errorf("first order is %s, want still ready", o.Status)
	}
}

// findFixture is one account's authorizations in several states.
type findFixture struct {
	acct, other                         *core.Account
	valid, laterValid, otherProfile     *core.Authorization
	otherAccount, pending, deactivated  *core.Authorization
	validName, pendingName, deactivName acme.Identifier
}

func newFindFixture(t *testing.T, s store.Store) *findFixture {
	f := &findFixture{acct: mustCreateAccount(t, s), other: mustCreateAccount(t, s),
		validName: dns("valid.example"), pendingName: dns("pending.example"), deactivName: dns("deactivated.example")}
	mk := func(acct *core.Account, profile string, ident acme.Identifier, expires time.Time, valid bool) *core.Authorization {
		_, azs := mustCreateOrder(t, s, orderSpec{account: acct, profile: profile,
			idents: []acme.Identifier{ident}, authzExpires: expires})
		if !valid {
			return azs[0]
		}
		return validate(t, s, azs[0], at(time.Minute))
	}
	f.valid = mk(f.acct, "acme", f.validName, at(10*day), true)
	f.laterValid = mk(f.acct, "acme", f.validName, at(20*day), true)
	f.otherProfile = mk(f.acct, "internal", f.validName, at(30*day), true)
	f.otherAccount = mk(f.other, "acme", f.validName, at(30*day), true)
	f.pending = mk(f.acct, "acme", f.pendingName, at(30*day), false)
	f.deactivated = mk(f.acct, "acme", f.deactivName, at(30*day), true)
	if _, err := s.DeactivateAuthorization(t.Context(), f.deactivated.ID); err != nil {
		t.Fatalf("DeactivateAuthorization: %v", err)
	}
	return f
}

func testFindValidAuthorizations(t *testing.T, s store.Store) {
	f := newFindFixture(t, s)
	all := []acme.Identifier{f.validName, f.pendingName, f.deactivName, dns("unknown.example")}
	type want map[acme.Identifier][]string // identifier -> acceptable authz IDs
	tests := []struct {
		name      string
		acct      string
		profile   string
		notBefore time.Time
		want      want
	}{
		{"both valid ones qualify", f.acct.ID, "acme", at(time.Hour), want{f.validName: {f.valid.ID, f.laterValid.ID}}},
		{"only the later one lasts", f.acct.ID, "acme", at(15 * day), want{f.validName: {f.laterValid.ID}}},
		{"none lasts", f.acct.ID, "acme", at(25 * day), nil},
		{"other profile", f.acct.ID, "internal", at(time.Hour), want{f.validName: {f.otherProfile.ID}}},
		{"other account", f.other.ID, "acme", at(time.Hour), want{f.validName: {f.otherAccount.ID}}},
		{"unknown account", core.NewID(), "acme", at(time.Hour), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.FindValidAuthorizations(t.Context(), tc.acct, tc.profile, all, tc.notBefore)
			if err != nil {
				t.Fatalf("FindValidAuthorizations: %v", err)
			}
			if len(got) != len(tc.want) {
				t.Errorf("found %d identifiers, want %d: %v", len(got), len(tc.want), got)
			}
			for ident, ids := range tc.want {
				az := got[ident]
				switch {
				case az == nil:
					t.Errorf("%v: none found", ident)
				case !slices.Contains(ids, az.ID):
					t.Errorf("%v: found %s, want one of %v", ident, az.ID, ids)
				case az.Status != core.StatusValid || az.Expires.Before(tc.notBefore) || az.AccountID != tc.acct:
					t.Errorf("%v: found %+v, not a valid authorization of the account lasting past %v", ident, az, tc.notBefore)
				}
			}
		})
	}
}

func testDeactivateAuthorization(t *testing.T, s store.Store) {
	type setup func(t *testing.T) (az *core.Authorization, order string)
	pending := func(t *testing.T) (*core.Authorization, string) {
		o, azs := mustCreateOrder(t, s, orderSpec{account: mustCreateAccount(t, s), idents: []acme.Identifier{dns("a.example"), dns("b.example")}})
		return azs[0], o.ID
	}
	validReady := func(t *testing.T) (*core.Authorization, string) {
		o, azs := readyOrder(t, s, dns("a.example"))
		return getAuthz(t, s, azs[0].ID), o.ID
	}
	validOfValidOrder := func(t *testing.T) (*core.Authorization, string) {
		o := processingOrder(t, s)
		if _, err := s.CompleteFinalize(t.Context(), o.ID, newCert(o)); err != nil {
			t.Fatalf("CompleteFinalize: %v", err)
		}
		return getAuthz(t, s, o.AuthzIDs[0]), o.ID
	}
	tests := []struct {
		name      string
		setup     setup
		wantOrder core.Status
	}{
		{"pending authz, pending order", pending, core.StatusInvalid},
		{"valid authz, ready order", validReady, core.StatusInvalid},
		{"valid authz, valid order", validOfValidOrder, core.StatusValid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			az, orderID := tc.setup(t)
			got, err := s.DeactivateAuthorization(ctx, az.ID)
			if err != nil {
				t.Fatalf("DeactivateAuthorization: %v", err)
			}
			want := *az
			want.Status = core.StatusDeactivated
			sameAs(t, "DeactivateAuthorization result", got, &want, normAuthz)
			sameAs(t, "stored authorization", getAuthz(t, s, az.ID), &want, normAuthz)
			if o := getOrder(t, s, orderID); o.Status != tc.wantOrder {
				t.Errorf("order is %s, want %s", o.Status, tc.wantOrder)
			}
			_, err = s.DeactivateAuthorization(ctx, az.ID)
			wantErr(t, "DeactivateAuthorization(again)", err, store.ErrConflict)
		})
	}
	t.Run("invalid authz", func(t *testing.T) {
		_, azs := mustCreateOrder(t, s, orderSpec{account: mustCreateAccount(t, s), idents: []acme.Identifier{dns("a.example")}})
		failed := fail(t, s, azs[0], at(time.Minute))
		_, err := s.DeactivateAuthorization(t.Context(), failed.ID)
		wantErr(t, "DeactivateAuthorization(invalid)", err, store.ErrConflict)
		sameAs(t, "authorization after refusal", getAuthz(t, s, failed.ID), failed, normAuthz)
	})
}

// fail answers az's first challenge with a failure at when.
func fail(t *testing.T, s store.Store, az *core.Authorization, when time.Time) *core.Authorization {
	t.Helper()
	ch := az.Challenges[0].ID
	if _, err := s.MarkChallengeProcessing(t.Context(), az.ID, ch); err != nil {
		t.Fatalf("MarkChallengeProcessing: %v", err)
	}
	got, err := s.RecordValidation(t.Context(), core.ValidationResult{AuthzID: az.ID, ChallengeID: ch,
		Error: testProblem(az.Identifier), ValidatedAt: when})
	if err != nil {
		t.Fatalf("RecordValidation: %v", err)
	}
	return got
}
