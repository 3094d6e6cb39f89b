package wfe_test

// The hostile-input catalogue: one table of requests that break RFC 8555
// (and acmera's policy) in every way we know of, each sent to the real
// handler (wfe over the RA, the local CA and a real store) on loopback.
// Every case asserts the HTTP status, the exact problem type, a detail
// that names the fault and leaks nothing, a fresh Replay-Nonce that is then
// redeemed, and a store left exactly as it was. TestHostileInput runs all
// of it on the embedded bbolt store; TestHostileInputFirestore runs the
// cases marked firestore on the Firestore emulator.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/acmera/acmera/pkg/store/bolt"
)

// hostile is one catalogue case.
type hostile struct {
	name string
	// send makes the request. It may make earlier requests that change
	// nothing (a nonce, a read) before the one whose answer is checked.
	send func(f *fixture) *response
	// want is the expected answer; wantFn, when set, computes it after send
	// (for a case whose spec depends on what the server advertises).
	want   want
	wantFn func(f *fixture) want
	// check, when set, makes further assertions after the store snapshot.
	check func(f *fixture, r *response)
	// firestore marks the cases that also run on the Firestore stack.
	firestore bool
}

// want is an expected answer: a problem when typ is set, else success.
type want struct {
	status int
	typ    string   // problem type after urn:ietf:params:acme:error:
	has    []string // substrings the detail must contain
	hasNot []string // substrings it must not contain (beyond the leak list)
}

func bad(status int, typ string, has ...string) want { return want{status: status, typ: typ, has: has} }

// stack is one deployment under test: its handler and a way to read its
// whole store.
type stack struct {
	env *env
	// snapshot returns every stored key and value, except redeemed nonces.
	snapshot func(ctx context.Context) (map[string]string, error)
	// secrets are strings of the deployment no detail may contain (its
	// file paths, project ID).
	secrets []string
}

func boltStack(t *testing.T) *stack {
	dir := t.TempDir()
	st, err := bolt.Open(dir + "/acmera.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	snap := func(ctx context.Context) (map[string]string, error) {
		m, err := st.Snapshot(ctx)
		if err != nil {
			return nil, err
		}
		out := make(map[string]string, len(m))
		for k, v := range m {
			out[k] = string(v)
		}
		return out, nil
	}
	return &stack{env: newEnvOn(t, dir, st), snapshot: snap, secrets: []string{dir}}
}

// TestHostileInput runs the whole catalogue on the embedded stack.
func TestHostileInput(t *testing.T) {
	cases := catalogue()
	if len(cases) < 80 {
		t.Fatalf("the catalogue has %d cases, want at least 80", len(cases))
	}
	runCatalogue(t, boltStack(t), cases)
}

// runCatalogue builds the fixture on s and runs cases in order.
func runCatalogue(t *testing.T, s *stack, cases []hostile) {
	f := newFixture(t, s)
	f.checkSnapshotSees(t)
	seen := map[string]bool{}
	for _, tc := range cases {
		if seen[tc.name] {
			t.Fatalf("two cases are named %q", tc.name)
		}
		seen[tc.name] = true
		t.Run(tc.name, func(t *testing.T) { f.run(t, tc) })
	}
	t.Run("fixture still usable", func(t *testing.T) {
		f.bind(t)
		f.finalizeReady(t)
	})
}

// run sends one case and checks everything it promises.
func (f *fixture) run(t *testing.T, tc hostile) {
	f.bind(t)
	f.s.env.last.Store(nil)
	before := f.snap(t)
	r := tc.send(f)
	w := tc.want
	if tc.wantFn != nil {
		w = tc.wantFn(f)
	}
	sent := f.s.env.last.Load()
	t.Logf("%d %s %q", r.status, r.problem.Type, r.problem.Detail)
	f.checkAnswer(t, r, w, sent)
	if w.typ != "" {
		if diff := snapshotDiff(before, f.snap(t)); diff != "" {
			t.Errorf("the refused request changed the store (nonces excluded):\n%s", diff)
		}
	}
	if tc.check != nil {
		tc.check(f, r)
	}
	f.redeem(t, r, sent)
}

// checkSnapshotSees makes sure the snapshot is not vacuous: it holds the
// fixture's accounts, and a new account shows in it.
func (f *fixture) checkSnapshotSees(t *testing.T) {
	t.Helper()
	before := f.snap(t)
	found := false
	for k, v := range before {
		found = found || strings.Contains(k+v, lastSegment(f.a.kid))
	}
	if !found {
		t.Fatalf("the store snapshot (%d entries) does not hold account A", len(before))
	}
	f.client().register()
	if snapshotDiff(before, f.snap(t)) == "" {
		t.Fatal("the store snapshot does not show a new account")
	}
}

func (f *fixture) snap(t *testing.T) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m, err := f.s.snapshot(ctx)
	if err != nil {
		t.Fatalf("store snapshot: %v", err)
	}
	return m
}

// checkAnswer checks status, type, detail and the Replay-Nonce header.
func (f *fixture) checkAnswer(t *testing.T, r *response, w want, sent *sentRequest) {
	t.Helper()
	if w.typ == "" {
		if r.status != w.status {
			t.Errorf("got %d %s (%q), want %d", r.status, r.problem.Type, r.problem.Detail, w.status)
		}
	} else {
		if r.status != w.status || r.problem.Type != urn+w.typ {
			t.Errorf("got %d %s (%q), want %d %s", r.status, r.problem.Type, r.problem.Detail, w.status, w.typ)
		}
		if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
			t.Errorf("Content-Type %q, want application/problem+json", ct)
		}
		if r.problem.Status != 0 && r.problem.Status != r.status {
			t.Errorf("problem status %d differs from the HTTP status %d", r.problem.Status, r.status)
		}
		for _, h := range w.has {
			if !strings.Contains(r.problem.Detail, h) {
				t.Errorf("detail %q does not name the fault: no %q", r.problem.Detail, h)
			}
		}
		for _, h := range w.hasNot {
			if strings.Contains(r.problem.Detail, h) {
				t.Errorf("detail %q contains %q", r.problem.Detail, h)
			}
		}
		// Only a key change to a key in use names an account (RFC 8555
		// §7.3.5: 409 with the Location of the account holding it).
		if loc := r.header.Get("Location"); loc != "" && r.status != http.StatusConflict {
			t.Errorf("error response with Location %q", loc)
		}
		f.checkLeaks(t, r, sent)
	}
	n := r.header.Get("Replay-Nonce")
	if raw, err := base64.RawURLEncoding.Strict().DecodeString(n); err != nil || len(raw) != 32 {
		t.Errorf("Replay-Nonce %q is not 32 bytes of base64url", n)
	}
	if sentNonce(sent) == n {
		t.Errorf("Replay-Nonce %q is the nonce just sent", n)
	}
}

// leakMarks are texts of internal errors that no detail may carry: Go
// error prefixes, store and RPC errors, stack traces and source paths.
var leakMarks = []string{
	"json:", "x509:", "asn1:", "rpc error", "code = ", "bolt", "Bolt", "firestore", "Firestore",
	"go-jose", "jose:", "wfe:", "nonce:", "store.", "goroutine", "panic", ".go:", "runtime.",
	"/tmp/", "/home/", "/work/", "/usr/", "context deadline", "unexpected EOF", "%!",
	"[]uint8", "*ecdsa.", "*rsa.", "*ecdh.", "ed25519.", "big.Int",
}

// checkLeaks refuses a detail with internal error text, a deployment
// secret, or an internal ID of the fixture that the request did not name.
func (f *fixture) checkLeaks(t *testing.T, r *response, sent *sentRequest) {
	t.Helper()
	texts := []string{r.problem.Detail}
	for _, sp := range r.problem.Subproblems {
		texts = append(texts, sp.Detail)
	}
	named := sentText(sent)
	for _, d := range texts {
		for _, m := range slices.Concat(leakMarks, f.s.secrets) {
			if strings.Contains(d, m) {
				t.Errorf("detail %q leaks internals (%q)", d, m)
			}
		}
		for _, id := range f.ids {
			if strings.Contains(d, id) && !strings.Contains(named, id) {
				t.Errorf("detail %q names the internal ID %s, which the request did not", d, id)
			}
		}
	}
}

// sentText is what the client sent, decoded: URL, body, and the protected
// header and payload of the JWS (and of an inner JWS in the payload).
func sentText(s *sentRequest) string {
	if s == nil {
		return ""
	}
	var b strings.Builder
	b.WriteString(s.url)
	b.Write(s.body)
	var walk func(body []byte, depth int)
	walk = func(body []byte, depth int) {
		var m map[string]any
		if depth > 2 || json.Unmarshal(body, &m) != nil {
			return
		}
		for _, k := range []string{"protected", "payload"} {
			v, _ := m[k].(string)
			dec, err := base64.RawURLEncoding.DecodeString(v)
			if err != nil {
				continue
			}
			b.Write(dec)
			walk(dec, depth+1)
		}
	}
	walk(s.body, 0)
	return b.String()
}

// sentNonce is the nonce of the request's protected header, if any.
func sentNonce(s *sentRequest) string {
	if s == nil {
		return ""
	}
	var m struct{ Protected string }
	if json.Unmarshal(s.body, &m) != nil {
		return ""
	}
	raw, err := base64.RawURLEncoding.DecodeString(m.Protected)
	if err != nil {
		return ""
	}
	var h struct{ Nonce string }
	json.Unmarshal(raw, &h)
	return h.Nonce
}

// redeem uses the answer's Replay-Nonce for a POST-as-GET of account A,
// which must succeed: the nonce of an error response is usable.
func (f *fixture) redeem(t *testing.T, r *response, sent *sentRequest) {
	t.Helper()
	n := r.header.Get("Replay-Nonce")
	if n == "" {
		return
	}
	h := map[string]any{"alg": "ES256", "nonce": n, "url": f.a.kid, "kid": f.a.kid}
	if got := f.a.post(f.a.kid, h, nil); got.status != http.StatusOK {
		t.Errorf("redeeming the answer's Replay-Nonce: %d %s %q", got.status, got.problem.Type, got.problem.Detail)
	}
}

func decodeProblem(t *testing.T, r *response) {
	t.Helper()
	if err := json.Unmarshal(r.body, &r.problem); err != nil {
		t.Fatalf("problem body %q: %v", r.body, err)
	}
}

// snapshotDiff describes how two snapshots differ; empty when equal.
func snapshotDiff(before, after map[string]string) string {
	var lines []string
	for k, v := range after {
		old, ok := before[k]
		switch {
		case !ok:
			lines = append(lines, fmt.Sprintf("  added   %q = %.120q", k, v))
		case old != v:
			lines = append(lines, fmt.Sprintf("  changed %q: %.120q -> %.120q", k, old, v))
		}
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			lines = append(lines, fmt.Sprintf("  removed %q", k))
		}
	}
	slices.Sort(lines)
	if len(lines) > 20 {
		lines = append(lines[:20], fmt.Sprintf("  ... and %d more", len(lines)-20))
	}
	return strings.Join(lines, "\n")
}

// catalogue is the whole table, in the order it runs.
func catalogue() []hostile {
	return slices.Concat(jwsCases(), jwsAlgCases(), jwsKeyCases(), nonceCases(), accountKeyCases(), contactCases(),
		keyChangeCases(), orderCases(), orderRequestCases(), foreignCases(), csrCases(), revokeCases(), unknownCases())
}

// mutate re-encodes a flattened JWS after fn changed its members.
func mutate(body []byte, fn func(m map[string]any)) []byte {
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		panic(err)
	}
	fn(m)
	out, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return out
}

// replaceOnce replaces the first old in s with new, failing loudly when
// old is absent, so a hand-made duplicate member cannot silently vanish.
func replaceOnce(s []byte, old, new string) []byte {
	if !bytes.Contains(s, []byte(old)) {
		panic(fmt.Sprintf("%q not in %q", old, s))
	}
	return bytes.Replace(s, []byte(old), []byte(new), 1)
}
