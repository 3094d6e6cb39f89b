package e2ecloud

import (
	"bytes"
	"context"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/acme"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/acmera/acmera/pkg/queue"
	"github.com/acmera/acmera/scripts/fakegcp/casfake"
	"github.com/acmera/acmera/scripts/fakegcp/tasksfake"
	"github.com/acmera/acmera/scripts/internal/e2eutil"
)

// inprocGCP runs the CAS and Cloud Tasks fakes in this process, so the
// test can mint tokens with the tasks fake's key.
func inprocGCP(t *testing.T) (*tasksfake.Server, gcpEndpoints) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	cas, err := casfake.New(casfake.Config{})
	mustf(t, err, "casfake.New")
	casLn, err := net.Listen("tcp", "127.0.0.1:0")
	mustf(t, err, "net.Listen")
	casSrv := cas.Serve(casLn)
	t.Cleanup(casSrv.Stop)
	tasks, err := tasksfake.New(ctx, tasksfake.Config{AutoCreateQueues: true})
	mustf(t, err, "tasksfake.New")
	t.Cleanup(tasks.Close)
	tasksLn, err := net.Listen("tcp", "127.0.0.1:0")
	mustf(t, err, "net.Listen")
	g := grpc.NewServer()
	tasks.Register(g)
	go func() { _ = g.Serve(tasksLn) }()
	t.Cleanup(g.Stop)
	jwks := httptest.NewServer(tasks.JWKSHandler())
	t.Cleanup(jwks.Close)
	return tasks, gcpEndpoints{CAS: casLn.Addr().String(), Tasks: tasksLn.Addr().String(), JWKSURL: jwks.URL}
}

// TestValidatorRefusals sends a valid validation task for a challenge that
// is processing (and whose http-01 response is published, so running the
// task would make it valid) to the Validate process without a token, and
// with tokens for another audience, another service account, expired, or
// signed by another key. Each must be refused with 401 or 403 and change
// nothing: the challenge stays processing and is never fetched. A call
// with a valid token then validates it, proving the body was good.
func TestValidatorRefusals(t *testing.T) {
	t.Parallel()
	needEmulator(t)
	tasks, gcp := inprocGCP(t)
	s := newStack(t, gcp)
	ctx := e2eutil.TestContext(t, time.Minute)
	cl, err := newClient(s.DirURL, nil)
	mustf(t, err, "newClient")
	mustf(t, register(ctx, cl), "register")
	z, ch := processingWithoutTask(t, ctx, s, cl, tasks)
	authzID, challID := answered{Authz: z, Challenge: ch}.IDs()
	body, err := queue.Task{Kind: queue.KindValidate, Profile: "acme", AuthzID: authzID, ChallengeID: challID}.Encode()
	mustf(t, err, "Task.Encode")

	other, err := tasksfake.New(ctx, tasksfake.Config{})
	mustf(t, err, "tasksfake.New (another key)")
	defer other.Close()
	good := tasks.OIDCClaims(serviceAccount, s.ValidatorURL())
	with := func(edit func(map[string]any)) map[string]any { c := maps.Clone(good); edit(c); return c }
	now := time.Now()
	for i, tc := range []struct {
		name   string
		signer *tasksfake.Server
		claims map[string]any // nil: no Authorization header
		want   int
		reason string // what the Validate process logs
	}{
		{"no token", nil, nil, http.StatusUnauthorized, "no bearer token"},
		{"another audience", tasks, with(func(c map[string]any) { c["aud"] = "https://other.example/" }), http.StatusForbidden,
			`audience ["https://other.example/"] is not ours`},
		{"another service account", tasks, with(func(c map[string]any) { c["email"] = "intruder@acmera-test.iam.gserviceaccount.com" }), http.StatusForbidden,
			`service account "intruder@acmera-test.iam.gserviceaccount.com" is not allowed`},
		{"expired", tasks, with(func(c map[string]any) {
			c["iat"], c["exp"] = now.Add(-2*time.Hour).Unix(), now.Add(-time.Hour).Unix()
		}), http.StatusUnauthorized, "token expired"},
		{"signed by another key", other, good, http.StatusUnauthorized, "unknown key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := "refusal-" + strconv.Itoa(i)
			if got := postTask(t, s, tc.signer, tc.claims, body, name); got != tc.want {
				t.Errorf("status %d, want %d", got, tc.want)
			}
			ev := s.Validate.waitLogEvents(ctx, "task call refused", 1, func(ev map[string]any) bool { return ev["task"] == name })[0]
			if reason, _ := ev["reason"].(string); ev["status"] != float64(tc.want) || !strings.Contains(reason, tc.reason) ||
				strings.Contains(reason, "eyJ") {
				t.Errorf("logged %v, want status %d and a reason with %q and no token", ev, tc.want, tc.reason)
			}
			assertStillProcessing(t, ctx, s, cl, z, ch)
		})
	}
	t.Run("valid token (control)", func(t *testing.T) {
		tasks.FailNext("CreateTask", 0, codes.OK)
		if got := postTask(t, s, tasks, good, body, "control"); got/100 != 2 {
			t.Fatalf("status %d, want 2xx", got)
		}
		if _, err := cl.WaitAuthorization(ctx, z.URI); err != nil {
			t.Fatalf("WaitAuthorization after the accepted task: %v", err)
		}
		if h := s.HTTP01.Hits(ch.Token); h != 1 {
			t.Errorf("http-01 token fetched %d times, want 1", h)
		}
	})
}

// processingWithoutTask orders a name, publishes its http-01 response and
// answers the challenge while the Cloud Tasks fake refuses CreateTask: the
// challenge is left processing with no task queued. CreateTask keeps
// failing until the caller resets it.
func processingWithoutTask(t *testing.T, ctx context.Context, s *stack, cl *acme.Client, tasks *tasksfake.Server) (*acme.Authorization, *acme.Challenge) {
	t.Helper()
	o, err := cl.AuthorizeOrder(ctx, acme.DomainIDs("refusals.example.test"))
	mustf(t, err, "AuthorizeOrder")
	z, err := cl.GetAuthorization(ctx, o.AuthzURLs[0])
	mustf(t, err, "GetAuthorization")
	ch, err := e2eutil.FindChallenge(z, "http-01")
	mustf(t, err, "findChallenge")
	mustf(t, s.Present(cl, z, ch), "present")
	// CreateTask keeps failing until the caller's control step: polling
	// the authorization re-queues a processing challenge's validation, which
	// must not reach the validator while the refusals are checked.
	tasks.FailNext("CreateTask", 1000, codes.PermissionDenied)
	backoff := cl.RetryBackoff
	cl.RetryBackoff = func(int, *http.Request, *http.Response) time.Duration { return 0 }
	_, err = cl.Accept(ctx, ch)
	cl.RetryBackoff = backoff
	if err == nil {
		t.Fatalf("Accept succeeded although CreateTask failed; the test needs a challenge left processing without a task")
	}
	z, err = cl.GetAuthorization(ctx, z.URI)
	mustf(t, err, "GetAuthorization")
	if c := challengeOf(z, ch.URI); z.Status != acme.StatusPending || c.Status != acme.StatusProcessing {
		t.Fatalf("after Accept with CreateTask failing: authorization %s, challenge %s; want pending, processing", z.Status, c.Status)
	}
	if n := tasks.Stats().Deliveries; n != 0 {
		t.Fatalf("the tasks fake delivered %d tasks, want none", n)
	}
	return z, ch
}

// postTask POSTs a task body to the Validate process with a bearer token
// minted by signer for claims (none when claims is nil), named taskName as
// Cloud Tasks names its deliveries.
func postTask(t *testing.T, s *stack, signer *tasksfake.Server, claims map[string]any, body []byte, taskName string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.ValidatorURL(), bytes.NewReader(body))
	mustf(t, err, "http.NewRequest")
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Google-Cloud-Tasks")
	req.Header.Set("X-CloudTasks-TaskName", taskName)
	if claims != nil {
		tok, err := signer.MintToken(claims)
		mustf(t, err, "MintToken")
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	res, err := e2eutil.HTTPClient(nil).Do(req)
	mustf(t, err, "POST %s", s.ValidatorURL())
	res.Body.Close()
	return res.StatusCode
}

// assertStillProcessing checks that nothing happened to the challenge: it
// is still processing, its response was never fetched, and the Validate
// process logged no validation.
func assertStillProcessing(t *testing.T, ctx context.Context, s *stack, cl *acme.Client, z *acme.Authorization, ch *acme.Challenge) {
	t.Helper()
	got, err := cl.GetAuthorization(ctx, z.URI)
	mustf(t, err, "GetAuthorization")
	if c := challengeOf(got, ch.URI); got.Status != acme.StatusPending || c.Status != acme.StatusProcessing {
		t.Errorf("authorization %s, challenge %s; want pending, processing (unchanged)", got.Status, c.Status)
	}
	if h := s.HTTP01.Hits(ch.Token); h != 0 {
		t.Errorf("http-01 token fetched %d times, want 0", h)
	}
	if n := len(logEvents(t, s.Validate.Log(), "challenge validated")); n != 0 {
		t.Errorf("the Validate process logged %d validations, want 0", n)
	}
}
