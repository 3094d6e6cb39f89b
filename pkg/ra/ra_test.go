package ra

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/acmera/acmera/pkg/acme"
	"github.com/acmera/acmera/pkg/ca"
	"github.com/acmera/acmera/pkg/ca/local"
	"github.com/acmera/acmera/pkg/core"
	"github.com/acmera/acmera/pkg/policy"
	"github.com/acmera/acmera/pkg/problem"
	"github.com/acmera/acmera/pkg/queue"
	"github.com/acmera/acmera/pkg/store/bolt"
	"github.com/acmera/acmera/pkg/va"
)

// flakyCA fails its first n Issue calls with ca.ErrTransient, then signs
// with a real local CA; it counts calls per request ID.
type flakyCA struct {
	*local.CA
	mu    sync.Mutex
	fail  int
	calls map[string]int
}

func (f *flakyCA) Issue(ctx context.Context, req ca.IssueRequest) (*ca.Issued, error) {
	f.mu.Lock()
	f.calls[req.RequestID]++
	fail := f.fail > 0
	if fail {
		f.fail--
	}
	f.mu.Unlock()
	if fail {
		return nil, ca.ErrTransient
	}
	return f.CA.Issue(ctx, req)
}

// SignsInProcess: the fixture's CA fails like a remote one, so the tests
// using it take the two-step finalize (processing, outbox task) that every
// CA outside this process gets; inProcessCA wraps a CA for the one-write
// path.
func (*flakyCA) SignsInProcess() bool { return false }

// inProcessCA marks a CA as signing in this process (ca.InProcess).
type inProcessCA struct{ ca.Issuer }

func (inProcessCA) SignsInProcess() bool { return true }

// okVA accepts every challenge and counts validations.
type okVA struct {
	mu sync.Mutex
	n  int
}

func (v *okVA) Validate(context.Context, va.Request) *problem.Problem {
	v.mu.Lock()
	v.n++
	v.mu.Unlock()
	return nil
}

// recordingQueue keeps tasks for the test to run by hand. Cancel takes a
// task back, as the in-process queue does (queue.Canceler).
type recordingQueue struct {
	mu        sync.Mutex
	tasks     []queue.Task
	cancelled []string
}

func (q *recordingQueue) Cancel(_ context.Context, t queue.Task) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.cancelled = append(q.cancelled, t.Name())
	q.tasks = slices.DeleteFunc(q.tasks, func(u queue.Task) bool { return u.Name() == t.Name() })
	return nil
}

func (q *recordingQueue) Enqueue(_ context.Context, t queue.Task) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.tasks = append(q.tasks, t)
	return nil
}

type fixture struct {
	ra    *RA
	ca    *flakyCA
	va    *okVA
	q     *recordingQueue
	now   time.Time
	acct  *core.Account
	store *bolt.Store
}

// setCA makes i the RA's only CA backend, the default.
func (f *fixture) setCA(i ca.Issuer) { f.ra.backends = ca.Single("default", i) }

func newFixture(t *testing.T, failCA int) *fixture {
	t.Helper()
	dir := t.TempDir()
	st, err := bolt.Open(filepath.Join(dir, "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	lca, err := local.Open(t.Context(), local.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{ca: &flakyCA{CA: lca, fail: failCA, calls: map[string]int{}}, va: &okVA{}, q: &recordingQueue{}, store: st,
		now: time.Now()}
	f.ra, err = New(Config{Store: st, Queue: f.q, Validator: f.va, Issuer: f.ca, Policy: policy.AllowAny(),
		Clock: func() time.Time { return f.now }, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jwk, _ := (&jose.JSONWebKey{Key: key.Public()}).MarshalJSON()
	f.acct, _, err = f.ra.NewAccount(t.Context(), NewAccountRequest{Profile: "acme", Key: jwk, Thumbprint: core.NewID()})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// runTasks runs the queued tasks once each, returning their errors.
func (f *fixture) runTasks(t *testing.T) []error {
	f.q.mu.Lock()
	tasks := f.q.tasks
	f.q.tasks = nil
	f.q.mu.Unlock()
	var errs []error
	for _, task := range tasks {
		errs = append(errs, f.ra.HandleTask(t.Context(), task))
	}
	return errs
}

func (f *fixture) readyOrder(t *testing.T) *core.Order {
	t.Helper()
	ctx := t.Context()
	o, err := f.ra.NewOrder(ctx, f.acct, NewOrderRequest{Profile: "acme", Identifiers: []acme.Identifier{{Type: "ip", Value: "127.0.0.1"}}})
	if err != nil {
		t.Fatal(err)
	}
	az, _ := f.ra.Authorization(ctx, f.acct, o.AuthzIDs[0])
	if _, _, err := f.ra.AnswerChallenge(ctx, f.acct, ChallengeAnswer{AuthzID: az.ID, ChallengeID: az.Challenges[0].ID}); err != nil {
		t.Fatal(err)
	}
	if errs := f.runTasks(t); len(errs) != 1 || errs[0] != nil {
		t.Fatalf("validation task: %v", errs)
	}
	if o, err = f.ra.Order(ctx, f.acct, o.ID); err != nil || o.Status != core.StatusReady {
		t.Fatalf("order %v %v, want ready", o.Status, err)
	}
	return o
}

func csrDER(t *testing.T) []byte {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// A transient CA failure leaves the order processing with a queued retry;
// the retry issues with the same request ID; redelivering the finished
// task changes nothing.
func TestFinalizeRetriesTransientCAFailure(t *testing.T) {
	f := newFixture(t, 3)
	o := f.readyOrder(t)
	got, err := f.ra.Finalize(t.Context(), f.acct, o.ID, csrDER(t))
	if err != nil || got.Status != core.StatusProcessing {
		t.Fatalf("finalize with CA down: %v %v, want processing", got.Status, err)
	}
	for i := 0; i < 2; i++ { // the task asks for redelivery while the CA still fails
		errs := f.runTasks(t)
		if len(errs) != 1 || errs[0] == nil {
			t.Fatalf("retry %d: %v, want an error asking for redelivery", i, errs)
		}
		f.q.Enqueue(t.Context(), queue.Task{Kind: queue.KindFinalize, OrderID: o.ID})
	}
	if errs := f.runTasks(t); len(errs) != 1 || errs[0] != nil {
		t.Fatalf("final retry: %v", errs)
	}
	got, _ = f.ra.Order(t.Context(), f.acct, o.ID)
	if got.Status != core.StatusValid || got.CertificateID == "" {
		t.Fatalf("order %s, want valid with a certificate", got.Status)
	}
	if n := f.ca.calls[ca.RequestID(o.ID)]; n != 4 || len(f.ca.calls) != 1 {
		t.Fatalf("CA calls %v: want 4 calls, all with the order's one request ID", f.ca.calls)
	}
	if err := f.ra.HandleTask(t.Context(), queue.Task{Kind: queue.KindFinalize, OrderID: o.ID}); err != nil {
		t.Fatalf("late duplicate: %v", err)
	}
	if f.ca.calls[ca.RequestID(o.ID)] != 4 {
		t.Fatal("a late duplicate task called the CA again")
	}
}

// A finalize that ends, valid or invalid, takes its outbox task back; one
// left processing keeps it for the retry.
func TestFinalizeTakesBackItsOutboxTaskWhenDone(t *testing.T) {
	f := newFixture(t, 0)
	o := f.readyOrder(t)
	got, err := f.ra.Finalize(t.Context(), f.acct, o.ID, csrDER(t))
	if err != nil || got.Status != core.StatusValid {
		t.Fatalf("finalize: %v %v", got.Status, err)
	}
	want := queue.Task{Kind: queue.KindFinalize, OrderID: o.ID}.Name()
	if len(f.q.tasks) != 0 || !slices.Equal(f.q.cancelled, []string{want}) {
		t.Fatalf("after a valid finalize: tasks %+v, cancelled %v; want none left, %s cancelled", f.q.tasks, f.q.cancelled, want)
	}

	f = newFixture(t, 0)
	o = f.readyOrder(t)
	f.setCA(findingCA{f.ca, func(context.Context, string) (*ca.Issued, error) { return nil, ca.ErrNotIssued }})
	if got, err := f.ra.Finalize(t.Context(), f.acct, o.ID, csrDER(t)); err != nil || got.Status != core.StatusInvalid {
		t.Fatalf("finalize refused by the CA: %v %v, want invalid", got.Status, err)
	}
	if len(f.q.tasks) != 0 || len(f.q.cancelled) != 1 {
		t.Fatalf("after an invalid finalize: tasks %+v, cancelled %v", f.q.tasks, f.q.cancelled)
	}

	f = newFixture(t, 1)
	o = f.readyOrder(t)
	if got, err := f.ra.Finalize(t.Context(), f.acct, o.ID, csrDER(t)); err != nil || got.Status != core.StatusProcessing {
		t.Fatalf("finalize with the CA down: %v %v, want processing", got.Status, err)
	}
	if len(f.q.tasks) != 1 || len(f.q.cancelled) != 0 {
		t.Fatalf("processing: tasks %+v, cancelled %v; want the retry kept", f.q.tasks, f.q.cancelled)
	}
}

// notIssuedCA is a flakyCA that can say it never issued (ca.Finder).
type notIssuedCA struct{ *flakyCA }

func (notIssuedCA) Find(context.Context, ca.IssueRequest) (*ca.Issued, error) {
	return nil, ca.ErrNotIssued
}

// An order left processing past the finalize timeout ends invalid only
// when the CA says it never issued for it; a CA that cannot say keeps the
// order processing and its task retrying.
func TestFinalizeGivesUpOnlyWhenTheCANeverIssued(t *testing.T) {
	f := newFixture(t, 1000)
	o := f.readyOrder(t)
	if _, err := f.ra.Finalize(t.Context(), f.acct, o.ID, csrDER(t)); err != nil {
		t.Fatal(err)
	}
	f.now = f.now.Add(11 * time.Minute)
	got, err := f.ra.Order(t.Context(), f.acct, o.ID)
	if err != nil || got.Status != core.StatusProcessing {
		t.Fatalf("poll after timeout: %v %v, want still processing", got.Status, err)
	}
	if errs := f.runTasks(t); len(errs) == 0 || errs[len(errs)-1] == nil {
		t.Fatalf("finalize task with the CA down and no way to look: %v, want a retry", errs)
	}
	if got, _ := f.ra.Order(t.Context(), f.acct, o.ID); got.Status != core.StatusProcessing {
		t.Fatalf("order %s, want processing while the CA may still issue", got.Status)
	}
	f.setCA(notIssuedCA{f.ca})
	if err := f.ra.HandleTask(t.Context(), queue.Task{Kind: queue.KindFinalize, OrderID: o.ID}); err != nil {
		t.Fatal(err)
	}
	got, err = f.ra.Order(t.Context(), f.acct, o.ID)
	if err != nil || got.Status != core.StatusInvalid || got.Error == nil || got.Error.Type != problem.ServerInternal {
		t.Fatalf("order after the CA said it never issued: %+v %v", got, err)
	}
}

// The outbox: the finalize task is queued, delayed, before the CA is
// called; an instance that dies between the CA's answer and the store
// write is healed by it, with the one certificate the CA minted.
func TestFinalizeOutboxHealsDeathAfterTheCAAnswered(t *testing.T) {
	f := newFixture(t, 0)
	o := f.readyOrder(t)
	var queuedBeforeCA int
	f.setCA(issueSpy{f.ca, func() { f.q.mu.Lock(); queuedBeforeCA = len(f.q.tasks); f.q.mu.Unlock() }})
	var minted [][]byte
	f.ra.beforeComplete = func(context.Context, string) error { return errors.New("instance killed") }
	spyCA, _ := f.ra.issuer("")
	f.setCA(recordCA{spyCA, &minted})
	if _, err := f.ra.Finalize(t.Context(), f.acct, o.ID, csrDER(t)); err == nil {
		t.Fatal("Finalize survived the injected death")
	}
	if queuedBeforeCA != 1 || f.q.tasks[0].Kind != queue.KindFinalize || f.q.tasks[0].After != f.ra.finalizeRetryDelay {
		t.Fatalf("tasks queued before the CA call: %d %+v, want the delayed finalize", queuedBeforeCA, f.q.tasks)
	}
	if got, _ := f.ra.Order(t.Context(), f.acct, o.ID); got.Status != core.StatusProcessing {
		t.Fatalf("order %s after the death, want processing", got.Status)
	}
	f.ra.beforeComplete = nil
	if errs := f.runTasks(t); len(errs) != 1 || errs[0] != nil {
		t.Fatalf("outbox task: %v", errs)
	}
	got, _ := f.ra.Order(t.Context(), f.acct, o.ID)
	c, err := f.ra.Certificate(t.Context(), f.acct, got.CertificateID)
	if got.Status != core.StatusValid || err != nil {
		t.Fatalf("order %s, certificate %v: want valid", got.Status, err)
	}
	if len(minted) != 2 || !bytes.Equal(minted[0], minted[1]) {
		t.Fatalf("the CA answered %d times with different certificates; want the same one twice", len(minted))
	}
	if b, _ := pem.Decode(c.Chain); b == nil || !bytes.Equal(b.Bytes, minted[0]) {
		t.Fatal("the stored certificate is not the one the CA minted")
	}
}

// A certificate the CA minted for an order that ended meanwhile is revoked
// and the order is left as it ended.
func TestFinalizeRevokesACertificateForAnEndedOrder(t *testing.T) {
	f := newFixture(t, 0)
	o := f.readyOrder(t)
	f.ra.beforeComplete = func(ctx context.Context, id string) error {
		_, err := f.store.FailFinalize(ctx, id, problem.New(problem.ServerInternal, "ended elsewhere"))
		return err
	}
	rev := &revokeLog{}
	f.setCA(revokingCA{f.ca, rev})
	got, err := f.ra.Finalize(t.Context(), f.acct, o.ID, csrDER(t))
	if err != nil || got.Status != core.StatusInvalid {
		t.Fatalf("finalize: %v %v, want the order as it ended (invalid)", got.Status, err)
	}
	if len(rev.reqs) != 1 || rev.reqs[0].Cert == nil {
		t.Fatalf("revocations %+v, want the minted certificate revoked", rev.reqs)
	}
}

// A CA that returns something other than what was asked (here a template
// adding a name) fails the order with acmera's caMisissued problem and the
// certificate is revoked.
func TestFinalizeRefusesAMisissuedCertificate(t *testing.T) {
	f := newFixture(t, 0)
	o := f.readyOrder(t)
	rev := &revokeLog{}
	f.setCA(revokingCA{tamperCA{f.ca, func(r *ca.IssueRequest) { r.DNSNames = append(r.DNSNames, "evil.example") }}, rev})
	got, err := f.ra.Finalize(t.Context(), f.acct, o.ID, csrDER(t))
	if err != nil || got.Status != core.StatusInvalid || got.Error == nil || got.Error.Type != problem.CAMisissued ||
		!strings.Contains(got.Error.Detail, "DNS names") {
		t.Fatalf("finalize: %+v %v, want invalid with caMisissued naming the DNS names", got, err)
	}
	if len(rev.reqs) != 1 {
		t.Fatalf("revocations %d, want 1", len(rev.reqs))
	}
	if got.CertificateID != "" {
		t.Fatal("the mis-issued certificate was recorded on the order")
	}
}

// A CA misconfiguration (missing pool or template) is the operator's
// fault: serverInternal with a generic detail, never badCSR.
func TestFinalizeMisconfiguredCA(t *testing.T) {
	f := newFixture(t, 0)
	o := f.readyOrder(t)
	f.setCA(failingCA{f.ca, fmt.Errorf("%w: rpc error: code = NotFound desc = CertificateTemplate projects/p/x not found", ca.ErrMisconfigured)})
	got, err := f.ra.Finalize(t.Context(), f.acct, o.ID, csrDER(t))
	if err != nil || got.Status != core.StatusInvalid || got.Error == nil || got.Error.Type != problem.ServerInternal ||
		strings.Contains(got.Error.Detail, "projects/") || strings.Contains(got.Error.Detail, "CSR") {
		t.Fatalf("finalize: %+v %v, want invalid with a generic serverInternal", got, err)
	}
}

// A notAfter that has passed by finalize is the client's malformed order,
// not a CA outage; the order stays ready.
func TestFinalizePastNotAfter(t *testing.T) {
	f := newFixture(t, 0)
	ctx := t.Context()
	o := f.validatedOrder(t, NewOrderRequest{Profile: "acme", Identifiers: []acme.Identifier{{Type: "ip", Value: "127.0.0.1"}},
		NotAfter: f.now.Add(time.Hour)})
	f.now = f.now.Add(2 * time.Hour)
	_, err := f.ra.Finalize(ctx, f.acct, o.ID, csrDER(t))
	var p *problem.Problem
	if !errors.As(err, &p) || p.Type != problem.Malformed || !strings.Contains(p.Detail, "notAfter") {
		t.Fatalf("finalize past notAfter: %v, want malformed naming notAfter", err)
	}
}

// issueSpy runs before on every Issue.
type issueSpy struct {
	ca.Issuer
	before func()
}

func (s issueSpy) Issue(ctx context.Context, req ca.IssueRequest) (*ca.Issued, error) {
	s.before()
	return s.Issuer.Issue(ctx, req)
}

// recordCA keeps every leaf the CA returned.
type recordCA struct {
	ca.Issuer
	leafs *[][]byte
}

func (r recordCA) Issue(ctx context.Context, req ca.IssueRequest) (*ca.Issued, error) {
	got, err := r.Issuer.Issue(ctx, req)
	if err == nil {
		*r.leafs = append(*r.leafs, got.Chain[0])
	}
	return got, err
}

type revokeLog struct{ reqs []ca.RevokeRequest }

// revokingCA records revocations.
type revokingCA struct {
	ca.Issuer
	log *revokeLog
}

func (r revokingCA) Revoke(_ context.Context, req ca.RevokeRequest) error {
	r.log.reqs = append(r.log.reqs, req)
	return nil
}

// tamperCA changes the request before the CA sees it, as a misconfigured
// template would.
type tamperCA struct {
	ca.Issuer
	tamper func(*ca.IssueRequest)
}

func (c tamperCA) Issue(ctx context.Context, req ca.IssueRequest) (*ca.Issued, error) {
	c.tamper(&req)
	return c.Issuer.Issue(ctx, req)
}

// failingCA fails every Issue with err.
type failingCA struct {
	ca.Issuer
	err error
}

func (c failingCA) Issue(context.Context, ca.IssueRequest) (*ca.Issued, error) { return nil, c.err }

// A validation task redelivered after its result was recorded validates
// nothing and succeeds.
func TestValidationRedelivery(t *testing.T) {
	f := newFixture(t, 0)
	o := f.readyOrder(t)
	az, _ := f.ra.Authorization(t.Context(), f.acct, o.AuthzIDs[0])
	task := queue.Task{Kind: queue.KindValidate, AuthzID: az.ID, ChallengeID: az.Challenges[0].ID}
	if err := f.ra.HandleTask(t.Context(), task); err != nil {
		t.Fatal(err)
	}
	if f.va.n != 1 {
		t.Fatalf("validations: %d, want 1", f.va.n)
	}
	// Answering the finished challenge again enqueues nothing.
	if _, _, err := f.ra.AnswerChallenge(t.Context(), f.acct, ChallengeAnswer{AuthzID: az.ID, ChallengeID: az.Challenges[0].ID}); err != nil {
		t.Fatal(err)
	}
	if len(f.q.tasks) != 0 {
		t.Fatalf("answering a valid challenge enqueued %v", f.q.tasks)
	}
	if err := f.ra.HandleTask(t.Context(), queue.Task{Kind: "bogus"}); err == nil {
		t.Fatal("a malformed task was accepted")
	}
	var p *problem.Problem
	if _, _, err := f.ra.AnswerChallenge(t.Context(), f.acct, ChallengeAnswer{AuthzID: az.ID, ChallengeID: "nope"}); !errors.As(err, &p) || p.Status != 404 {
		t.Fatalf("unknown challenge: %v", err)
	}
}

// A validation whose enqueue was lost is enqueued again when the client
// polls the authorization.
func TestPollRequeuesLostValidation(t *testing.T) {
	f := newFixture(t, 0)
	ctx := t.Context()
	o, err := f.ra.NewOrder(ctx, f.acct, NewOrderRequest{Profile: "acme", Identifiers: []acme.Identifier{{Type: "ip", Value: "127.0.0.1"}}})
	if err != nil {
		t.Fatal(err)
	}
	az, _ := f.ra.Authorization(ctx, f.acct, o.AuthzIDs[0])
	if len(f.q.tasks) != 0 {
		t.Fatalf("polling a pending authorization enqueued %v", f.q.tasks)
	}
	if _, _, err := f.ra.AnswerChallenge(ctx, f.acct, ChallengeAnswer{AuthzID: az.ID, ChallengeID: az.Challenges[0].ID}); err != nil {
		t.Fatal(err)
	}
	if len(f.q.tasks) != 1 {
		t.Fatalf("answer enqueued %d tasks, want 1", len(f.q.tasks))
	}
	f.q.tasks = nil // the task is lost
	if _, err := f.ra.Authorization(ctx, f.acct, az.ID); err != nil {
		t.Fatal(err)
	}
	if errs := f.runTasks(t); len(errs) != 1 || errs[0] != nil {
		t.Fatalf("re-queued validation: %v", errs)
	}
	if got, _ := f.ra.Order(ctx, f.acct, o.ID); got.Status != core.StatusReady {
		t.Fatalf("order %s, want ready", got.Status)
	}
}

// An order's notAfter is the certificate's, to the second: the CA's
// backdating moves notBefore only (RFC 8555 §7.4).
func TestOrderNotAfterIsExact(t *testing.T) {
	f := newFixture(t, 0)
	f.now = f.now.Add(333 * time.Millisecond) // a start off the second
	ctx := t.Context()
	notAfter := f.now.Add(3 * time.Hour).Truncate(time.Second)
	o := f.validatedOrder(t, NewOrderRequest{Profile: "acme", Identifiers: []acme.Identifier{{Type: "ip", Value: "127.0.0.1"}},
		NotAfter: notAfter})
	got, err := f.ra.Finalize(ctx, f.acct, o.ID, csrDER(t))
	if err != nil || got.Status != core.StatusValid {
		t.Fatalf("finalize: %v %v", got.Status, err)
	}
	c, err := f.ra.Certificate(ctx, f.acct, got.CertificateID)
	if err != nil {
		t.Fatal(err)
	}
	if !c.NotAfter.Equal(notAfter) || !c.NotBefore.Before(f.now) {
		t.Errorf("certificate valid %s to %s, want until exactly %s, from before now", c.NotBefore, c.NotAfter, notAfter)
	}
}

// An apex authorization lets an account revoke a certificate for the
// apex, never for the wildcard below it.
func TestHoldsAuthorizationsWildcard(t *testing.T) {
	f := newFixture(t, 0)
	ctx := t.Context()
	f.validatedOrder(t, NewOrderRequest{Profile: "acme", Identifiers: []acme.Identifier{{Type: "dns", Value: "example.com"}}})
	for _, tc := range []struct {
		names []string
		want  bool
	}{
		{[]string{"example.com"}, true},
		{[]string{"*.example.com"}, false},
		{[]string{"example.com", "*.example.com"}, false},
		{[]string{"example.com", "other.example"}, false},
	} {
		got, err := f.ra.holdsAuthorizations(ctx, f.acct, "acme", &x509.Certificate{DNSNames: tc.names})
		if err != nil || got != tc.want {
			t.Errorf("%v: %v %v, want %v", tc.names, got, err, tc.want)
		}
	}
}

// findingCA refuses every new request but finds what it minted before.
type findingCA struct {
	ca.Issuer
	found func(ctx context.Context, requestID string) (*ca.Issued, error)
}

func (c findingCA) Issue(context.Context, ca.IssueRequest) (*ca.Issued, error) {
	return nil, &ca.RejectedError{Detail: "the CA is disabled"}
}

func (c findingCA) Find(ctx context.Context, req ca.IssueRequest) (*ca.Issued, error) {
	return c.found(ctx, req.RequestID)
}

// A retry records the certificate the CA minted for an earlier attempt
// (its answer lost) without asking it to issue again, which would now be
// refused and end the order invalid while the certificate exists.
func TestFinalizeRetryRecordsWhatTheCAFound(t *testing.T) {
	f := newFixture(t, 0)
	o := f.readyOrder(t)
	var minted *ca.Issued
	f.setCA(recordIssued{f.ca, &minted})
	f.ra.beforeComplete = func(context.Context, string) error { return errors.New("instance killed") }
	if _, err := f.ra.Finalize(t.Context(), f.acct, o.ID, csrDER(t)); err == nil {
		t.Fatal("Finalize survived the injected death")
	}
	f.ra.beforeComplete = nil
	f.setCA(findingCA{f.ca, func(context.Context, string) (*ca.Issued, error) { return minted, nil }})
	if err := f.ra.HandleTask(t.Context(), queue.Task{Kind: queue.KindFinalize, OrderID: o.ID}); err != nil {
		t.Fatal(err)
	}
	got, _ := f.ra.Order(t.Context(), f.acct, o.ID)
	if got.Status != core.StatusValid {
		t.Fatalf("order %s (%v), want valid with the certificate found", got.Status, got.Error)
	}
}

// recordIssued keeps what the CA returned.
type recordIssued struct {
	ca.Issuer
	out **ca.Issued
}

func (r recordIssued) Issue(ctx context.Context, req ca.IssueRequest) (*ca.Issued, error) {
	got, err := r.Issuer.Issue(ctx, req)
	*r.out = got
	return got, err
}

// validatedOrder creates an order and validates its one authorization.
func (f *fixture) validatedOrder(t *testing.T, req NewOrderRequest) *core.Order {
	t.Helper()
	ctx := t.Context()
	o, err := f.ra.NewOrder(ctx, f.acct, req)
	if err != nil {
		t.Fatal(err)
	}
	az, _ := f.ra.Authorization(ctx, f.acct, o.AuthzIDs[0])
	if _, _, err := f.ra.AnswerChallenge(ctx, f.acct, ChallengeAnswer{AuthzID: az.ID, ChallengeID: az.Challenges[0].ID}); err != nil {
		t.Fatal(err)
	}
	f.runTasks(t)
	return o
}

// Authorization reuse honours deactivation and key rollover: a
// deactivated authorization is never reused, and an account keeps its
// authorizations across a key change (they belong to the account, not
// the key).
func TestAuthorizationReuseHonoursDeactivationAndRollover(t *testing.T) {
	f := newFixture(t, 0)
	ctx := t.Context()
	req := NewOrderRequest{Profile: "acme", Identifiers: []acme.Identifier{{Type: "dns", Value: "reuse.example"}}}
	first := f.validatedOrder(t, req)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jwk, _ := (&jose.JSONWebKey{Key: key.Public()}).MarshalJSON()
	acct, err := f.ra.ChangeKey(ctx, f.acct, jwk, core.NewID())
	if err != nil {
		t.Fatal(err)
	}
	f.acct = acct
	reused, err := f.ra.NewOrder(ctx, f.acct, req)
	if err != nil || reused.Status != core.StatusReady || reused.AuthzIDs[0] != first.AuthzIDs[0] {
		t.Fatalf("after a key change: %v %v, want ready with the same authorization", reused.Status, err)
	}
	if _, err := f.ra.DeactivateAuthorization(ctx, f.acct, first.AuthzIDs[0]); err != nil {
		t.Fatal(err)
	}
	fresh, err := f.ra.NewOrder(ctx, f.acct, req)
	if err != nil || fresh.Status != core.StatusPending || fresh.AuthzIDs[0] == first.AuthzIDs[0] {
		t.Fatalf("after deactivation: %v %v, want pending with a new authorization", fresh.Status, err)
	}
}

// A CA that ends the certificate before the order's notAfter (its own
// certificate expires first, or it caps lifetimes) is reported: the order
// fails with caMisissued saying the validity was shortened, and the
// certificate is revoked rather than served with other contents than the
// order asked (RFC 8555 §7.4).
func TestFinalizeReportsATruncatingCA(t *testing.T) {
	for _, tc := range []struct {
		name     string
		notAfter time.Duration // of the order; 0 for the profile's default lifetime
	}{{"default lifetime", 0}, {"notAfter", 3 * time.Hour}} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, 0)
			req := NewOrderRequest{Profile: "acme", Identifiers: []acme.Identifier{{Type: "ip", Value: "127.0.0.1"}}}
			if tc.notAfter > 0 {
				req.NotAfter = f.now.Add(tc.notAfter)
			}
			o := f.validatedOrder(t, req)
			rev := &revokeLog{}
			f.setCA(revokingCA{tamperCA{f.ca, func(r *ca.IssueRequest) {
				r.Lifetime -= time.Hour
				if !r.NotAfter.IsZero() {
					r.NotAfter = r.NotAfter.Add(-time.Hour)
				}
			}}, rev})
			got, err := f.ra.Finalize(t.Context(), f.acct, o.ID, csrDER(t))
			if err != nil || got.Status != core.StatusInvalid || got.Error == nil || got.Error.Type != problem.CAMisissued ||
				!strings.Contains(got.Error.Detail, "shortened") {
				t.Fatalf("finalize: %+v %v, want invalid with caMisissued saying the CA shortened the validity", got, err)
			}
			if len(rev.reqs) != 1 || got.CertificateID != "" {
				t.Fatalf("revocations %d, certificate %q; want the shortened certificate revoked and not recorded", len(rev.reqs), got.CertificateID)
			}
		})
	}
}

// submittingCA names the certificate before it signs (as AWS Private CA
// does), then dies before answering; its Find collects only by that name.
type submittingCA struct {
	ca.Issuer
	minted *int
	found  *string // the Resource Find was given
}

func (c submittingCA) Issue(ctx context.Context, req ca.IssueRequest) (*ca.Issued, error) {
	*c.minted++
	if err := req.Submitted(ctx, "arn:test:certificate/1"); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("%w: instance killed while waiting for the certificate", ca.ErrTransient)
}

func (c submittingCA) Find(ctx context.Context, req ca.IssueRequest) (*ca.Issued, error) {
	*c.found = req.Resource
	if req.Resource != "arn:test:certificate/1" {
		return nil, errors.New("nothing recorded")
	}
	return c.Issuer.Issue(ctx, req) // the certificate behind the name
}

// A CA that names its certificate before signing it: the RA records the
// name on the processing order, and the retry collects that certificate
// through Find instead of asking the CA again.
func TestFinalizeRecordsTheCAResourceBeforeWaiting(t *testing.T) {
	f := newFixture(t, 0)
	o := f.readyOrder(t)
	minted, found := 0, ""
	f.setCA(submittingCA{f.ca, &minted, &found})
	got, err := f.ra.Finalize(t.Context(), f.acct, o.ID, csrDER(t))
	if err != nil || got.Status != core.StatusProcessing {
		t.Fatalf("finalize: %+v %v, want processing after the CA died", got, err)
	}
	if stored, _ := f.store.GetOrder(t.Context(), o.ID); stored.CAResource != "arn:test:certificate/1" {
		t.Fatalf("stored order's CA resource %q, want the name the CA gave", stored.CAResource)
	}
	if err := f.ra.HandleTask(t.Context(), queue.Task{Kind: queue.KindFinalize, OrderID: o.ID}); err != nil {
		t.Fatal(err)
	}
	done, _ := f.ra.Order(t.Context(), f.acct, o.ID)
	if done.Status != core.StatusValid || found != "arn:test:certificate/1" || minted != 1 {
		t.Fatalf("after the retry: %s, Find given %q, Issue called %d times; want valid, the recorded name, once", done.Status, found, minted)
	}
}

// A retry whose Find says the CA refused the request it holds (AD CS: a
// certificate manager denied it) ends the order with the CA's message and
// does not enrol again; one whose Find says the recorded request is still
// pending keeps the order processing, also without enrolling again.
func TestFinalizeRetryEndsOnTheCAsRefusal(t *testing.T) {
	f := newFixture(t, 1000)
	o := f.readyOrder(t)
	if _, err := f.ra.Finalize(t.Context(), f.acct, o.ID, csrDER(t)); err != nil {
		t.Fatal(err)
	}
	if err := f.store.RecordCARequest(t.Context(), o.ID, "4711"); err != nil {
		t.Fatal(err)
	}
	issues := func() int { f.ca.mu.Lock(); defer f.ca.mu.Unlock(); return f.ca.calls[ca.RequestID(o.ID)] }
	before := issues()
	pending := fmt.Errorf("%w: pending approval", ca.ErrTransient)
	f.setCA(findingCA{f.ca, func(context.Context, string) (*ca.Issued, error) { return nil, pending }})
	if err := f.ra.HandleTask(t.Context(), queue.Task{Kind: queue.KindFinalize, OrderID: o.ID}); !errors.Is(err, pending) {
		t.Fatalf("retry while the CA request is pending: %v, want a redelivery with the CA's error", err)
	}
	if got, _ := f.ra.Order(t.Context(), f.acct, o.ID); got.Status != core.StatusProcessing {
		t.Fatalf("order %s while pending, want processing", got.Status)
	}
	f.setCA(findingCA{f.ca, func(context.Context, string) (*ca.Issued, error) {
		return nil, &ca.RejectedError{Detail: `the CA denied the request: Denied by CORP\\manager`}
	}})
	if err := f.ra.HandleTask(t.Context(), queue.Task{Kind: queue.KindFinalize, OrderID: o.ID}); err != nil {
		t.Fatal(err)
	}
	got, _ := f.ra.Order(t.Context(), f.acct, o.ID)
	if got.Status != core.StatusInvalid || got.Error == nil || got.Error.Type != problem.BadCSR || !strings.Contains(got.Error.Detail, `Denied by CORP\\manager`) {
		t.Fatalf("order %s %+v, want invalid with the CA's disposition", got.Status, got.Error)
	}
	if issues() != before {
		t.Error("the retry enrolled again instead of asking about the recorded request")
	}
}
