package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/acmera/acmera/pkg/acme"
	"github.com/acmera/acmera/pkg/core"
	"github.com/acmera/acmera/pkg/store"
)

func testBeginFinalize(t *testing.T, s store.Store) {
	ctx := t.Context()
	o, _ := readyOrder(t, s, dns("a.example"), dns("b.example"))
	ready := getOrder(t, s, o.ID)

	// At or after the order's expiry it is no longer ready.
	got, err := s.BeginFinalize(ctx, o.ID, []byte("csr"), o.Expires)
	wantErr(t, "BeginFinalize(expired order)", err, store.ErrConflict)
	if got == nil || got.Status != core.StatusReady {
		t.Errorf("conflict result %+v, want the current (ready) order", got)
	}
	sameAs(t, "order after refusal", getOrder(t, s, o.ID), ready, normOrder)

	csr := []byte{0x30, 0x82, 0x02, 0x01, 0x05}
	now := at(time.Hour)
	got, err = s.BeginFinalize(ctx, o.ID, csr, now)
	if err != nil {
		t.Fatalf("BeginFinalize: %v", err)
	}
	want := *ready
	want.Status, want.CSR = core.StatusProcessing, csr
	got.UpdatedAt, want.UpdatedAt = time.Time{}, time.Time{} // not part of the contract
	sameAs(t, "BeginFinalize result", got, &want, normOrder)
	stored := getOrder(t, s, o.ID)
	stored.UpdatedAt = time.Time{}
	sameAs(t, "stored order", stored, &want, normOrder)

	got, err = s.BeginFinalize(ctx, o.ID, []byte("other csr"), now)
	wantErr(t, "BeginFinalize(processing order)", err, store.ErrConflict)
	if got == nil || got.Status != core.StatusProcessing || string(got.CSR) != string(csr) {
		t.Errorf("conflict result %+v, want the processing order with the first CSR", got)
	}

	pending, _ := mustCreateOrder(t, s, orderSpec{account: mustCreateAccount(t, s), idents: []acme.Identifier{dns("a.example")}})
	_, err = s.BeginFinalize(ctx, pending.ID, csr, now)
	wantErr(t, "BeginFinalize(pending order)", err, store.ErrConflict)
	sameAs(t, "pending order after refusal", getOrder(t, s, pending.ID), pending, normOrder)
}

// testBeginFinalizeStaleAuthz checks that BeginFinalize re-checks every
// authorization of a ready order: expired, or deactivated through another
// order that shares it.
func testBeginFinalizeStaleAuthz(t *testing.T, s store.Store) {
	ctx := t.Context()
	acct := mustCreateAccount(t, s)
	t.Run("expired", func(t *testing.T) {
		o, azs := mustCreateOrder(t, s, orderSpec{account: acct, idents: []acme.Identifier{dns("a.example")}, authzExpires: at(2 * time.Hour)})
		validate(t, s, azs[0], at(time.Minute))
		_, err := s.BeginFinalize(ctx, o.ID, []byte("csr"), at(2*time.Hour))
		wantErr(t, "BeginFinalize(authorization expired)", err, store.ErrConflict)
		if got := getOrder(t, s, o.ID); got.Status != core.StatusReady {
			t.Fatalf("order is %s after refusal, want ready", got.Status)
		}
		if _, err := s.BeginFinalize(ctx, o.ID, []byte("csr"), at(time.Hour)); err != nil {
			t.Errorf("BeginFinalize before the authorization expires: %v", err)
		}
	})
	t.Run("deactivated", func(t *testing.T) {
		first, azs := mustCreateOrder(t, s, orderSpec{account: acct, idents: []acme.Identifier{dns("a.example")}})
		shared := validate(t, s, azs[0], at(time.Minute))
		// A second order made only of reused valid authorizations starts
		// ready (RFC 8555 §7.1.6), as the RA creates it.
		second, _ := newOrder(orderSpec{account: acct, reuse: []string{shared.ID},
			reusedIdents: []acme.Identifier{dns("a.example")}, created: at(time.Hour)})
		second.Status = core.StatusReady
		if err := s.CreateOrder(ctx, second, nil); err != nil {
			t.Fatalf("CreateOrder: %v", err)
		}
		// Deactivating it invalidates its own (first) order only.
		if _, err := s.DeactivateAuthorization(ctx, shared.ID); err != nil {
			t.Fatalf("DeactivateAuthorization: %v", err)
		}
		if got := getOrder(t, s, first.ID); got.Status != core.StatusInvalid {
			t.Errorf("first order is %s, want invalid", got.Status)
		}
		if got := getOrder(t, s, second.ID); got.Status != core.StatusReady {
			t.Fatalf("second order is %s, want still ready", got.Status)
		}
		_, err := s.BeginFinalize(ctx, second.ID, []byte("csr"), at(2*time.Hour))
		wantErr(t, "BeginFinalize(reused authorization deactivated)", err, store.ErrConflict)
		sameAs(t, "order after refusal", getOrder(t, s, second.ID), second, normOrder)
	})
}

func testCompleteFinalize(t *testing.T, s store.Store) {
	ctx := t.Context()
	o := processingOrder(t, s)
	cert := newCert(o)
	cert.ID = core.NewID() // the store names the certificate after the order
	got, err := s.CompleteFinalize(ctx, o.ID, cert)
	if err != nil {
		t.Fatalf("CompleteFinalize: %v", err)
	}
	if got.Status != core.StatusValid || got.CertificateID != o.ID {
		t.Errorf("order is %s with certificate %q, want valid with %q", got.Status, got.CertificateID, o.ID)
	}
	if stored := getOrder(t, s, o.ID); stored.Status != core.StatusValid || stored.CertificateID != o.ID {
		t.Errorf("stored order is %s with certificate %q, want valid with %q", stored.Status, stored.CertificateID, o.ID)
	}
	want := *cert
	want.ID = o.ID
	byID, err := s.GetCertificate(ctx, o.ID)
	if err != nil {
		t.Fatalf("GetCertificate: %v", err)
	}
	sameAs(t, "GetCertificate", byID, &want, normCert)
	bySerial, err := s.GetCertificateBySerial(ctx, cert.Serial)
	if err != nil {
		t.Fatalf("GetCertificateBySerial: %v", err)
	}
	sameAs(t, "GetCertificateBySerial", bySerial, &want, normCert)

	refused := map[string]func() error{
		"CompleteFinalize(valid order)": func() error { _, err := s.CompleteFinalize(ctx, o.ID, newCert(o)); return err },
		"FailFinalize(valid order)": func() error {
			_, err := s.FailFinalize(ctx, o.ID, testProblem(dns("a.example")))
			return err
		},
		"BeginFinalize(valid order)": func() error { _, err := s.BeginFinalize(ctx, o.ID, []byte("csr"), at(time.Hour)); return err },
	}
	for name, call := range refused {
		wantErr(t, name, call(), store.ErrConflict)
	}
	if stored := getOrder(t, s, o.ID); stored.Status != core.StatusValid || stored.Error != nil {
		t.Errorf("order after refusals: %s, error %v; want valid, no error", stored.Status, stored.Error)
	}

	ready, _ := readyOrder(t, s, dns("a.example"))
	_, err = s.CompleteFinalize(ctx, ready.ID, newCert(ready))
	wantErr(t, "CompleteFinalize(ready order)", err, store.ErrConflict)
	_, err = s.GetCertificate(ctx, ready.ID)
	wantErr(t, "GetCertificate(refused)", err, store.ErrNotFound)
}

func testFailFinalize(t *testing.T, s store.Store) {
	ctx := t.Context()
	o := processingOrder(t, s)
	prob := testProblem(dns("www.example.com"))
	got, err := s.FailFinalize(ctx, o.ID, prob)
	if err != nil {
		t.Fatalf("FailFinalize: %v", err)
	}
	want := *o
	want.Status, want.Error = core.StatusInvalid, prob
	got.UpdatedAt, want.UpdatedAt = time.Time{}, time.Time{}
	sameAs(t, "FailFinalize result", got, &want, normOrder)
	stored := getOrder(t, s, o.ID)
	stored.UpdatedAt = time.Time{}
	sameAs(t, "stored order", stored, &want, normOrder)

	_, err = s.FailFinalize(ctx, o.ID, prob)
	wantErr(t, "FailFinalize(invalid order)", err, store.ErrConflict)
	_, err = s.CompleteFinalize(ctx, o.ID, newCert(o))
	wantErr(t, "CompleteFinalize(invalid order)", err, store.ErrConflict)
	_, err = s.BeginFinalize(ctx, o.ID, []byte("csr"), at(time.Hour))
	wantErr(t, "BeginFinalize(invalid order)", err, store.ErrConflict)

	ready, _ := readyOrder(t, s, dns("a.example"))
	_, err = s.FailFinalize(ctx, ready.ID, prob)
	wantErr(t, "FailFinalize(ready order)", err, store.ErrConflict)
	if stored := getOrder(t, s, ready.ID); stored.Status != core.StatusReady {
		t.Errorf("ready order is %s after refusal", stored.Status)
	}
}

func testRevokeCertificate(t *testing.T, s store.Store) {
	ctx := t.Context()
	o := processingOrder(t, s)
	cert := newCert(o)
	if _, err := s.CompleteFinalize(ctx, o.ID, cert); err != nil {
		t.Fatalf("CompleteFinalize: %v", err)
	}
	when := at(5 * time.Hour)
	got, err := s.RevokeCertificate(ctx, o.ID, 4, when) // RFC 5280 superseded
	if err != nil {
		t.Fatalf("RevokeCertificate: %v", err)
	}
	want := *cert
	want.Status, want.RevokedAt, want.RevocationReason = core.StatusRevoked, when, 4
	sameAs(t, "RevokeCertificate result", got, &want, normCert)
	stored, err := s.GetCertificateBySerial(ctx, cert.Serial)
	if err != nil {
		t.Fatalf("GetCertificateBySerial: %v", err)
	}
	sameAs(t, "stored certificate", stored, &want, normCert)

	_, err = s.RevokeCertificate(ctx, o.ID, 1, at(6*time.Hour))
	wantErr(t, "RevokeCertificate(again)", err, store.ErrConflict)
	stored, err = s.GetCertificate(ctx, o.ID)
	if err != nil {
		t.Fatalf("GetCertificate: %v", err)
	}
	sameAs(t, "certificate after refusal", stored, &want, normCert)
}

// testFinalizeAtOnce checks store.AtOnceFinalizer, where the store has it:
// BeginFinalize's refusals with nothing written, CompleteFinalize's
// outcome without a processing state, the serial check and the ARI mark.
func testFinalizeAtOnce(t *testing.T, s store.Store) {
	f, ok := s.(store.AtOnceFinalizer)
	if !ok {
		t.Skip("the store is not a store.AtOnceFinalizer")
	}
	ctx := t.Context()
	o, _ := readyOrder(t, s, dns("a.example"), dns("b.example"))
	ready := getOrder(t, s, o.ID)
	refusedWithNothingWritten := func(what string, o *core.Order, before *core.Order, now time.Time, cert *core.Certificate) {
		t.Helper()
		got, err := f.FinalizeAtOnce(ctx, o.ID, now, cert)
		wantErr(t, what, err, store.ErrConflict)
		if got == nil || got.Status != before.Status {
			t.Errorf("%s: result %+v, want the current (%s) order", what, got, before.Status)
		}
		sameAs(t, what+": order after refusal", getOrder(t, s, o.ID), before, normOrder)
		if before.Status != core.StatusValid {
			_, err = s.GetCertificate(ctx, o.ID)
			wantErr(t, what+": GetCertificate", err, store.ErrNotFound)
		}
	}
	refusedWithNothingWritten("FinalizeAtOnce(expired order)", o, ready, o.Expires, newCert(o))

	// A serial that is another certificate's.
	other := issueOrder(t, s, mustCreateAccount(t, s), "", dns("c.example"))
	taken := newCert(o)
	taken.Serial = newCert(other).Serial
	refusedWithNothingWritten("FinalizeAtOnce(serial taken)", o, ready, at(time.Hour), taken)

	cert := newCert(o)
	cert.ID = core.NewID() // the store names the certificate after the order
	got, err := f.FinalizeAtOnce(ctx, o.ID, at(time.Hour), cert)
	if err != nil {
		t.Fatalf("FinalizeAtOnce: %v", err)
	}
	want := *ready
	want.Status, want.CertificateID = core.StatusValid, o.ID
	got.UpdatedAt, want.UpdatedAt = time.Time{}, time.Time{} // not part of the contract
	sameAs(t, "FinalizeAtOnce result", got, &want, normOrder)
	stored := getOrder(t, s, o.ID)
	if len(stored.CSR) != 0 {
		t.Errorf("the valid order keeps a CSR of %d bytes", len(stored.CSR))
	}
	stored.UpdatedAt = time.Time{}
	sameAs(t, "stored order", stored, &want, normOrder)
	wantCert := *cert
	wantCert.ID = o.ID
	byID, err := s.GetCertificate(ctx, o.ID)
	if err != nil {
		t.Fatalf("GetCertificate: %v", err)
	}
	sameAs(t, "GetCertificate", byID, &wantCert, normCert)
	bySerial, err := s.GetCertificateBySerial(ctx, cert.Serial)
	if err != nil {
		t.Fatalf("GetCertificateBySerial: %v", err)
	}
	sameAs(t, "GetCertificateBySerial", bySerial, &wantCert, normCert)
	if rec, ok := s.(store.Recoverer); ok {
		ids, err := rec.ProcessingOrders(ctx)
		if err != nil {
			t.Fatalf("ProcessingOrders: %v", err)
		}
		if slices.Contains(ids, o.ID) {
			t.Errorf("an order finalized at once is listed as processing")
		}
	}
	refusedWithNothingWritten("FinalizeAtOnce(valid order)", o, getOrder(t, s, o.ID), at(time.Hour), newCert(o))
	sameAs(t, "certificate after a second FinalizeAtOnce", mustGetCert(t, s, o.ID), &wantCert, normCert)

	pending, _ := mustCreateOrder(t, s, orderSpec{account: mustCreateAccount(t, s), idents: []acme.Identifier{dns("a.example")}})
	refusedWithNothingWritten("FinalizeAtOnce(pending order)", pending, pending, at(time.Hour), newCert(pending))

	// An authorization that expired since the order became ready.
	short, shortAzs := mustCreateOrder(t, s, orderSpec{account: mustCreateAccount(t, s), idents: []acme.Identifier{dns("a.example")}, authzExpires: at(2 * time.Hour)})
	validate(t, s, shortAzs[0], at(time.Minute))
	refusedWithNothingWritten("FinalizeAtOnce(authorization expired)", short, getOrder(t, s, short.ID), at(2*time.Hour), newCert(short))

	// The first replacement finalized marks the certificate it names.
	acct := mustCreateAccount(t, s)
	old := issueOrder(t, s, acct, "", dns("d.example"))
	repl, replAzs := newOrder(orderSpec{account: acct, idents: []acme.Identifier{dns("d.example")}})
	repl.Replaces, repl.ReplacesCertID = "aki.serial", old.ID
	if err := s.CreateOrder(ctx, repl, replAzs); err != nil {
		t.Fatalf("CreateOrder: %v", err)
	}
	validate(t, s, replAzs[0], at(time.Minute))
	if _, err := f.FinalizeAtOnce(ctx, repl.ID, at(time.Hour), newCert(repl)); err != nil {
		t.Fatalf("FinalizeAtOnce(replacement): %v", err)
	}
	if by := replacedBy(t, s, old.ID); by != repl.ID {
		t.Errorf("after the replacement the certificate is replaced by %q, want %q", by, repl.ID)
	}
}

func mustGetCert(t *testing.T, s store.Store, id string) *core.Certificate {
	t.Helper()
	c, err := s.GetCertificate(t.Context(), id)
	if err != nil {
		t.Fatalf("GetCertificate(%s): %v", id, err)
	}
	return c
}
