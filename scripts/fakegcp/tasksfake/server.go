// Package tasksfake is a wire-level fake of Google Cloud Tasks (API v2): a
// gRPC server implementing cloudtaskspb.CloudTasksServer (queues and HTTP
// tasks) that really dispatches each task as an HTTP request carrying a
// Google-style OIDC bearer token signed by the fake's own RS256 key, with
// Cloud Tasks' retry, backoff, scheduling and task-name de-duplication
// rules. The public key set is served by JWKSHandler so the validator can
// verify tokens exactly as it verifies Google's.
//
// It exists for tests and the local stack (scripts/fakegcp); it is not a
// production component. Fault injection (DuplicateDelivery, FailNext) and a
// Stats snapshot let tests provoke and observe the at-least-once behaviour
// the real service shows.
package tasksfake

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Config tunes the fake. The zero value is usable.
type Config struct {
	// Workers bounds concurrent deliveries across all queues (default 4).
	Workers int
	// HTTPClient delivers tasks. Default: a client with no proxy that does
	// not follow redirects (a 3xx is a failed attempt).
	HTTPClient *http.Client
	// Key signs OIDC tokens. Default: a fresh RSA-2048 key.
	Key *rsa.PrivateKey
	// Now is the clock for tokens, schedule times and name tombstones
	// (default time.Now). Dispatch waits use real timers.
	Now func() time.Time
	// Rand generates task IDs and the default key (default crypto/rand).
	Rand io.Reader
	// NameReuseWindow is how long a task name stays taken after the task
	// completed or was deleted (default 24h, as the real service documents).
	NameReuseWindow time.Duration
	// AutoCreateQueues makes CreateTask create a missing queue with default
	// settings instead of returning NotFound (a convenience the real
	// service does not offer).
	AutoCreateQueues bool
	// Logger receives one line per delivery attempt (default: discard).
	Logger *slog.Logger
}

// Stats is a snapshot of the fake's counters.
type Stats struct {
	CreateTask    int64 `json:"createTask"`    // CreateTask calls received (including failed ones)
	AlreadyExists int64 `json:"alreadyExists"` // CreateTask calls refused with AlreadyExists
	Deliveries    int64 `json:"deliveries"`    // HTTP requests sent (attempts and duplicates)
	Retries       int64 `json:"retries"`       // attempts after a task's first
	Succeeded     int64 `json:"succeeded"`     // tasks completed with a 2xx
	Failed        int64 `json:"failed"`        // tasks dropped after exhausting retries
	Duplicates    int64 `json:"duplicates"`    // extra deliveries injected by DuplicateDelivery
}

// Server is the fake Cloud Tasks service.
type Server struct {
	cloudtaskspb.UnimplementedCloudTasksServer

	cfg    Config
	sign   *signer
	client *http.Client
	log    *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	work   chan *task
	wake   chan struct{}
	once   sync.Once

	mu       sync.Mutex
	queues   map[string]*queueState
	due      taskHeap
	stats    Stats
	dupNext  int
	dupAfter time.Duration // delay of the next duplicates
	seq      uint64
	faults   map[string]fault
}

// fault is an injected failure for the next n calls of one RPC method.
type fault struct {
	n    int
	code codes.Code
}

var _ cloudtaskspb.CloudTasksServer = (*Server)(nil)

// New builds the fake and starts its dispatcher; ctx bounds its lifetime
// (Close also stops it).
func New(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.NameReuseWindow <= 0 {
		cfg.NameReuseWindow = 24 * time.Hour
	}
	if cfg.Key == nil {
		k, err := rsa.GenerateKey(cfg.Rand, 2048)
		if err != nil {
			return nil, fmt.Errorf("rsa.GenerateKey: %w", err)
		}
		cfg.Key = k
	}
	sg, err := newSigner(cfg.Key)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg: cfg, sign: sg, client: cfg.HTTPClient, log: cfg.Logger,
		work: make(chan *task), wake: make(chan struct{}, 1),
		queues: map[string]*queueState{}, faults: map[string]fault{},
	}
	if s.client == nil {
		s.client = defaultClient()
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.ctx, s.cancel = context.WithCancel(ctx)
	s.start()
	return s, nil
}

// defaultClient talks to the target directly and reports redirects as they
// are, as a failed attempt.
func defaultClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 16, IdleConnTimeout: 30 * time.Second},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// Register adds the Cloud Tasks service to a gRPC server.
func (s *Server) Register(g grpc.ServiceRegistrar) {
	cloudtaskspb.RegisterCloudTasksServer(g, s)
}

// Close stops dispatching and waits for in-flight deliveries to end. Tasks
// not yet delivered are abandoned. Close is idempotent.
func (s *Server) Close() {
	s.once.Do(func() {
		s.cancel()
		s.wg.Wait()
		s.client.CloseIdleConnections()
	})
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// DuplicateDelivery makes the next n created tasks be delivered twice: once
// more right after their successful delivery, as the real service may do
// (Cloud Tasks is at-least-once).
func (s *Server) DuplicateDelivery(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dupNext, s.dupAfter = max(n, 0), 0
}

// DuplicateDeliveryLate makes the next n created tasks be delivered once
// more after their successful delivery, after a delay: a redelivery that
// arrives when the work is long done, as Cloud Tasks' at-least-once
// delivery allows.
func (s *Server) DuplicateDeliveryLate(n int, after time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dupNext, s.dupAfter = max(n, 0), max(after, 0)
}

// FailNext makes the next n calls of RPC method (short name, such as
// "CreateTask") fail with code before doing anything.
func (s *Server) FailNext(method string, n int, code codes.Code) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n <= 0 {
		delete(s.faults, method)
		return
	}
	s.faults[method] = fault{n: n, code: code}
}

// injected returns the injected error for method, if any; s.mu held.
func (s *Server) injected(method string) error {
	f, ok := s.faults[method]
	if !ok {
		return nil
	}
	f.n--
	if f.n <= 0 {
		delete(s.faults, method)
	} else {
		s.faults[method] = f
	}
	return status.Errorf(f.code, "tasksfake: injected failure for %s", method)
}

func (s *Server) now() time.Time { return s.cfg.Now() }

// poke wakes the scheduler.
func (s *Server) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}
