package e2ecloud

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/acme"

	"github.com/acmera/acmera/pkg/core"
	"github.com/acmera/acmera/pkg/store"
	"github.com/acmera/acmera/pkg/store/firestore"
	"github.com/acmera/acmera/scripts/internal/e2eutil"
)

// Sizes of TestOrdersThroughFaults: ACMERA_CHAOS_ORDERS orders (default
// chaosOrders; 1000 for the README's table) from chaosAccounts accounts,
// chaosParallel at a time.
const (
	chaosOrders   = 200
	chaosAccounts = 50
	chaosParallel = 16
)

// chaosOrder is one order of the run, as its client saw it.
type chaosOrder struct {
	acct     *chaosAccount
	name     string
	orderURL string
	leaf     *x509.Certificate
	err      error
}

// chaosAccount is one account and the client that signs for it.
type chaosAccount struct {
	cl  *acme.Client
	url string
}

// TestOrdersThroughFaults runs ACMERA_CHAOS_ORDERS orders (x/crypto/acme,
// http-01) from 50 accounts through the Cloud stack while CAS fails on a
// schedule (Unavailable, DeadlineExceeded, ResourceExhausted, and answers
// held past the CAS client's deadline), Cloud
// Tasks delivers tasks twice, at once and late, and the ACME and Validate
// processes are each killed (kill -9) and restarted three times. Then it
// reads Firestore and the fakes' counters and checks, printing a table:
// every order valid, or invalid with a problem, none pending or
// processing; one certificate per valid order and none for another
// (CAS minted == certificates stored == valid orders); every account and
// order the clients created still there; no nonce accepted twice. The
// table also goes to $ACMERA_CHAOS_OUT when set.
func TestOrdersThroughFaults(t *testing.T) {
	t.Parallel()
	needEmulator(t)
	n := chaosOrders
	if v := os.Getenv("ACMERA_CHAOS_ORDERS"); v != "" {
		var err error
		n, err = strconv.Atoi(v)
		mustf(t, err, "ACMERA_CHAOS_ORDERS")
		n = min(max(n, chaosAccounts), 5000)
	}
	gcp := startFakeGCP(t)
	// The reconciler every 2 s: stuck work is finished within the test.
	s := newStack(t, gcp.gcpEndpoints, "ACMERA_RECONCILE_INTERVAL=2s", "ACMERA_LOG_LEVEL=info")
	roots := gcp.Roots(t)
	ctx := e2eutil.TestContext(t, 4*time.Minute+time.Duration(n)*150*time.Millisecond)
	start := time.Now()
	var retries atomic.Int64
	nonces := &nonceLog{accepted: map[string]int{}}
	accts := make([]*chaosAccount, chaosAccounts)
	for i := range accts {
		cl, err := newClient(s.DirURL, &retries)
		mustf(t, err, "newClient")
		rt := cl.HTTPClient.Transport.(*retryTransport)
		rt.base = nonces.wrap(rt.base)
		a, err := cl.Register(ctx, &acme.Account{}, acme.AcceptTOS)
		mustf(t, err, "Register")
		accts[i] = &chaosAccount{cl: cl, url: a.URI}
	}
	orders := make([]*chaosOrder, n)
	next := make(chan *chaosOrder)
	var wg sync.WaitGroup
	for range chaosParallel {
		wg.Go(func() {
			for o := range next {
				o.err = s.runChaosOrder(ctx, o, roots)
			}
		})
	}
	go func() {
		defer close(next)
		for i := range orders {
			orders[i] = &chaosOrder{acct: accts[i%len(accts)], name: fmt.Sprintf("chaos-%04d.example.test", i)}
			select {
			case next <- orders[i]:
			case <-ctx.Done():
				return
			}
		}
	}()
	kills := injectChaos(t, ctx, gcp, s, n)
	wg.Wait()
	clientsDone := time.Since(start)
	settleChaos(t, ctx, orders)
	rep := checkChaos(t, ctx, s, gcp, accts, orders)
	rep.add("orders", n)
	rep.add("accounts", len(accts))
	rep.add("ACME / Validate kill -9 and restart", kills)
	rep.add("client re-sends after connection failures", int(retries.Load()))
	rep.add("nonces sent / accepted twice", fmt.Sprintf("%d / %d", nonces.sent(), nonces.reused()))
	rep.add("reconciler passes that re-ran work", len(logEvents(t, s.Validate.Log(), "reconciled stuck work")))
	rep.add("clients finished after", clientsDone.Round(time.Second).String())
	if r := nonces.reused(); r != 0 {
		t.Errorf("%d nonces were accepted more than once", r)
	}
	table := rep.String()
	t.Log("\n" + table)
	if out := os.Getenv("ACMERA_CHAOS_OUT"); out != "" {
		mustf(t, os.WriteFile(out, []byte(table), 0o644), "write ACMERA_CHAOS_OUT")
	}
}

// runChaosOrder runs one order to the end with its account's client.
func (s *stack) runChaosOrder(ctx context.Context, o *chaosOrder, roots *x509.CertPool) error {
	ready, _, err := s.authorize(ctx, o.acct.cl, []string{o.name}, "http-01")
	if ready != nil {
		o.orderURL = ready.URI
	}
	if err != nil {
		return err
	}
	chain, key, err := finalize(ctx, o.acct.cl, ready, []string{o.name})
	if err != nil {
		return err
	}
	o.leaf, err = e2eutil.VerifyChain(roots, chain, acme.DomainIDs(o.name), key.Public())
	return err
}

// injectChaos runs the fault schedule while the orders run, stepping on
// the CAS fake's minted count, and returns how many times each function
// was killed.
func injectChaos(t *testing.T, ctx context.Context, gcp *fakeGCP, s *stack, n int) int {
	t.Helper()
	at := func(eighths int) {
		want := n * eighths / 8
		waitStats(t, ctx, gcp, fmt.Sprintf("%d certificates minted", want), func(st gcpStats) bool { return st.Minted >= want })
	}
	restart := func(ps ...*fnProc) {
		for _, p := range ps {
			p.Kill()
		}
		for _, p := range ps {
			p.Start()
		}
	}
	gcp.Post(t, "/duplicate?n=20")                                        // twice, at once
	gcp.Post(t, "/fail?service=cas&method=CreateCertificate&n=3&code=14") // Unavailable, within the issuer's retries
	at(1)
	restart(s.Validate)
	gcp.Post(t, "/fail?service=cas&method=CreateCertificate&n=6&code=4") // DeadlineExceeded
	gcp.Post(t, "/duplicate?n=20&after=3s")                              // twice, the second late
	at(2)
	restart(s.ACME)
	gcp.Post(t, "/hold?n=2") // minted, answer held past the client's deadline
	at(3)
	restart(s.Validate)
	gcp.Post(t, "/fail?service=cas&method=CreateCertificate&n=5&code=8") // ResourceExhausted
	at(4)
	restart(s.ACME)
	at(5)
	restart(s.ACME, s.Validate)
	return 3
}

// settleChaos polls every order until it ends, bounded by settleWait in
// all; an order that does not end is left for checkChaos to count.
func settleChaos(t *testing.T, ctx context.Context, orders []*chaosOrder) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, settleWait)
	defer cancel()
	for _, o := range orders {
		if o == nil || o.orderURL == "" {
			continue
		}
		if _, err := pollFinal(ctx, o.acct.cl, o.orderURL); err != nil {
			t.Logf("%s: order did not end: %v (client: %v)", o.name, err, o.err)
		}
	}
}

// checkChaos reads every account, order and certificate from Firestore
// and the fakes' counters, checks the invariants and returns the table.
func checkChaos(t *testing.T, ctx context.Context, s *stack, gcp *fakeGCP, accts []*chaosAccount, orders []*chaosOrder) *report {
	t.Helper()
	st, err := firestore.New(ctx, firestore.Config{ProjectID: s.Project, EmulatorHost: emulator})
	mustf(t, err, "firestore.New")
	defer st.Close()
	rep := &report{}
	lostAccts := 0
	for _, a := range accts {
		if _, err := st.GetAccount(ctx, lastSegment(a.url)); err != nil {
			lostAccts++
			t.Errorf("account %s: %v", a.url, err)
		}
	}
	status := map[core.Status]int{}
	var noOrder, lostOrders, noProblem, certs, strayCerts, clientCerts int
	now := time.Now()
	for _, o := range orders {
		if o == nil || o.orderURL == "" {
			noOrder++
			t.Errorf("%v: no order created: %v", o, errOf(o))
			continue
		}
		if o.leaf != nil {
			clientCerts++
		}
		got, err := st.GetOrder(ctx, lastSegment(o.orderURL))
		if err != nil {
			lostOrders++
			t.Errorf("%s: order %s: %v", o.name, o.orderURL, err)
			continue
		}
		status[got.StatusAt(now)]++
		c, cerr := st.GetCertificate(ctx, got.ID)
		switch got.StatusAt(now) {
		case core.StatusValid:
			if cerr != nil {
				t.Errorf("%s: valid order without its certificate: %v", o.name, cerr)
				continue
			}
			certs++
			if o.leaf != nil && ra16(o.leaf) != c.Serial {
				t.Errorf("%s: the client holds serial %s, the store %s", o.name, ra16(o.leaf), c.Serial)
			}
		case core.StatusInvalid:
			if got.Error == nil {
				noProblem++
				t.Errorf("%s: order invalid without a problem", o.name)
			}
			t.Logf("%s: invalid: %v (client: %v)", o.name, got.Error, o.err)
			fallthrough
		default:
			if !errors.Is(cerr, store.ErrNotFound) {
				strayCerts++
				t.Errorf("%s: order %s holds a certificate (%v)", o.name, got.Status, cerr)
			}
		}
	}
	stuck := status[core.StatusPending] + status[core.StatusReady] + status[core.StatusProcessing]
	if stuck > 0 {
		t.Errorf("%d orders did not end: %v", stuck, status)
	}
	gs := gcp.Stats(t)
	if gs.Minted != certs || certs != status[core.StatusValid] {
		t.Errorf("CAS minted %d, %d certificates stored, %d orders valid: want all equal", gs.Minted, certs, status[core.StatusValid])
	}
	rep.add("orders valid", status[core.StatusValid])
	rep.add("orders invalid (all with a problem)", status[core.StatusInvalid])
	rep.add("orders pending / ready / processing", fmt.Sprintf("%d / %d / %d", status[core.StatusPending], status[core.StatusReady], status[core.StatusProcessing]))
	rep.add("orders not created / lost from Firestore", fmt.Sprintf("%d / %d", noOrder, lostOrders))
	rep.add("invalid orders without a problem", noProblem)
	rep.add("accounts lost from Firestore", lostAccts)
	rep.add("CAS certificates minted", gs.Minted)
	rep.add("certificates in Firestore (valid orders)", certs)
	rep.add("certificates on other orders", strayCerts)
	rep.add("certificates verified by the clients", clientCerts)
	rep.add("CAS CreateCertificate calls", gs.CAS["CreateCertificate"])
	rep.add("Cloud Tasks created / delivered / retried", fmt.Sprintf("%d / %d / %d", gs.Tasks.CreateTask, gs.Tasks.Deliveries, gs.Tasks.Retries))
	rep.add("Cloud Tasks duplicate deliveries / dropped", fmt.Sprintf("%d / %d", gs.Tasks.Duplicates, gs.Tasks.Failed))
	return rep
}

func errOf(o *chaosOrder) error {
	if o == nil {
		return errors.New("never started")
	}
	return o.err
}

// ra16 is a leaf's serial as core.Certificate.Serial stores it.
func ra16(leaf *x509.Certificate) string { return leaf.SerialNumber.Text(16) }

// report is an ordered two-column table.
type report struct{ rows [][2]string }

func (r *report) add(k string, v any) { r.rows = append(r.rows, [2]string{k, fmt.Sprint(v)}) }

func (r *report) String() string {
	var b strings.Builder
	b.WriteString("| check | value |\n|---|---|\n")
	for _, row := range r.rows {
		fmt.Fprintf(&b, "| %s | %s |\n", row[0], row[1])
	}
	return b.String()
}

// nonceLog records the nonce of every JWS a client sends and counts the
// answers that accepted it: anything but a badNonce problem (RFC 8555
// §6.5). A request whose answer was lost (the server killed) counts as
// not accepted.
type nonceLog struct {
	mu       sync.Mutex
	accepted map[string]int
	total    int
}

func (l *nonceLog) wrap(next http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		nonce := jwsNonce(req)
		res, err := next.RoundTrip(req)
		if nonce == "" {
			return res, err
		}
		ok := err == nil
		if ok && res.StatusCode == http.StatusBadRequest {
			body, rerr := io.ReadAll(io.LimitReader(res.Body, 64<<10))
			res.Body.Close()
			res.Body = io.NopCloser(bytes.NewReader(body))
			ok = rerr == nil && !bytes.Contains(body, []byte("badNonce"))
		}
		l.mu.Lock()
		l.total++
		if ok {
			l.accepted[nonce]++
		}
		l.mu.Unlock()
		return res, err
	})
}

func (l *nonceLog) sent() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}

// reused counts the nonces accepted more than once.
func (l *nonceLog) reused() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, c := range l.accepted {
		if c > 1 {
			n++
		}
	}
	return n
}

// jwsNonce returns the nonce of a JWS POST body, or "".
func jwsNonce(req *http.Request) string {
	if req.Method != http.MethodPost || req.GetBody == nil {
		return ""
	}
	body, err := req.GetBody()
	if err != nil {
		return ""
	}
	defer body.Close()
	var jws struct {
		Protected string `json:"protected"`
	}
	if json.NewDecoder(io.LimitReader(body, 64<<10)).Decode(&jws) != nil {
		return ""
	}
	raw, err := base64.RawURLEncoding.DecodeString(jws.Protected)
	if err != nil {
		return ""
	}
	var h struct {
		Nonce string `json:"nonce"`
	}
	if json.Unmarshal(raw, &h) != nil {
		return ""
	}
	return h.Nonce
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
