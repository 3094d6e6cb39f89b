package e2ecloud

import (
	"context"
	"crypto/x509"
	"testing"
	"time"

	gcloudtasks "cloud.google.com/go/cloudtasks/apiv2"
	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"golang.org/x/crypto/acme"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/acmera/acmera/pkg/queue"
	"github.com/acmera/acmera/scripts/internal/e2eutil"
)

// deliveryWait bounds waiting for the Cloud Tasks fake to deliver a task.
const deliveryWait = 20 * time.Second

// TestFaults injects faults into the Google fakes under a running stack
// and checks that each changes nothing observable but latency:
// CAS CreateCertificate failing Unavailable three times (the order still
// ends valid with one certificate minted), a duplicate task delivery (the
// challenge's result is recorded once), and tasks delivered after their
// work completed (a validation task for a valid challenge, a finalize task
// for a valid order: nothing changes, nothing is minted).
func TestFaults(t *testing.T) {
	t.Parallel()
	needEmulator(t)
	gcp := startFakeGCP(t)
	s := newStack(t, gcp.gcpEndpoints)
	f := &faultRun{s: s, gcp: gcp, roots: gcp.Roots(t), ctx: e2eutil.TestContext(t, 2*time.Minute)}
	var err error
	f.cl, err = newClient(s.DirURL, nil)
	mustf(t, err, "newClient")
	mustf(t, register(f.ctx, f.cl), "register")
	t.Run("CAS Unavailable x3", f.casUnavailable)
	var done *issued
	t.Run("duplicate delivery", func(t *testing.T) { done = f.duplicate(t) })
	t.Run("late delivery after completion", func(t *testing.T) {
		if done == nil {
			t.Skip("needs the order of the duplicate-delivery subtest")
		}
		f.late(t, done)
	})
}

// faultRun is the stack and client the fault subtests share.
type faultRun struct {
	s     *stack
	gcp   *fakeGCP
	cl    *acme.Client
	roots *x509.CertPool
	ctx   context.Context
}

// casUnavailable: the CA fails three times, the CAS issuer retries, and
// the order ends valid with one certificate minted.
func (f *faultRun) casUnavailable(t *testing.T) {
	before := f.gcp.Stats(t)
	f.gcp.Post(t, "/fail?service=cas&method=CreateCertificate&n=3&code=14")
	if _, err := f.s.issue(f.ctx, f.cl, f.roots, []string{"cas-unavailable.example.test"}, "http-01"); err != nil {
		t.Fatal(err)
	}
	after := f.gcp.Stats(t)
	if calls := after.CAS["CreateCertificate"] - before.CAS["CreateCertificate"]; calls != 4 {
		t.Errorf("%d CreateCertificate calls, want 4 (3 injected failures, then one success)", calls)
	}
	if minted := after.Minted - before.Minted; minted != 1 {
		t.Errorf("%d certificates minted, want 1", minted)
	}
}

// duplicate: the validation task is delivered twice; the challenge is
// validated and recorded once.
func (f *faultRun) duplicate(t *testing.T) *issued {
	before := f.gcp.Stats(t)
	f.gcp.Post(t, "/duplicate?n=1")
	is, err := f.s.issue(f.ctx, f.cl, f.roots, []string{"duplicate.example.test"}, "http-01")
	if err != nil {
		t.Fatal(err)
	}
	waitStats(t, e2eutil.TestContext(t, deliveryWait), f.gcp, "the duplicate delivery", func(st gcpStats) bool {
		return st.Tasks.Duplicates == before.Tasks.Duplicates+1
	})
	checkUnchanged(t, f.s, f.cl, is, 1)
	if m := f.gcp.Stats(t).Minted - before.Minted; m != 1 {
		t.Errorf("%d certificates minted, want 1", m)
	}
	return is
}

// late: after the order is valid, the same validation task name is
// refused by Cloud Tasks, and the same work under new names (a validation
// and a finalize retry) is delivered, answered 2xx, and changes nothing.
func (f *faultRun) late(t *testing.T, done *issued) {
	before := f.gcp.Stats(t)
	ch := done.Answered[0]
	authzID, challID := ch.IDs()
	z, err := f.cl.GetAuthorization(f.ctx, ch.Authz.URI)
	mustf(t, err, "GetAuthorization")
	validated := challengeOf(z, ch.Challenge.URI).Validated
	tasks := tasksClient(t, f.ctx, f.gcp)
	validate := queue.Task{Kind: queue.KindValidate, Profile: "acme", AuthzID: authzID, ChallengeID: challID}
	if err := createTask(f.ctx, tasks, f.s, validate.Name(), validate); status.Code(err) != codes.AlreadyExists {
		t.Errorf("CreateTask %s again: %v, want AlreadyExists", validate.Name(), err)
	}
	mustf(t, createTask(f.ctx, tasks, f.s, "late-"+validate.Name(), validate), "CreateTask late validate")
	fin := queue.Task{Kind: queue.KindFinalize, Profile: "acme", OrderID: lastSegment(done.Order.URI)}
	mustf(t, createTask(f.ctx, tasks, f.s, "late-"+fin.Name(), fin), "CreateTask late finalize")
	waitStats(t, e2eutil.TestContext(t, deliveryWait), f.gcp, "two late tasks succeeded", func(st gcpStats) bool {
		return st.Tasks.Succeeded >= before.Tasks.Succeeded+2
	})
	after := f.gcp.Stats(t)
	// At least the two late tasks succeeded at the first attempt; the
	// outbox finalize tasks of earlier orders (due ACMERA_FINALIZE_RETRY_DELAY
	// after their finalize) may succeed in the same window, as no-ops.
	if after.Tasks.Retries != before.Tasks.Retries || after.Tasks.Succeeded < before.Tasks.Succeeded+2 || after.Tasks.Failed != before.Tasks.Failed {
		t.Errorf("late tasks: stats %+v -> %+v; want two first-attempt successes and no failure", before.Tasks, after.Tasks)
	}
	if after.Minted != before.Minted || after.CAS["CreateCertificate"] != before.CAS["CreateCertificate"] {
		t.Errorf("a late finalize task reached the CA: CAS %v/%d -> %v/%d", before.CAS, before.Minted, after.CAS, after.Minted)
	}
	checkUnchanged(t, f.s, f.cl, done, 1)
	z, err = f.cl.GetAuthorization(f.ctx, ch.Authz.URI)
	mustf(t, err, "GetAuthorization")
	if v := challengeOf(z, ch.Challenge.URI).Validated; !v.Equal(validated) {
		t.Errorf("challenge validated time changed from %s to %s", validated, v)
	}
}

// checkUnchanged asserts that is's challenge was validated exactly
// wantEvents times by the Validate process and fetched that many times,
// that its authorization is valid and its order valid with a certificate.
func checkUnchanged(t *testing.T, s *stack, cl *acme.Client, is *issued, wantEvents int) {
	t.Helper()
	ch := is.Answered[0]
	authzID, challID := ch.IDs()
	n := 0
	for _, e := range logEvents(t, s.Validate.Log(), "challenge validated") {
		if e["authz"] == authzID && e["challenge"] == "http-01" {
			n++
		}
	}
	if n != wantEvents {
		t.Errorf("challenge %s/%s: %d validation events in the Validate log, want %d", authzID, challID, n, wantEvents)
	}
	if h := s.HTTP01.Hits(ch.Challenge.Token); h != wantEvents {
		t.Errorf("http-01 token fetched %d times, want %d", h, wantEvents)
	}
	ctx := e2eutil.TestContext(t, 30*time.Second)
	z, err := cl.GetAuthorization(ctx, ch.Authz.URI)
	mustf(t, err, "GetAuthorization")
	if c := challengeOf(z, ch.Challenge.URI); z.Status != acme.StatusValid || c == nil || c.Status != acme.StatusValid {
		t.Errorf("authorization %s, challenge %+v; want both valid", z.Status, c)
	}
	o, err := cl.GetOrder(ctx, is.Order.URI)
	mustf(t, err, "GetOrder")
	if o.Status != acme.StatusValid || o.CertURL == "" {
		t.Errorf("order %s (certificate %q), want valid with a certificate", o.Status, o.CertURL)
	}
}

func challengeOf(z *acme.Authorization, uri string) *acme.Challenge {
	for _, c := range z.Challenges {
		if c.URI == uri {
			return c
		}
	}
	return &acme.Challenge{}
}

func lastSegment(u string) string {
	for i := len(u) - 1; i >= 0; i-- {
		if u[i] == '/' {
			return u[i+1:]
		}
	}
	return u
}

// tasksClient is the real Cloud Tasks client, talking to the fake.
func tasksClient(t *testing.T, ctx context.Context, gcp *fakeGCP) *gcloudtasks.Client {
	t.Helper()
	c, err := gcloudtasks.NewClient(ctx, option.WithEndpoint(gcp.Tasks), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	mustf(t, err, "cloudtasks.NewClient")
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// createTask creates an HTTP task for the validator exactly as
// pkg/queue/cloudtasks does, under the given task ID.
func createTask(ctx context.Context, c *gcloudtasks.Client, s *stack, id string, task queue.Task) error {
	body, err := task.Encode()
	if err != nil {
		return err
	}
	_, err = c.CreateTask(ctx, &cloudtaskspb.CreateTaskRequest{
		Parent: tasksQueue,
		Task: &cloudtaskspb.Task{
			Name: tasksQueue + "/tasks/" + id,
			MessageType: &cloudtaskspb.Task_HttpRequest{HttpRequest: &cloudtaskspb.HttpRequest{
				Url: s.ValidatorURL(), HttpMethod: cloudtaskspb.HttpMethod_POST,
				Headers: map[string]string{"Content-Type": "application/json"}, Body: body,
				AuthorizationHeader: &cloudtaskspb.HttpRequest_OidcToken{OidcToken: &cloudtaskspb.OidcToken{
					ServiceAccountEmail: serviceAccount, Audience: s.ValidatorURL()}},
			}},
		},
	})
	return err
}
