package cloudtasks_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/acmera/acmera/pkg/queue"
	"github.com/acmera/acmera/pkg/queue/cloudtasks"
	"github.com/acmera/acmera/pkg/taskauth"
	"github.com/acmera/acmera/scripts/fakegcp/tasksfake"
)

const (
	queueName = "projects/p1/locations/us-central1/queues/validate"
	sa        = "tasks@p1.iam.gserviceaccount.com"
)

// received is one verified delivery at the validator.
type received struct {
	task        queue.Task
	retryCount  int
	queueHeader string
	taskHeader  string
	at          time.Time
}

// validator is the target: it verifies the OIDC token with taskauth
// against the fake's JWKS, decodes the task, and answers from a script.
type validator struct {
	url     string
	mu      sync.Mutex
	got     []received
	refused []int
	script  []int
	signal  chan struct{}
}

// env is a fake Cloud Tasks, a validator and an Enqueuer wired together.
type env struct {
	fake *tasksfake.Server
	val  *validator
	enq  *cloudtasks.Enqueuer
}

func newEnv(t *testing.T, script ...int) *env {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	fake, err := tasksfake.New(ctx, tasksfake.Config{})
	if err != nil {
		t.Fatalf("tasksfake.New: %v", err)
	}
	t.Cleanup(fake.Close)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	fake.Register(g)
	go func() { _ = g.Serve(lis) }()
	t.Cleanup(g.Stop)
	_, err = fake.CreateQueue(ctx, &cloudtaskspb.CreateQueueRequest{
		Parent: queueName[:strings.LastIndex(queueName, "/queues/")],
		Queue: &cloudtaskspb.Queue{Name: queueName, RetryConfig: &cloudtaskspb.RetryConfig{
			MaxAttempts: 5, MinBackoff: durationpb.New(10 * time.Millisecond), MaxBackoff: durationpb.New(50 * time.Millisecond),
		}},
	})
	if err != nil {
		t.Fatalf("CreateQueue: %v", err)
	}
	jwks := httptest.NewServer(fake.JWKSHandler())
	t.Cleanup(jwks.Close)
	val := &validator{script: script, signal: make(chan struct{}, 64)}
	target := httptest.NewUnstartedServer(nil)
	val.url = "http://" + target.Listener.Addr().String() + "/validator/task"
	verifier, err := taskauth.New(ctx, taskauth.Config{Audience: val.url, ServiceAccount: sa, JWKSURL: jwks.URL})
	if err != nil {
		t.Fatalf("taskauth.New: %v", err)
	}
	target.Config.Handler = val.with(verifier)
	target.Start()
	t.Cleanup(target.Close)
	enq, err := cloudtasks.New(ctx, cloudtasks.Config{
		Queue: queueName, TargetURL: val.url, ServiceAccount: sa, Endpoint: lis.Addr().String(),
	}, option.WithoutAuthentication(), option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	if err != nil {
		t.Fatalf("cloudtasks.New: %v", err)
	}
	t.Cleanup(func() { _ = enq.Close() })
	return &env{fake: fake, val: val, enq: enq}
}

// with returns the validator's handler, guarded by verifier.
func (v *validator) with(verifier taskauth.Verifier) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() { v.signal <- struct{}{} }()
		if err := verifier.Verify(r.Context(), r); err != nil {
			v.mu.Lock()
			v.refused = append(v.refused, taskauth.Status(err))
			v.mu.Unlock()
			http.Error(w, "refused", taskauth.Status(err))
			return
		}
		body, _ := io.ReadAll(r.Body)
		task, err := queue.Decode(body)
		if err != nil || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "bad task", http.StatusBadRequest)
			return
		}
		n, _ := strconv.Atoi(r.Header.Get("X-CloudTasks-TaskRetryCount"))
		v.mu.Lock()
		defer v.mu.Unlock()
		v.got = append(v.got, received{
			task: task, retryCount: n,
			queueHeader: r.Header.Get("X-CloudTasks-QueueName"), taskHeader: r.Header.Get("X-CloudTasks-TaskName"),
			at: time.Now(),
		})
		code := http.StatusOK
		if len(v.script) > 0 {
			code, v.script = v.script[0], v.script[1:]
		}
		w.WriteHeader(code)
	})
}

func (v *validator) received() ([]received, []int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]received(nil), v.got...), append([]int(nil), v.refused...)
}

// waitFor waits for n verified deliveries, then a little more to catch
// extra ones.
func (v *validator) waitFor(t *testing.T, n int) []received {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		got, refused := v.received()
		if len(refused) > 0 {
			t.Fatalf("validator refused deliveries: %v", refused)
		}
		if len(got) >= n {
			time.Sleep(100 * time.Millisecond)
			got, _ = v.received()
			return got
		}
		select {
		case <-v.signal:
		case <-deadline:
			t.Fatalf("got %d verified deliveries, want %d", len(got), n)
		}
	}
}

func validateTask(ch string) queue.Task {
	return queue.Task{Kind: queue.KindValidate, Profile: "acme", AuthzID: "az1", ChallengeID: ch}
}

func TestEnqueueDelivers(t *testing.T) {
	e := newEnv(t)
	task := validateTask("ch1")
	if err := e.enq.Enqueue(context.Background(), task); err != nil {
		t.Fatalf("Enqueue: %v", err)
	}
	got := e.val.waitFor(t, 1)
	if len(got) != 1 || got[0].task != task || got[0].taskHeader != task.Name() ||
		got[0].queueHeader != "validate" || got[0].retryCount != 0 {
		t.Errorf("deliveries = %+v, want one of %+v", got, task)
	}
}

func TestDelayedTaskIsScheduled(t *testing.T) {
	e := newEnv(t)
	task := queue.Task{Kind: queue.KindFinalize, OrderID: "o-delayed", After: 300 * time.Millisecond}
	start := time.Now()
	if err := e.enq.Enqueue(context.Background(), task); err != nil {
		t.Fatalf("Enqueue: %v", err)
	}
	got := e.val.waitFor(t, 1)
	if len(got) != 1 || got[0].task.OrderID != task.OrderID {
		t.Fatalf("deliveries = %+v, want one of %+v", got, task)
	}
	if waited := got[0].at.Sub(start); waited < task.After {
		t.Errorf("delivered after %v, want >= schedule_time %v", waited, task.After)
	}
}

func TestDuplicateEnqueueDeliversOnce(t *testing.T) {
	e := newEnv(t)
	task := validateTask("ch2")
	for i := range 2 {
		if err := e.enq.Enqueue(context.Background(), task); err != nil {
			t.Fatalf("Enqueue #%d: %v", i+1, err)
		}
	}
	if got := e.val.waitFor(t, 1); len(got) != 1 {
		t.Errorf("%d deliveries, want 1", len(got))
	}
	// Also after completion: the name stays taken.
	if err := e.enq.Enqueue(context.Background(), task); err != nil {
		t.Fatalf("Enqueue after completion: %v", err)
	}
	time.Sleep(100 * time.Millisecond)
	if got, _ := e.val.received(); len(got) != 1 {
		t.Errorf("%d deliveries after re-enqueue, want 1", len(got))
	}
	if st := e.fake.Stats(); st.AlreadyExists != 2 || st.CreateTask != 3 {
		t.Errorf("stats = %+v, want 2 AlreadyExists of 3 CreateTask", st)
	}
}

func TestRetriedAfterServerErrors(t *testing.T) {
	e := newEnv(t, http.StatusInternalServerError, http.StatusInternalServerError, http.StatusOK)
	if err := e.enq.Enqueue(context.Background(), queue.Task{Kind: queue.KindFinalize, OrderID: "o1"}); err != nil {
		t.Fatalf("Enqueue: %v", err)
	}
	got := e.val.waitFor(t, 3)
	if len(got) != 3 {
		t.Fatalf("%d deliveries, want 3", len(got))
	}
	for i, r := range got {
		if r.retryCount != i {
			t.Errorf("delivery %d: retry count %d, want %d", i, r.retryCount, i)
		}
	}
}

func TestDuplicateDeliveryReachesValidatorTwice(t *testing.T) {
	e := newEnv(t)
	e.fake.DuplicateDelivery(1)
	task := validateTask("ch3")
	if err := e.enq.Enqueue(context.Background(), task); err != nil {
		t.Fatalf("Enqueue: %v", err)
	}
	got := e.val.waitFor(t, 2)
	if len(got) != 2 || got[0].task != task || got[1].task != task {
		t.Errorf("deliveries = %+v, want the same task twice", got)
	}
}

func TestEnqueueErrors(t *testing.T) {
	e := newEnv(t)
	e.fake.FailNext("CreateTask", 1, codes.PermissionDenied)
	err := e.enq.Enqueue(context.Background(), validateTask("ch4"))
	if status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "cloudtasks.CreateTask") {
		t.Errorf("Enqueue with failing CreateTask = %v, want wrapped PermissionDenied", err)
	}
	if err := e.enq.Enqueue(context.Background(), queue.Task{Kind: queue.KindValidate}); err == nil {
		t.Errorf("Enqueue of an incomplete task succeeded")
	}
}

func TestConfigValidate(t *testing.T) {
	good := cloudtasks.Config{Queue: queueName, TargetURL: "https://v.example/task", ServiceAccount: sa}
	tests := []struct {
		name string
		edit func(*cloudtasks.Config)
		ok   bool
	}{
		{"good", func(*cloudtasks.Config) {}, true},
		{"queue without location", func(c *cloudtasks.Config) { c.Queue = "projects/p/queues/q" }, false},
		{"queue with task suffix", func(c *cloudtasks.Config) { c.Queue = queueName + "/tasks/x" }, false},
		{"relative target", func(c *cloudtasks.Config) { c.TargetURL = "/task" }, false},
		{"ftp target", func(c *cloudtasks.Config) { c.TargetURL = "ftp://v.example/" }, false},
		{"no service account", func(c *cloudtasks.Config) { c.ServiceAccount = "" }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := good
			tc.edit(&c)
			if err := c.Validate(); (err == nil) != tc.ok {
				t.Errorf("Validate() = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}
