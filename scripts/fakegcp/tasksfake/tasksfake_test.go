package tasksfake_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/acmera/acmera/scripts/fakegcp/tasksfake"
)

func TestQueueRPCs(t *testing.T) {
	_, c := startFake(t, tasksfake.Config{})
	ctx := context.Background()
	if _, err := c.GetQueue(ctx, &cloudtaskspb.GetQueueRequest{Name: queueName}); status.Code(err) != codes.NotFound {
		t.Fatalf("GetQueue before create: %v, want NotFound", err)
	}
	createQueue(t, c, queueName, 3, nil)
	q, err := c.GetQueue(ctx, &cloudtaskspb.GetQueueRequest{Name: queueName})
	if err != nil {
		t.Fatalf("GetQueue: %v", err)
	}
	if q.GetRetryConfig().GetMaxAttempts() != 3 || q.GetRetryConfig().GetMaxDoublings() != 16 ||
		q.GetRateLimits().GetMaxConcurrentDispatches() != 1000 || q.GetState() != cloudtaskspb.Queue_RUNNING {
		t.Errorf("GetQueue = %v, want max_attempts 3 and service defaults", q)
	}
	tests := []struct {
		name   string
		parent string
		queue  string
		want   codes.Code
	}{
		{"duplicate", location, queueName, codes.AlreadyExists},
		{"bad parent", "projects/p1", queueName, codes.InvalidArgument},
		{"queue outside parent", location, "projects/p2/locations/x/queues/q", codes.InvalidArgument},
		{"bad queue id", location, location + "/queues/bad_id", codes.InvalidArgument},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.CreateQueue(ctx, &cloudtaskspb.CreateQueueRequest{
				Parent: tc.parent, Queue: &cloudtaskspb.Queue{Name: tc.queue},
			})
			if status.Code(err) != tc.want {
				t.Errorf("CreateQueue = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestCreateTaskRefusals(t *testing.T) {
	_, c := startFake(t, tasksfake.Config{})
	createQueue(t, c, queueName, 3, nil)
	ctx := context.Background()
	appEngine := &cloudtaskspb.Task{MessageType: &cloudtaskspb.Task_AppEngineHttpRequest{
		AppEngineHttpRequest: &cloudtaskspb.AppEngineHttpRequest{RelativeUri: "/x"}}}
	tests := []struct {
		name   string
		parent string
		task   *cloudtaskspb.Task
		want   codes.Code
	}{
		{"missing queue", location + "/queues/nope", httpTask("", "http://127.0.0.1:1/", ""), codes.NotFound},
		{"no task", queueName, nil, codes.InvalidArgument},
		{"app engine task", queueName, appEngine, codes.InvalidArgument},
		{"relative url", queueName, httpTask("", "/validate", ""), codes.InvalidArgument},
		{"task in another queue", queueName, httpTask(location+"/queues/q2/tasks/a", "http://127.0.0.1:1/", ""), codes.InvalidArgument},
		{"bad task id", queueName, httpTask(queueName+"/tasks/a.b", "http://127.0.0.1:1/", ""), codes.InvalidArgument},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.CreateTask(ctx, &cloudtaskspb.CreateTaskRequest{Parent: tc.parent, Task: tc.task})
			if status.Code(err) != tc.want {
				t.Errorf("CreateTask = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestDeliveryHeadersAndToken(t *testing.T) {
	fake, c := startFake(t, tasksfake.Config{})
	createQueue(t, c, queueName, 3, nil)
	tg := newTarget(t)
	url := tg.srv.URL + "/validate"
	created, err := c.CreateTask(context.Background(), &cloudtaskspb.CreateTaskRequest{
		Parent: queueName, Task: httpTask("", url, `{"kind":"validate"}`),
	})
	if err != nil {
		t.Fatalf("CreateTask: %v", err)
	}
	id := created.GetName()[strings.LastIndex(created.GetName(), "/")+1:]
	if !strings.HasPrefix(created.GetName(), queueName+"/tasks/") || len(id) != 20 {
		t.Errorf("generated name %q, want %s/tasks/<20 digits>", created.GetName(), queueName)
	}
	if len(created.GetHttpRequest().GetBody()) != 0 {
		t.Errorf("BASIC view returned a body")
	}
	d := tg.waitFor(t, 1, 5*time.Second)[0]
	for k, want := range map[string]string{
		"X-Cloudtasks-Queuename": "q1", "X-Cloudtasks-Taskname": id,
		"X-Cloudtasks-Taskretrycount": "0", "X-Cloudtasks-Taskexecutioncount": "0",
		"Content-Type": "application/json", "User-Agent": "Google-Cloud-Tasks",
	} {
		if got := d.header.Get(k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	eta, err := strconv.ParseFloat(d.header.Get("X-Cloudtasks-Tasketa"), 64)
	want := float64(created.GetScheduleTime().AsTime().UnixMicro()) / 1e6
	if err != nil || eta < want-0.001 || eta > want+0.001 {
		t.Errorf("ETA header %q, want %.6f (schedule_time)", d.header.Get("X-Cloudtasks-Tasketa"), want)
	}
	if string(d.body) != `{"kind":"validate"}` {
		t.Errorf("body = %q", d.body)
	}
	claims := verifyWithJWKS(t, fake, strings.TrimPrefix(d.header.Get("Authorization"), "Bearer "))
	if claims["aud"] != url || claims["email"] != saEmail || claims["email_verified"] != true || claims["iss"] != tasksfake.Issuer {
		t.Errorf("claims = %v, want aud=target URL, email=%s", claims, saEmail)
	}
	exp, iat := claims["exp"].(float64), claims["iat"].(float64)
	if exp-iat != 3600 {
		t.Errorf("token lifetime %v s, want 3600", exp-iat)
	}
	waitStats(t, fake, func(s tasksfake.Stats) bool { return s.Succeeded == 1 })
	if _, err := c.GetTask(context.Background(), &cloudtaskspb.GetTaskRequest{Name: created.GetName()}); status.Code(err) != codes.NotFound {
		t.Errorf("GetTask after completion = %v, want NotFound", err)
	}
}

// verifyWithJWKS checks a token against the fake's published JWKS and
// returns its claims.
func verifyWithJWKS(t *testing.T, fake *tasksfake.Server, raw string) map[string]any {
	t.Helper()
	rec := httptest.NewRecorder()
	fake.JWKSHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/jwks", nil))
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(rec.Body.Bytes(), &set); err != nil {
		t.Fatalf("JWKS: %v", err)
	}
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatalf("ParseSigned: %v", err)
	}
	keys := set.Key(tok.Headers[0].KeyID)
	if len(keys) != 1 || keys[0].KeyID != fake.KeyID() {
		t.Fatalf("JWKS has no key %q", tok.Headers[0].KeyID)
	}
	var claims map[string]any
	if err := tok.Claims(keys[0].Key, &claims); err != nil {
		t.Fatalf("signature: %v", err)
	}
	return claims
}

func TestRetriesThenSuccess(t *testing.T) {
	fake, c := startFake(t, tasksfake.Config{})
	createQueue(t, c, queueName, 5, nil)
	tg := newTarget(t, 500, 503)
	if _, err := c.CreateTask(context.Background(), &cloudtaskspb.CreateTaskRequest{
		Parent: queueName, Task: httpTask(queueName+"/tasks/t1", tg.srv.URL, "{}"),
	}); err != nil {
		t.Fatalf("CreateTask: %v", err)
	}
	got := tg.waitFor(t, 3, 5*time.Second)
	for i, d := range got {
		if n := atoi(t, d.header.Get("X-Cloudtasks-Taskretrycount")); n != i {
			t.Errorf("delivery %d retry count %d, want %d", i, n, i)
		}
		if n := atoi(t, d.header.Get("X-Cloudtasks-Taskexecutioncount")); n != i {
			t.Errorf("delivery %d execution count %d, want %d", i, n, i)
		}
	}
	if gap := got[1].at.Sub(got[0].at); gap < 15*time.Millisecond {
		t.Errorf("first retry after %v, want >= min_backoff 20ms", gap)
	}
	st := waitStats(t, fake, func(s tasksfake.Stats) bool { return s.Succeeded == 1 })
	if st.Deliveries != 3 || st.Retries != 2 || st.Failed != 0 {
		t.Errorf("stats = %+v, want 3 deliveries, 2 retries", st)
	}
}

func TestExhaustedTaskIsDroppedAndNameStaysTaken(t *testing.T) {
	fake, c := startFake(t, tasksfake.Config{})
	createQueue(t, c, queueName, 2, nil)
	// A closed port: every attempt is a connection error.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + lis.Addr().String() + "/"
	lis.Close()
	ctx := context.Background()
	req := &cloudtaskspb.CreateTaskRequest{Parent: queueName, Task: httpTask(queueName+"/tasks/gone", dead, "{}")}
	if _, err := c.CreateTask(ctx, req); err != nil {
		t.Fatalf("CreateTask: %v", err)
	}
	st := waitStats(t, fake, func(s tasksfake.Stats) bool { return s.Failed == 1 })
	if st.Deliveries != 2 || st.Retries != 1 {
		t.Errorf("stats = %+v, want 2 attempts then drop", st)
	}
	if _, err := c.CreateTask(ctx, req); status.Code(err) != codes.AlreadyExists {
		t.Errorf("reuse of a dropped task's name = %v, want AlreadyExists", err)
	}
}

func TestScheduleTimeAndDelete(t *testing.T) {
	fake, c := startFake(t, tasksfake.Config{})
	createQueue(t, c, queueName, 3, nil)
	tg := newTarget(t)
	ctx := context.Background()
	eta := time.Now().Add(300 * time.Millisecond)
	later := httpTask(queueName+"/tasks/later", tg.srv.URL, "{}")
	later.ScheduleTime = timestamppb.New(eta)
	if _, err := c.CreateTask(ctx, &cloudtaskspb.CreateTaskRequest{Parent: queueName, Task: later}); err != nil {
		t.Fatalf("CreateTask: %v", err)
	}
	never := httpTask(queueName+"/tasks/never", tg.srv.URL, "{}")
	never.ScheduleTime = timestamppb.New(time.Now().Add(time.Hour))
	if _, err := c.CreateTask(ctx, &cloudtaskspb.CreateTaskRequest{Parent: queueName, Task: never}); err != nil {
		t.Fatalf("CreateTask: %v", err)
	}
	got, err := c.GetTask(ctx, &cloudtaskspb.GetTaskRequest{Name: never.Name, ResponseView: cloudtaskspb.Task_FULL})
	if err != nil || string(got.GetHttpRequest().GetBody()) != "{}" {
		t.Fatalf("GetTask FULL = %v, %v; want the body", got, err)
	}
	if err := c.DeleteTask(ctx, &cloudtaskspb.DeleteTaskRequest{Name: never.Name}); err != nil {
		t.Fatalf("DeleteTask: %v", err)
	}
	if err := c.DeleteTask(ctx, &cloudtaskspb.DeleteTaskRequest{Name: never.Name}); status.Code(err) != codes.NotFound {
		t.Errorf("second DeleteTask = %v, want NotFound", err)
	}
	if _, err := c.CreateTask(ctx, &cloudtaskspb.CreateTaskRequest{Parent: queueName, Task: never}); status.Code(err) != codes.AlreadyExists {
		t.Errorf("recreate deleted name = %v, want AlreadyExists", err)
	}
	d := tg.waitFor(t, 1, 5*time.Second)
	if d[0].at.Before(eta) {
		t.Errorf("delivered at %v, before schedule_time %v", d[0].at, eta)
	}
	time.Sleep(50 * time.Millisecond)
	if n := len(tg.deliveries()); n != 1 {
		t.Errorf("%d deliveries, want 1 (deleted task must not run)", n)
	}
	if st := fake.Stats(); st.CreateTask != 3 || st.AlreadyExists != 1 {
		t.Errorf("stats = %+v", st)
	}
}

func TestFaultInjection(t *testing.T) {
	fake, c := startFake(t, tasksfake.Config{})
	createQueue(t, c, queueName, 3, nil)
	tg := newTarget(t)
	ctx := context.Background()
	fake.FailNext("CreateTask", 1, codes.Unavailable)
	fake.DuplicateDelivery(1)
	first := &cloudtaskspb.CreateTaskRequest{Parent: queueName, Task: httpTask(queueName+"/tasks/a", tg.srv.URL, "{}")}
	if _, err := c.CreateTask(ctx, first); status.Code(err) != codes.Unavailable {
		t.Fatalf("CreateTask with injected fault = %v, want Unavailable", err)
	}
	for _, id := range []string{"a", "b"} {
		req := &cloudtaskspb.CreateTaskRequest{Parent: queueName, Task: httpTask(queueName+"/tasks/"+id, tg.srv.URL, "{}")}
		if _, err := c.CreateTask(ctx, req); err != nil {
			t.Fatalf("CreateTask %s: %v", id, err)
		}
	}
	tg.waitFor(t, 3, 5*time.Second)
	waitStats(t, fake, func(s tasksfake.Stats) bool { return s.Succeeded == 2 })
	count := map[string]int{}
	for _, d := range tg.deliveries() {
		count[d.header.Get("X-Cloudtasks-Taskname")]++
	}
	if count["a"] != 2 || count["b"] != 1 {
		t.Errorf("deliveries per task = %v, want a twice, b once", count)
	}
	if st := fake.Stats(); st.Duplicates != 1 || st.Deliveries != 3 || st.CreateTask != 3 {
		t.Errorf("stats = %+v", st)
	}
}

func TestMaxConcurrentDispatches(t *testing.T) {
	fake, c := startFake(t, tasksfake.Config{Workers: 4})
	createQueue(t, c, queueName, 3, &cloudtaskspb.RateLimits{MaxConcurrentDispatches: 1})
	tg := newTarget(t)
	tg.hold = 30 * time.Millisecond
	for _, id := range []string{"a", "b", "c"} {
		req := &cloudtaskspb.CreateTaskRequest{Parent: queueName, Task: httpTask(queueName+"/tasks/"+id, tg.srv.URL, "{}")}
		if _, err := c.CreateTask(context.Background(), req); err != nil {
			t.Fatalf("CreateTask: %v", err)
		}
	}
	waitStats(t, fake, func(s tasksfake.Stats) bool { return s.Succeeded == 3 })
	tg.mu.Lock()
	defer tg.mu.Unlock()
	if tg.peak != 1 {
		t.Errorf("peak concurrency %d, want 1", tg.peak)
	}
}

func TestJWKSHandlerAndMintToken(t *testing.T) {
	fake, _ := startFake(t, tasksfake.Config{})
	srv := httptest.NewServer(fake.JWKSHandler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" || !strings.Contains(string(body), fake.KeyID()) {
		t.Errorf("JWKS response %s %q lacks kid %s", ct, body, fake.KeyID())
	}
	claims := fake.OIDCClaims(saEmail, "aud-x")
	claims["email"] = "other@example.com"
	tok, err := fake.MintToken(claims)
	if err != nil {
		t.Fatal(err)
	}
	if got := verifyWithJWKS(t, fake, tok); got["email"] != "other@example.com" || got["aud"] != "aud-x" {
		t.Errorf("minted claims = %v", got)
	}
}

func TestLateDuplicateDelivery(t *testing.T) {
	fake, c := startFake(t, tasksfake.Config{})
	createQueue(t, c, queueName, 3, nil)
	tg := newTarget(t)
	fake.DuplicateDeliveryLate(1, 300*time.Millisecond)
	req := &cloudtaskspb.CreateTaskRequest{Parent: queueName, Task: httpTask(queueName+"/tasks/late", tg.srv.URL, "{}")}
	if _, err := c.CreateTask(context.Background(), req); err != nil {
		t.Fatalf("CreateTask: %v", err)
	}
	waitStats(t, fake, func(s tasksfake.Stats) bool { return s.Succeeded == 1 })
	if n := len(tg.deliveries()); n != 1 {
		t.Errorf("%d deliveries when the task completed, want 1 (the duplicate comes later)", n)
	}
	tg.waitFor(t, 2, 5*time.Second)
	if st := fake.Stats(); st.Duplicates != 1 || st.Deliveries != 2 {
		t.Errorf("stats = %+v", st)
	}
}
