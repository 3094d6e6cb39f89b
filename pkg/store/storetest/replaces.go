package storetest

import (
	"testing"
	"time"

	"github.com/acmera/acmera/pkg/acme"
	"github.com/acmera/acmera/pkg/core"
	"github.com/acmera/acmera/pkg/store"
)

// issueOrder finalizes a new order of acct for idents that replaces the
// certificate replacesCertID (none when empty) and returns the order.
func issueOrder(t *testing.T, s store.Store, acct *core.Account, replacesCertID string, idents ...acme.Identifier) *core.Order {
	t.Helper()
	ctx := t.Context()
	o, azs := newOrder(orderSpec{account: acct, idents: idents})
	o.Backend = "onprem-vault" // the CA backend travels with the order to its certificate
	if replacesCertID != "" {
		o.Replaces, o.ReplacesCertID = "aki."+replacesCertID, replacesCertID
	}
	if err := s.CreateOrder(ctx, o, azs); err != nil {
		t.Fatalf("CreateOrder: %v", err)
	}
	for _, az := range azs {
		validate(t, s, az, at(time.Minute))
	}
	if got := getOrder(t, s, o.ID); got.Replaces != o.Replaces || got.ReplacesCertID != replacesCertID || got.Backend != o.Backend {
		t.Fatalf("stored order replaces (%q, %q) from backend %q, want (%q, %q) from %q", got.Replaces, got.ReplacesCertID, got.Backend, o.Replaces, replacesCertID, o.Backend)
	}
	if _, err := s.BeginFinalize(ctx, o.ID, []byte("csr-"+o.ID), at(time.Hour)); err != nil {
		t.Fatalf("BeginFinalize: %v", err)
	}
	done, err := s.CompleteFinalize(ctx, o.ID, newCert(o))
	if err != nil {
		t.Fatalf("CompleteFinalize: %v", err)
	}
	if done.Replaces != o.Replaces || done.ReplacesCertID != replacesCertID {
		t.Errorf("CompleteFinalize result replaces (%q, %q), want (%q, %q)", done.Replaces, done.ReplacesCertID, o.Replaces, replacesCertID)
	}
	if c, err := s.GetCertificate(ctx, o.ID); err != nil || c.Backend != o.Backend {
		t.Fatalf("certificate backend %q (%v), want %q", c.Backend, err, o.Backend)
	}
	return o
}

func replacedBy(t *testing.T, s store.Store, certID string) string {
	t.Helper()
	c, err := s.GetCertificate(t.Context(), certID)
	if err != nil {
		t.Fatalf("GetCertificate(%s): %v", certID, err)
	}
	return c.ReplacedBy
}

// testReplaces checks the ARI replacement record (RFC 9773 §5): the first
// finalized order that names a certificate in replaces marks it replaced,
// later ones do not overwrite the mark, pending ones do not set it, and a
// replaced certificate that is gone does not block finalization.
func testReplaces(t *testing.T, s store.Store) {
	ctx := t.Context()
	acct := mustCreateAccount(t, s)
	old := issueOrder(t, s, acct, "", dns("a.example"))
	if by := replacedBy(t, s, old.ID); by != "" {
		t.Fatalf("a new certificate is replaced by %q, want nobody", by)
	}

	// A pending replacement does not mark the certificate.
	pending, _ := newOrder(orderSpec{account: acct, idents: []acme.Identifier{dns("a.example")}})
	pending.Replaces, pending.ReplacesCertID = "aki.pending", old.ID
	if err := s.CreateOrder(ctx, pending, nil); err != nil {
		t.Fatalf("CreateOrder: %v", err)
	}
	if by := replacedBy(t, s, old.ID); by != "" {
		t.Fatalf("after a pending replacement order the certificate is replaced by %q, want nobody", by)
	}

	first := issueOrder(t, s, acct, old.ID, dns("a.example"))
	if by := replacedBy(t, s, old.ID); by != first.ID {
		t.Fatalf("after the first replacement the certificate is replaced by %q, want %q", by, first.ID)
	}
	second := issueOrder(t, s, acct, old.ID, dns("a.example"))
	if by := replacedBy(t, s, old.ID); by != first.ID {
		t.Errorf("after a second replacement (%s) the certificate is replaced by %q, want the first, %q", second.ID, by, first.ID)
	}
	if by := replacedBy(t, s, first.ID); by != "" {
		t.Errorf("the replacement certificate is itself replaced by %q, want nobody", by)
	}
	// The mark survives other transitions of the certificate.
	if _, err := s.RevokeCertificate(ctx, old.ID, 4, at(2*time.Hour)); err != nil {
		t.Fatalf("RevokeCertificate: %v", err)
	}
	if by := replacedBy(t, s, old.ID); by != first.ID {
		t.Errorf("after revocation the certificate is replaced by %q, want %q", by, first.ID)
	}
	// Naming a certificate that does not exist (expired and deleted) does
	// not stop the order's finalization.
	issueOrder(t, s, acct, core.NewID(), dns("a.example"))
}

// testRecordCARequest checks that a processing order keeps the CA's name
// for the certificate being issued (ca.IssueRequest.Submitted), and that
// only a processing order takes one.
func testRecordCARequest(t *testing.T, s store.Store) {
	ctx := t.Context()
	o := processingOrder(t, s)
	const arn = "arn:aws:acm-pca:eu-west-1:111122223333:certificate-authority/ca/certificate/0123"
	if err := s.RecordCARequest(ctx, o.ID, arn); err != nil {
		t.Fatalf("RecordCARequest: %v", err)
	}
	got := getOrder(t, s, o.ID)
	if got.CAResource != arn || got.Status != core.StatusProcessing || string(got.CSR) != string(o.CSR) {
		t.Fatalf("order after RecordCARequest: %s, resource %q, CSR kept %v", got.Status, got.CAResource, string(got.CSR) == string(o.CSR))
	}
	if _, err := s.CompleteFinalize(ctx, o.ID, newCert(o)); err != nil {
		t.Fatalf("CompleteFinalize: %v", err)
	}
	if got := getOrder(t, s, o.ID); got.CAResource != arn {
		t.Errorf("CompleteFinalize dropped the CA resource: %q", got.CAResource)
	}
	wantErr(t, "RecordCARequest(valid order)", s.RecordCARequest(ctx, o.ID, "other"), store.ErrConflict)
	ready, _ := readyOrder(t, s, dns("a.example"))
	wantErr(t, "RecordCARequest(ready order)", s.RecordCARequest(ctx, ready.ID, arn), store.ErrConflict)
	if got := getOrder(t, s, ready.ID); got.CAResource != "" {
		t.Errorf("a refused RecordCARequest wrote %q", got.CAResource)
	}
}
