package e2ecloud

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/acme"
	"google.golang.org/grpc"

	acmefn "github.com/acmera/acmera/functions/acme"
	"github.com/acmera/acmera/pkg/ca/local"
	"github.com/acmera/acmera/pkg/nonce"
	"github.com/acmera/acmera/pkg/policy"
	"github.com/acmera/acmera/pkg/queue"
	"github.com/acmera/acmera/pkg/queue/inproc"
	"github.com/acmera/acmera/pkg/ra"
	"github.com/acmera/acmera/pkg/store/firestore"
	"github.com/acmera/acmera/pkg/va"
	"github.com/acmera/acmera/scripts/internal/e2eutil"
)

// opsBudget is the design's goal for Firestore document operations per
// issuance (reads + writes); reported, not asserted.
const opsBudget = 20

// opRow is the Firestore cost of one ACME request or task.
type opRow struct {
	phase, what string
	ops         firestore.OpCounts
	rpcs        []string // Firestore RPC methods called, in order
}

// rpcLog records the short names of the Firestore RPCs on a connection.
type rpcLog struct {
	mu      sync.Mutex
	methods []string
}

func (l *rpcLog) add(method string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.methods = append(l.methods, method[strings.LastIndex(method, "/")+1:])
}

// take returns and clears the methods recorded so far.
func (l *rpcLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.methods
	l.methods = nil
	return out
}

func (l *rpcLog) dialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			l.add(method)
			return invoker(ctx, method, req, reply, cc, opts...)
		}),
		grpc.WithChainStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
			l.add(method)
			return streamer(ctx, desc, cc, method, opts...)
		}),
	}
}

// summarize renders methods as "Commit×2, RunQuery".
func summarize(methods []string) string {
	var order []string
	n := map[string]int{}
	for _, m := range methods {
		if n[m] == 0 {
			order = append(order, m)
		}
		n[m]++
	}
	parts := make([]string, len(order))
	for i, m := range order {
		parts[i] = m
		if n[m] > 1 {
			parts[i] += fmt.Sprintf("×%d", n[m])
		}
	}
	return strings.Join(parts, ", ")
}

// meter attributes Firestore operations to ACME requests and tasks. It
// serializes them (one at a time), so each counter delta is exactly the
// cost of one request or task.
type meter struct {
	counter *firestore.OpCounter
	rpcs    rpcLog
	mu      sync.Mutex
	phase   string
	rows    []opRow
	tasks   chan string // kinds of completed tasks
}

func (m *meter) setPhase(p string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.phase = p
}

func (m *meter) measure(what string, run func()) {
	m.mu.Lock()
	defer m.mu.Unlock()
	before := m.counter.Snapshot()
	m.rpcs.take()
	run()
	m.rows = append(m.rows, opRow{phase: m.phase, what: what, ops: m.counter.Snapshot().Sub(before), rpcs: m.rpcs.take()})
}

// handler measures each request to h.
func (m *meter) handler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.measure(requestLabel(r), func() { h.ServeHTTP(w, r) })
	})
}

// taskHandler measures each task run by r.
func (m *meter) taskHandler(r **ra.RA) queue.Handler {
	return queue.HandlerFunc(func(ctx context.Context, t queue.Task) error {
		var err error
		m.measure("task "+t.Kind, func() { err = (*r).HandleTask(ctx, t) })
		m.tasks <- t.Kind
		return err
	})
}

// requestLabel names an ACME request by method and resource kind.
func requestLabel(r *http.Request) string {
	p := strings.TrimPrefix(r.URL.Path, "/acme/acme/")
	kind, rest, _ := strings.Cut(p, "/")
	switch {
	case kind == "order" && strings.HasSuffix(rest, "/finalize"):
		kind = "finalize"
	case kind == "order":
		kind = "order (POST-as-GET)"
	case kind == "authz" || kind == "cert":
		kind += " (POST-as-GET)"
	case kind == "chall":
		kind = "challenge (answer)"
	}
	return r.Method + " " + kind
}

// TestFirestoreOpsPerIssuance measures Firestore document reads and writes
// per issuance, counted at the client by pkg/store/firestore's gRPC op
// counter, with the ACME handler and the task handler (what the ACME and
// Validate functions run) in this process on the Firestore emulator. It
// runs newAccount, one issuance (new order, one authorization fetch,
// http-01 answer, the validation task, one authorization poll, one order
// poll, finalize, certificate download) and a renewal on the same account,
// logs a per-request table and writes it to $ACMERA_OPS_OUT if set.
func TestFirestoreOpsPerIssuance(t *testing.T) {
	t.Parallel()
	needEmulator(t)
	ctx := e2eutil.TestContext(t, 2*time.Minute)
	m := &meter{counter: firestore.NewOpCounter(), tasks: make(chan string, 16)}
	st, err := firestore.New(ctx, firestore.Config{ProjectID: "e2ecloud-ops", EmulatorHost: emulator,
		CollectionPrefix: "ops" + randHex(t, 6) + "_", DialOptions: append(m.counter.DialOptions(), m.rpcs.dialOptions()...)})
	mustf(t, err, "firestore.New")
	t.Cleanup(func() { _ = st.Close() })
	issuer, err := local.Open(ctx, local.Config{Dir: t.TempDir()})
	mustf(t, err, "local.Open")
	rsp := e2eutil.StartResponders(t, false)
	v, err := va.New(va.Config{Resolvers: []string{rsp.DNS.Addr()}, HTTP01Port: rsp.HTTP01.Port, TLSALPN01Port: rsp.ALPN.Port,
		AllowNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}) // the responders are on loopback
	mustf(t, err, "va.New")
	// Two RAs, as the ACME and Validate functions each build their own;
	// like theirs, the Parts set no AccountCacheTTL, so every request reads
	// its account.
	var validator *ra.RA // set before any task can run
	q := inproc.New(ctx, m.taskHandler(&validator), inproc.Config{Workers: 1})
	t.Cleanup(func() { _ = q.Close(context.Background()) })
	parts := acmefn.Parts{Store: st, Queue: q, Issuer: issuer, Validator: v, Policy: policy.AllowAny(),
		NonceKey: nonce.NewKey(), Logger: slog.New(slog.DiscardHandler)}
	validator, err = acmefn.NewRA(parts)
	mustf(t, err, "NewRA (Validate)")
	front, err := acmefn.NewRA(parts)
	mustf(t, err, "NewRA (ACME)")
	h, err := acmefn.NewHandler(front, parts)
	mustf(t, err, "NewHandler")
	srv := httptest.NewServer(m.handler(h))
	t.Cleanup(srv.Close)
	s := &stack{Responders: rsp, t: t}

	start := m.counter.Snapshot()
	cl, err := newClient(srv.URL+"/acme/acme/directory", nil)
	mustf(t, err, "newClient")
	m.setPhase("newAccount")
	mustf(t, register(ctx, cl), "register")
	for _, phase := range []string{"issuance", "renewal"} {
		m.setPhase(phase)
		mustf(t, measuredIssue(ctx, s, m, cl, "ops.example.test"), "%s", phase)
	}
	report := opsReport(t, m, m.counter.Snapshot().Sub(start))
	t.Log("\n" + report)
	if out := os.Getenv("ACMERA_OPS_OUT"); out != "" {
		mustf(t, os.WriteFile(out, []byte(report), 0o644), "write ACMERA_OPS_OUT")
	}
}

// measuredIssue runs one order with exactly one poll per wait: it waits
// for the validation task before polling the authorization.
func measuredIssue(ctx context.Context, s *stack, m *meter, cl *acme.Client, name string) error {
	o, err := cl.AuthorizeOrder(ctx, acme.DomainIDs(name))
	if err != nil {
		return fmt.Errorf("AuthorizeOrder: %w", err)
	}
	for _, u := range o.AuthzURLs {
		z, err := cl.GetAuthorization(ctx, u)
		if err != nil {
			return fmt.Errorf("GetAuthorization: %w", err)
		}
		if z.Status == acme.StatusValid {
			continue
		}
		ch, err := e2eutil.FindChallenge(z, "http-01")
		if err != nil {
			return err
		}
		if err := s.Present(cl, z, ch); err != nil {
			return err
		}
		if _, err := cl.Accept(ctx, ch); err != nil {
			return fmt.Errorf("Accept: %w", err)
		}
		select {
		case <-m.tasks:
		case <-ctx.Done():
			return fmt.Errorf("validation task: %w", ctx.Err())
		}
		if _, err := cl.WaitAuthorization(ctx, z.URI); err != nil {
			return fmt.Errorf("WaitAuthorization: %w", err)
		}
	}
	if o, err = cl.WaitOrder(ctx, o.URI); err != nil {
		return fmt.Errorf("WaitOrder: %w", err)
	}
	_, _, err = finalize(ctx, cl, o, []string{name})
	return err
}

// opsReport renders the per-phase totals and the per-request table, and
// checks what can be asserted: every phase costs something, a renewal
// costs no more than the first issuance, and every operation counted on
// the connection is attributed to a request or a task.
func opsReport(t *testing.T, m *meter, all firestore.OpCounts) string {
	t.Helper()
	m.mu.Lock()
	rows := append([]opRow(nil), m.rows...)
	m.mu.Unlock()
	phases := []string{"newAccount", "issuance", "renewal"}
	sum := map[string]firestore.OpCounts{}
	var attributed firestore.OpCounts
	var table strings.Builder
	table.WriteString("| phase | # | request | reads | writes | total | RPCs | Firestore RPCs |\n|---|---|---|---|---|---|---|---|\n")
	for i, r := range rows {
		s := sum[r.phase]
		s.Reads, s.Writes, s.RPCs = s.Reads+r.ops.Reads, s.Writes+r.ops.Writes, s.RPCs+r.ops.RPCs
		sum[r.phase] = s
		attributed.Reads, attributed.Writes, attributed.RPCs = attributed.Reads+r.ops.Reads, attributed.Writes+r.ops.Writes, attributed.RPCs+r.ops.RPCs
		fmt.Fprintf(&table, "| %s | %d | %s | %d | %d | %d | %d | %s |\n", r.phase, i+1, r.what, r.ops.Reads, r.ops.Writes,
			r.ops.Reads+r.ops.Writes, r.ops.RPCs, summarize(r.rpcs))
	}
	var b strings.Builder
	line := func(name string, c firestore.OpCounts) {
		fmt.Fprintf(&b, "OPS %s reads=%d writes=%d total=%d rpcs=%d\n", name, c.Reads, c.Writes, c.Reads+c.Writes, c.RPCs)
	}
	for _, p := range phases {
		line(p, sum[p])
		if sum[p].Reads+sum[p].Writes <= 0 {
			t.Errorf("phase %s: no Firestore operations counted", p)
		}
	}
	first := sum["newAccount"]
	first.Reads, first.Writes, first.RPCs = first.Reads+sum["issuance"].Reads, first.Writes+sum["issuance"].Writes, first.RPCs+sum["issuance"].RPCs
	line("newAccount+issuance", first)
	iss, ren := sum["issuance"], sum["renewal"]
	if ren.Reads+ren.Writes > iss.Reads+iss.Writes {
		t.Errorf("a renewal costs %d operations, more than the first issuance's %d", ren.Reads+ren.Writes, iss.Reads+iss.Writes)
	}
	if attributed != all {
		t.Errorf("requests and tasks account for %+v of the %+v operations counted", attributed, all)
	}
	fmt.Fprintf(&b, "OPS budget=%d issuance_over_budget_by=%d\n\n", opsBudget, max(0, iss.Reads+iss.Writes-opsBudget))
	b.WriteString(table.String())
	return b.String()
}
