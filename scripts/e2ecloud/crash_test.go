package e2ecloud

import (
	"context"
	"crypto/x509"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/acme"

	"github.com/acmera/acmera/scripts/internal/e2eutil"
)

const (
	crashOrders = 20
	// settleWait bounds how long an order may take to end after its client
	// gave up or finished: more than the RA's 30 s re-queue of an order
	// left processing by a killed finalize.
	settleWait = 60 * time.Second
)

// crashRun is one client's order in the crash test.
type crashRun struct {
	cl       *acme.Client
	name     string
	orderURL string
	leaf     *x509.Certificate
	err      error
}

// TestCrashSafety runs a batch of orders concurrently (x/crypto/acme,
// http-01) and kill -9s the Validate process, then the ACME process, in
// the middle, restarting each on the same port at once. Clients re-send
// requests whose connection failed. Every order must end valid (with a
// certificate that verifies) or invalid with a problem; none may stay
// pending or processing; and the CAS fake must have minted exactly one
// certificate per valid order.
func TestCrashSafety(t *testing.T) {
	t.Parallel()
	needEmulator(t)
	gcp := startFakeGCP(t)
	s := newStack(t, gcp.gcpEndpoints)
	roots := gcp.Roots(t)
	ctx := e2eutil.TestContext(t, 150*time.Second)
	var retries atomic.Int64
	runs := make([]*crashRun, crashOrders)
	var wg sync.WaitGroup
	for i := range runs {
		r := &crashRun{name: fmt.Sprintf("crash-%02d.example.test", i)}
		runs[i] = r
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.err = s.runCrashOrder(ctx, r, roots, &retries)
		}()
	}
	killMidway(t, ctx, gcp, s)
	wg.Wait()
	t.Logf("clients re-sent %d requests after connection failures", retries.Load())
	valid := settleOrders(t, ctx, runs)
	st := gcp.Stats(t)
	t.Logf("%d of %d orders valid; fakegcp stats %+v", valid, len(runs), st)
	if st.Minted != valid {
		t.Errorf("CAS minted %d certificates for %d valid orders: want exactly one each", st.Minted, valid)
	}
	serials := map[string]string{}
	for _, r := range runs {
		if r.leaf == nil {
			continue
		}
		if prev, dup := serials[r.leaf.SerialNumber.String()]; dup {
			t.Errorf("%s and %s got the same certificate serial %s", prev, r.name, r.leaf.SerialNumber)
		}
		serials[r.leaf.SerialNumber.String()] = r.name
	}
}

// runCrashOrder registers an account and runs one order to the end.
func (s *stack) runCrashOrder(ctx context.Context, r *crashRun, roots *x509.CertPool, retries *atomic.Int64) error {
	cl, err := newClient(s.DirURL, retries)
	if err != nil {
		return err
	}
	r.cl = cl
	if err := register(ctx, cl); err != nil {
		return err
	}
	o, _, err := s.authorize(ctx, cl, []string{r.name}, "http-01")
	if o != nil {
		r.orderURL = o.URI
	}
	if err != nil {
		return err
	}
	chain, key, err := finalize(ctx, cl, o, []string{r.name})
	if err != nil {
		return err
	}
	r.leaf, err = e2eutil.VerifyChain(roots, chain, acme.DomainIDs(r.name), key.Public())
	return err
}

// killMidway kill -9s and restarts the Validate process once some tasks
// were delivered, then the ACME process once some certificates were
// minted (so that validations, finalizes and polls are in flight).
func killMidway(t *testing.T, ctx context.Context, gcp *fakeGCP, s *stack) {
	t.Helper()
	waitStats(t, ctx, gcp, "5 tasks delivered", func(st gcpStats) bool { return st.Tasks.Deliveries >= 5 })
	s.Validate.Kill()
	s.Validate.Start()
	waitStats(t, ctx, gcp, "3 certificates minted", func(st gcpStats) bool { return st.Minted >= 3 })
	if st := gcp.Stats(t); st.Minted >= crashOrders {
		t.Logf("warning: every order was issued before the first ACME kill; the kill proves little")
	}
	s.ACME.Kill()
	s.ACME.Start()
	waitStats(t, ctx, gcp, "10 certificates minted", func(st gcpStats) bool { return st.Minted >= 10 })
	s.ACME.Kill()
	s.Validate.Kill()
	s.ACME.Start()
	s.Validate.Start()
	t.Logf("killed Validate twice and ACME twice; stats after the last restart: %+v", gcp.Stats(t))
}

// waitStats polls fakegcp's stats until ok, bounded by ctx.
func waitStats(t *testing.T, ctx context.Context, gcp *fakeGCP, what string, ok func(gcpStats) bool) {
	t.Helper()
	for {
		st := gcp.Stats(t)
		if ok(st) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v (stats %+v)", what, ctx.Err(), st)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// settleOrders polls every order until it is valid or invalid, bounded by
// settleWait, and reports the outcome. It returns how many are valid with
// a verified certificate.
func settleOrders(t *testing.T, ctx context.Context, runs []*crashRun) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, settleWait)
	defer cancel()
	valid := 0
	for _, r := range runs {
		if r.orderURL == "" {
			t.Errorf("%s: no order was created: %v", r.name, r.err)
			continue
		}
		o, err := pollFinal(ctx, r.cl, r.orderURL)
		switch {
		case err != nil:
			t.Errorf("%s: order %s did not end within %s: %v (client: %v)", r.name, r.orderURL, settleWait, err, r.err)
		case o.Status == acme.StatusValid:
			if r.leaf == nil {
				t.Errorf("%s: order valid but the client got no verified certificate: %v", r.name, r.err)
				continue
			}
			valid++
		case o.Status == acme.StatusInvalid && o.Error == nil:
			t.Errorf("%s: order invalid without a problem", r.name)
		default:
			t.Logf("%s: order invalid: %v (client: %v)", r.name, o.Error, r.err)
		}
	}
	return valid
}

// pollFinal fetches an order until its status is valid or invalid.
func pollFinal(ctx context.Context, cl *acme.Client, url string) (*acme.Order, error) {
	for {
		o, err := cl.GetOrder(ctx, url)
		if err == nil && (o.Status == acme.StatusValid || o.Status == acme.StatusInvalid) {
			return o, nil
		}
		last := err
		if err == nil {
			last = fmt.Errorf("status %s", o.Status)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w (last: %v)", ctx.Err(), last)
		case <-time.After(500 * time.Millisecond):
		}
	}
}
