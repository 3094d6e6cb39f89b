package ra

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/acmera/acmera/pkg/ca"
	"github.com/acmera/acmera/pkg/core"
	"github.com/acmera/acmera/pkg/problem"
)

// A CA that signs in this process finalizes in one store write: the order
// goes from ready to valid with no processing state, no CSR kept and no
// outbox task, and the certificate is the local CA's.
func TestFinalizeAtOnce(t *testing.T) {
	f := newFixture(t, 0)
	f.setCA(inProcessCA{f.ca.CA})
	o := f.readyOrder(t)
	got, err := f.ra.Finalize(t.Context(), f.acct, o.ID, csrDER(t))
	if err != nil || got.Status != core.StatusValid || got.CertificateID != o.ID {
		t.Fatalf("finalize: %+v %v, want valid with certificate %s", got, err, o.ID)
	}
	if len(f.q.tasks) != 0 || len(f.q.cancelled) != 0 {
		t.Errorf("queue: tasks %+v, cancelled %v; want no outbox task at all", f.q.tasks, f.q.cancelled)
	}
	if ids, err := f.store.ProcessingOrders(t.Context()); err != nil || len(ids) != 0 {
		t.Errorf("processing orders %v %v, want none", ids, err)
	}
	stored, _ := f.store.GetOrder(t.Context(), o.ID)
	if stored.Status != core.StatusValid || len(stored.CSR) != 0 {
		t.Errorf("stored order %s with a %d-byte CSR, want valid without", stored.Status, len(stored.CSR))
	}
	cert, err := f.ra.Certificate(t.Context(), f.acct, o.ID)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(cert.Chain)
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if len(leaf.IPAddresses) != 1 || leaf.IPAddresses[0].String() != "127.0.0.1" {
		t.Errorf("leaf names %v, want the order's 127.0.0.1", leaf.IPAddresses)
	}
	// The validity starts at the finalize (backdated a minute), not when
	// the order became ready.
	if d := f.now.Sub(leaf.NotBefore); d < 0 || d > 2*60e9 {
		t.Errorf("notBefore %s, want about a minute before the finalize at %s", leaf.NotBefore, f.now)
	}
	// A second finalize of the valid order is refused.
	_, err = f.ra.Finalize(t.Context(), f.acct, o.ID, csrDER(t))
	var p *problem.Problem
	if !errors.As(err, &p) || p.Type != problem.OrderNotReady {
		t.Errorf("second finalize: %v, want orderNotReady", err)
	}
}

// A death between the signature and the store write leaves the order
// ready with nothing stored and nothing queued; the client's next
// finalize issues.
func TestFinalizeAtOnceDeathBeforeTheWrite(t *testing.T) {
	f := newFixture(t, 0)
	f.setCA(inProcessCA{f.ca.CA})
	o := f.readyOrder(t)
	f.ra.beforeComplete = func(context.Context, string) error { return errors.New("instance killed") }
	if _, err := f.ra.Finalize(t.Context(), f.acct, o.ID, csrDER(t)); err == nil {
		t.Fatal("Finalize survived the injected death")
	}
	stored, _ := f.store.GetOrder(t.Context(), o.ID)
	if stored.Status != core.StatusReady || stored.CertificateID != "" || len(f.q.tasks) != 0 {
		t.Fatalf("after the death: order %s, certificate %q, tasks %+v; want ready, none, none", stored.Status, stored.CertificateID, f.q.tasks)
	}
	if _, err := f.store.GetCertificate(t.Context(), o.ID); err == nil {
		t.Fatal("a certificate was stored before the death")
	}
	f.ra.beforeComplete = nil
	if got, err := f.ra.Finalize(t.Context(), f.acct, o.ID, csrDER(t)); err != nil || got.Status != core.StatusValid {
		t.Fatalf("finalize after the death: %v %v, want valid", got.Status, err)
	}
}

// Every other outcome of an in-process CA is settled the two-step way with
// the answer in hand: the CA is called once, and the order ends as with a
// remote CA (a refusal or a mis-issue invalid, a transient failure
// processing with its outbox task kept).
func TestFinalizeAtOnceOtherOutcomes(t *testing.T) {
	for _, tc := range []struct {
		name       string
		ca         func(f *fixture, rev *revokeLog) ca.Issuer
		status     core.Status
		problem    problem.Type
		revoked    int
		tasksAfter int
	}{
		{"refused", func(f *fixture, _ *revokeLog) ca.Issuer {
			return failingCA{f.ca.CA, &ca.RejectedError{Detail: "key too weak"}}
		}, core.StatusInvalid, problem.BadCSR, 0, 0},
		{"misconfigured", func(f *fixture, _ *revokeLog) ca.Issuer {
			return failingCA{f.ca.CA, fmt.Errorf("%w: no key", ca.ErrMisconfigured)}
		}, core.StatusInvalid, problem.ServerInternal, 0, 0},
		{"misissued", func(f *fixture, rev *revokeLog) ca.Issuer {
			return revokingCA{tamperCA{f.ca.CA, func(r *ca.IssueRequest) { r.DNSNames = append(r.DNSNames, "evil.example") }}, rev}
		}, core.StatusInvalid, problem.CAMisissued, 1, 0},
		{"transient", func(f *fixture, _ *revokeLog) ca.Issuer {
			return failingCA{f.ca.CA, ca.ErrTransient}
		}, core.StatusProcessing, "", 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, 0)
			rev := &revokeLog{}
			calls := 0
			f.setCA(inProcessCA{issueSpy{tc.ca(f, rev), func() { calls++ }}})
			o := f.readyOrder(t)
			got, err := f.ra.Finalize(t.Context(), f.acct, o.ID, csrDER(t))
			if err != nil || got.Status != tc.status {
				t.Fatalf("finalize: %+v %v, want %s", got, err, tc.status)
			}
			if tc.problem != "" && (got.Error == nil || got.Error.Type != tc.problem) {
				t.Errorf("order error %+v, want %s", got.Error, tc.problem)
			}
			if got.Error != nil && strings.Contains(got.Error.Detail, "no key") {
				t.Errorf("the operator's error reached the client: %q", got.Error.Detail)
			}
			if calls != 1 || len(rev.reqs) != tc.revoked || len(f.q.tasks) != tc.tasksAfter {
				t.Errorf("CA calls %d, revocations %d, tasks %+v; want 1, %d, %d", calls, len(rev.reqs), f.q.tasks, tc.revoked, tc.tasksAfter)
			}
			if tc.status == core.StatusProcessing {
				// The outbox task finishes it once the CA answers.
				f.setCA(f.ca)
				if errs := f.runTasks(t); len(errs) != 1 || errs[0] != nil {
					t.Fatalf("outbox task: %v", errs)
				}
				if got, _ := f.store.GetOrder(t.Context(), o.ID); got.Status != core.StatusValid {
					t.Fatalf("after the outbox task: %s, want valid", got.Status)
				}
			}
		})
	}
}
