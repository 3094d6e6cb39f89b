package tasksfake_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	gcloudtasks "cloud.google.com/go/cloudtasks/apiv2"
	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/acmera/acmera/scripts/fakegcp/tasksfake"
)

const (
	location  = "projects/p1/locations/us-central1"
	queueName = location + "/queues/q1"
	saEmail   = "tasks@p1.iam.gserviceaccount.com"
)

// startFake runs the fake on a loopback gRPC listener and returns it with a
// real Cloud Tasks client connected to it.
func startFake(t *testing.T, cfg tasksfake.Config) (*tasksfake.Server, *gcloudtasks.Client) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	fake, err := tasksfake.New(ctx, cfg)
	if err != nil {
		t.Fatalf("tasksfake.New: %v", err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("net.Listen: %v", err)
	}
	g := grpc.NewServer()
	fake.Register(g)
	go func() { _ = g.Serve(lis) }()
	client, err := gcloudtasks.NewClient(ctx,
		option.WithEndpoint(lis.Addr().String()),
		option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	if err != nil {
		t.Fatalf("cloudtasks.NewClient: %v", err)
	}
	t.Cleanup(func() {
		_ = client.Close()
		g.Stop()
		fake.Close()
		cancel()
	})
	return fake, client
}

// createQueue makes the test queue with fast retries.
func createQueue(t *testing.T, c *gcloudtasks.Client, name string, maxAttempts int32, rl *cloudtaskspb.RateLimits) {
	t.Helper()
	_, err := c.CreateQueue(context.Background(), &cloudtaskspb.CreateQueueRequest{
		Parent: location,
		Queue: &cloudtaskspb.Queue{
			Name: name,
			RetryConfig: &cloudtaskspb.RetryConfig{
				MaxAttempts: maxAttempts,
				MinBackoff:  durationpb.New(20 * time.Millisecond),
				MaxBackoff:  durationpb.New(80 * time.Millisecond),
			},
			RateLimits: rl,
		},
	})
	if err != nil {
		t.Fatalf("CreateQueue: %v", err)
	}
}

// delivery is one request the target received.
type delivery struct {
	at     time.Time
	header http.Header
	body   []byte
}

// target is an httptest server that records deliveries and answers with
// the scripted statuses (then 200).
type target struct {
	srv    *httptest.Server
	mu     sync.Mutex
	got    []delivery
	script []int
	active int
	peak   int
	hold   time.Duration
	signal chan struct{}
}

func newTarget(t *testing.T, script ...int) *target {
	t.Helper()
	tg := &target{script: script, signal: make(chan struct{}, 100)}
	tg.srv = httptest.NewServer(http.HandlerFunc(tg.serve))
	t.Cleanup(tg.srv.Close)
	return tg
}

func (tg *target) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	tg.mu.Lock()
	tg.got = append(tg.got, delivery{at: time.Now(), header: r.Header.Clone(), body: body})
	code := http.StatusOK
	if len(tg.script) > 0 {
		code, tg.script = tg.script[0], tg.script[1:]
	}
	tg.active++
	tg.peak = max(tg.peak, tg.active)
	hold := tg.hold
	tg.mu.Unlock()
	time.Sleep(hold)
	tg.mu.Lock()
	tg.active--
	tg.mu.Unlock()
	w.WriteHeader(code)
	tg.signal <- struct{}{}
}

func (tg *target) deliveries() []delivery {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return append([]delivery(nil), tg.got...)
}

// waitFor waits until the target has seen n deliveries, or fails.
func (tg *target) waitFor(t *testing.T, n int, within time.Duration) []delivery {
	t.Helper()
	deadline := time.After(within)
	for {
		if d := tg.deliveries(); len(d) >= n {
			return d
		}
		select {
		case <-tg.signal:
		case <-deadline:
			t.Fatalf("got %d deliveries, want %d within %v", len(tg.deliveries()), n, within)
		}
	}
}

// waitStats polls the fake's stats until ok holds, or fails.
func waitStats(t *testing.T, fake *tasksfake.Server, ok func(tasksfake.Stats) bool) tasksfake.Stats {
	t.Helper()
	for range 200 {
		if st := fake.Stats(); ok(st) {
			return st
		}
		time.Sleep(10 * time.Millisecond)
	}
	st := fake.Stats()
	t.Fatalf("stats never reached the expected state: %+v", st)
	return st
}

func httpTask(name, url string, body string) *cloudtaskspb.Task {
	return &cloudtaskspb.Task{
		Name: name,
		MessageType: &cloudtaskspb.Task_HttpRequest{HttpRequest: &cloudtaskspb.HttpRequest{
			Url: url, HttpMethod: cloudtaskspb.HttpMethod_POST, Body: []byte(body),
			Headers: map[string]string{"Content-Type": "application/json"},
			AuthorizationHeader: &cloudtaskspb.HttpRequest_OidcToken{OidcToken: &cloudtaskspb.OidcToken{
				ServiceAccountEmail: saEmail,
			}},
		}},
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("Atoi(%q): %v", s, err)
	}
	return n
}
