package ra

import (
	"testing"
	"time"

	"github.com/acmera/acmera/pkg/acme"
	"github.com/acmera/acmera/pkg/ca"
	"github.com/acmera/acmera/pkg/core"
	"github.com/acmera/acmera/pkg/problem"
	"github.com/acmera/acmera/pkg/queue"
)

// An order left processing with no task (the instance died between
// BeginFinalize and the outbox enqueue) is finalized by the reconciler
// once it is old enough, with the order's one request ID.
func TestReconcileFinishesAnOrderWhoseTaskWasLost(t *testing.T) {
	f := newFixture(t, 0)
	o := f.readyOrder(t)
	if _, err := f.store.BeginFinalize(t.Context(), o.ID, csrDER(t), f.now); err != nil {
		t.Fatal(err)
	}
	rec := f.ra.NewReconciler(f.store, time.Minute)
	st, err := rec.Pass(t.Context())
	if err != nil || st.Orders != 1 || st.Finalized != 0 {
		t.Fatalf("young order: %+v %v, want listed and left to its task", st, err)
	}
	f.now = f.now.Add(2 * time.Minute)
	if st, err = rec.Pass(t.Context()); err != nil || st.Finalized != 1 || st.Failed != 0 {
		t.Fatalf("old order: %+v %v, want finalized", st, err)
	}
	got, _ := f.ra.Order(t.Context(), f.acct, o.ID)
	if got.Status != core.StatusValid || got.CertificateID == "" {
		t.Fatalf("order %s, want valid with a certificate", got.Status)
	}
	if n := f.ca.calls[ca.RequestID(o.ID)]; n != 1 || len(f.ca.calls) != 1 {
		t.Fatalf("CA calls %v, want one with the order's request ID", f.ca.calls)
	}
	if st, _ = rec.Pass(t.Context()); st.Orders != 0 || st.Finalized != 0 {
		t.Fatalf("after: %+v, want nothing left", st)
	}
}

// A challenge left processing with no task is validated by the second
// pass that finds it, never by the first.
func TestReconcileValidatesAChallengeWhoseTaskWasLost(t *testing.T) {
	f := newFixture(t, 0)
	o, err := f.ra.NewOrder(t.Context(), f.acct, NewOrderRequest{Profile: "acme", Identifiers: []acme.Identifier{{Type: "ip", Value: "127.0.0.1"}}})
	if err != nil {
		t.Fatal(err)
	}
	az, _ := f.store.GetAuthorization(t.Context(), o.AuthzIDs[0])
	if _, err := f.store.MarkChallengeProcessing(t.Context(), az.ID, az.Challenges[0].ID); err != nil {
		t.Fatal(err)
	}
	rec := f.ra.NewReconciler(f.store, 0)
	if st, err := rec.Pass(t.Context()); err != nil || st.Challenges != 1 || st.Validated != 0 || f.va.n != 0 {
		t.Fatalf("first pass: %+v %v (%d validations), want listed only", st, err, f.va.n)
	}
	if st, err := rec.Pass(t.Context()); err != nil || st.Validated != 1 || f.va.n != 1 {
		t.Fatalf("second pass: %+v %v (%d validations), want one validation", st, err, f.va.n)
	}
	if got, _ := f.ra.Order(t.Context(), f.acct, o.ID); got.Status != core.StatusReady {
		t.Fatalf("order %s, want ready", got.Status)
	}
	if st, _ := rec.Pass(t.Context()); st.Challenges != 0 || f.va.n != 1 {
		t.Fatalf("third pass: %+v (%d validations), want nothing left", st, f.va.n)
	}
}

// Past the finalize timeout with the CA down, the reconciler keeps the
// order processing while the CA cannot say whether it issued, and ends it
// invalid once the CA says it never did.
func TestReconcileFailsAnOrderOnlyWhenTheCANeverIssued(t *testing.T) {
	f := newFixture(t, 1000)
	o := f.readyOrder(t)
	if _, err := f.store.BeginFinalize(t.Context(), o.ID, csrDER(t), f.now); err != nil {
		t.Fatal(err)
	}
	f.now = f.now.Add(11 * time.Minute)
	rec := f.ra.NewReconciler(f.store, time.Minute)
	if st, err := rec.Pass(t.Context()); err != nil || st.Finalized != 1 || st.Failed != 1 {
		t.Fatalf("CA down: %+v %v, want one attempt still failing", st, err)
	}
	if got, _ := f.ra.Order(t.Context(), f.acct, o.ID); got.Status != core.StatusProcessing {
		t.Fatalf("order %s, want processing while the CA may still issue", got.Status)
	}
	f.setCA(notIssuedCA{f.ca})
	if st, err := rec.Pass(t.Context()); err != nil || st.Finalized != 1 || st.Failed != 0 {
		t.Fatalf("CA says not issued: %+v %v", st, err)
	}
	got, _ := f.ra.Order(t.Context(), f.acct, o.ID)
	if got.Status != core.StatusInvalid || got.Error == nil || got.Error.Type != problem.ServerInternal {
		t.Fatalf("order %+v, want invalid with a serverInternal problem", got)
	}
}

// The reconcile task (what Cloud Scheduler posts to the validator) runs
// one pass of a reconciler the RA keeps between tasks: a challenge left
// processing is validated by the second task, as by the second pass.
func TestReconcileTask(t *testing.T) {
	f := newFixture(t, 0)
	o, err := f.ra.NewOrder(t.Context(), f.acct, NewOrderRequest{Profile: "acme", Identifiers: []acme.Identifier{{Type: "ip", Value: "127.0.0.1"}}})
	if err != nil {
		t.Fatal(err)
	}
	az, _ := f.store.GetAuthorization(t.Context(), o.AuthzIDs[0])
	if _, err := f.store.MarkChallengeProcessing(t.Context(), az.ID, az.Challenges[0].ID); err != nil {
		t.Fatal(err)
	}
	task := queue.Task{Kind: queue.KindReconcile}
	for i := range 2 {
		if err := f.ra.HandleTask(t.Context(), task); err != nil {
			t.Fatalf("reconcile task %d: %v", i+1, err)
		}
	}
	if got, _ := f.ra.Order(t.Context(), f.acct, o.ID); got.Status != core.StatusReady || f.va.n != 1 {
		t.Fatalf("after two reconcile tasks: order %s, %d validations; want ready after one", got.Status, f.va.n)
	}
	if err := f.ra.HandleTask(t.Context(), queue.Task{Kind: queue.KindReconcile, OrderID: o.ID}); err == nil {
		t.Error("a reconcile task naming an order was accepted")
	}
}
