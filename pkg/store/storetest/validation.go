package storetest

import (
	"testing"
	"time"

	"github.com/acmera/acmera/pkg/acme"
	"github.com/acmera/acmera/pkg/core"
	"github.com/acmera/acmera/pkg/store"
)

func testMarkChallengeProcessing(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, azs := mustCreateOrder(t, s, orderSpec{account: mustCreateAccount(t, s), idents: []acme.Identifier{dns("a.example")}})
	az := azs[0]
	ch := az.Challenges[1].ID
	got, err := s.MarkChallengeProcessing(ctx, az.ID, ch)
	if err != nil {
		t.Fatalf("MarkChallengeProcessing: %v", err)
	}
	want := *az
	want.Challenges = append([]core.Challenge(nil), az.Challenges...)
	want.Challenges[1].Status = core.StatusProcessing
	sameAs(t, "MarkChallengeProcessing result", got, &want, normAuthz)
	sameAs(t, "stored authorization", getAuthz(t, s, az.ID), &want, normAuthz)

	// Again: the challenge is no longer pending. The current authorization
	// comes back with the conflict.
	got, err = s.MarkChallengeProcessing(ctx, az.ID, ch)
	wantErr(t, "MarkChallengeProcessing(processing challenge)", err, store.ErrConflict)
	if got == nil {
		t.Errorf("MarkChallengeProcessing conflict returned no authorization")
	} else {
		sameAs(t, "conflict result", got, &want, normAuthz)
	}

	// Once the authorization is valid, its other pending challenges cannot start.
	valid, err := s.RecordValidation(ctx, core.ValidationResult{AuthzID: az.ID, ChallengeID: ch, ValidatedAt: at(time.Minute)})
	if err != nil {
		t.Fatalf("RecordValidation: %v", err)
	}
	got, err = s.MarkChallengeProcessing(ctx, az.ID, az.Challenges[0].ID)
	wantErr(t, "MarkChallengeProcessing(valid authorization)", err, store.ErrConflict)
	if got == nil || got.Status != core.StatusValid {
		t.Errorf("conflict result %+v, want the valid authorization", got)
	}
	sameAs(t, "stored authorization after refusal", getAuthz(t, s, az.ID), valid, normAuthz)
}

func testRecordValidationValid(t *testing.T, s store.Store) {
	ctx := t.Context()
	o, azs := mustCreateOrder(t, s, orderSpec{account: mustCreateAccount(t, s),
		idents: []acme.Identifier{dns("a.example"), dns("b.example")}})
	for i, az := range azs {
		when := at(time.Duration(i+1) * time.Minute)
		got := validate(t, s, az, when)
		want := *az
		want.Status = core.StatusValid
		want.Challenges = append([]core.Challenge(nil), az.Challenges...)
		want.Challenges[0].Status, want.Challenges[0].Validated = core.StatusValid, when
		sameAs(t, "RecordValidation result", got, &want, normAuthz)
		sameAs(t, "stored authorization", getAuthz(t, s, az.ID), &want, normAuthz)

		order := getOrder(t, s, o.ID)
		wantStatus := core.StatusPending
		if i == len(azs)-1 {
			wantStatus = core.StatusReady
		}
		if order.Status != wantStatus {
			t.Errorf("after %d of %d authorizations: order is %s, want %s", i+1, len(azs), order.Status, wantStatus)
		}
		if order.Error != nil {
			t.Errorf("order error %v, want none", order.Error)
		}
	}
	_, err := s.RecordValidation(ctx, core.ValidationResult{AuthzID: azs[0].ID, ChallengeID: azs[0].Challenges[0].ID, ValidatedAt: at(time.Hour)})
	wantErr(t, "RecordValidation(again)", err, store.ErrConflict)
	if got := getAuthz(t, s, azs[0].ID); !sameTime(got.Challenges[0].Validated, at(time.Minute)) {
		t.Errorf("repeated result rewrote Validated to %v", got.Challenges[0].Validated)
	}
}

func testRecordValidationInvalid(t *testing.T, s store.Store) {
	o, azs := mustCreateOrder(t, s, orderSpec{account: mustCreateAccount(t, s),
		idents: []acme.Identifier{dns("a.example"), dns("b.example")}})
	validate(t, s, azs[1], at(time.Minute))
	got := fail(t, s, azs[0], at(2*time.Minute))
	prob := testProblem(azs[0].Identifier)
	want := *azs[0]
	want.Status = core.StatusInvalid
	want.Challenges = append([]core.Challenge(nil), azs[0].Challenges...)
	want.Challenges[0].Status, want.Challenges[0].Error = core.StatusInvalid, prob
	sameAs(t, "RecordValidation result", got, &want, normAuthz)
	sameAs(t, "stored authorization", getAuthz(t, s, want.ID), &want, normAuthz)

	order := getOrder(t, s, o.ID)
	if order.Status != core.StatusInvalid {
		t.Errorf("order is %s, want invalid", order.Status)
	}
	wantOrder := *order
	wantOrder.Error = prob
	sameAs(t, "order error", order, &wantOrder, normOrder)
	if other := getAuthz(t, s, azs[1].ID); other.Status != core.StatusValid {
		t.Errorf("the other authorization is %s, want still valid", other.Status)
	}
}

func testRecordValidationNotProcessing(t *testing.T, s store.Store) {
	o, azs := mustCreateOrder(t, s, orderSpec{account: mustCreateAccount(t, s), idents: []acme.Identifier{dns("a.example")}})
	az := azs[0]
	_, err := s.RecordValidation(t.Context(), core.ValidationResult{AuthzID: az.ID, ChallengeID: az.Challenges[0].ID, ValidatedAt: at(time.Minute)})
	wantErr(t, "RecordValidation(pending challenge)", err, store.ErrConflict)
	sameAs(t, "authorization after refusal", getAuthz(t, s, az.ID), az, normAuthz)
	sameAs(t, "order after refusal", getOrder(t, s, o.ID), o, normOrder)
}

// testRecordValidationExtendsExpiry: a successful result with Expires moves
// the authorization's expiry to the end of its reuse window, and
// FindValidAuthorizations sees the new expiry.
func testRecordValidationExtendsExpiry(t *testing.T, s store.Store) {
	ctx := t.Context()
	acct := mustCreateAccount(t, s)
	ident := dns(core.NewID() + ".extend.example")
	_, azs := mustCreateOrder(t, s, orderSpec{account: acct, idents: []acme.Identifier{ident}, authzExpires: at(time.Hour)})
	az := azs[0]
	ch := az.Challenges[0].ID
	if _, err := s.MarkChallengeProcessing(ctx, az.ID, ch); err != nil {
		t.Fatalf("MarkChallengeProcessing: %v", err)
	}
	want := at(48 * time.Hour)
	got, err := s.RecordValidation(ctx, core.ValidationResult{AuthzID: az.ID, ChallengeID: ch, ValidatedAt: at(time.Minute), Expires: want})
	if err != nil {
		t.Fatalf("RecordValidation: %v", err)
	}
	if !got.Expires.Truncate(time.Millisecond).Equal(want.Truncate(time.Millisecond)) {
		t.Fatalf("returned expiry %v, want %v", got.Expires, want)
	}
	if stored := getAuthz(t, s, az.ID); !stored.Expires.Truncate(time.Millisecond).Equal(want.Truncate(time.Millisecond)) {
		t.Fatalf("stored expiry %v, want %v", stored.Expires, want)
	}
	found, err := s.FindValidAuthorizations(ctx, acct.ID, "acme", []acme.Identifier{ident}, at(24*time.Hour))
	if err != nil {
		t.Fatalf("FindValidAuthorizations: %v", err)
	}
	if found[ident] == nil || found[ident].ID != az.ID {
		t.Fatalf("valid authorization not found past its pending expiry: %v", found)
	}
}
