package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// waitFor bounds every wait of these tests; reaching it is a failure, not
// a measurement.
const waitFor = 10 * time.Second

func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitFor):
		t.Fatalf("no %s within %v", what, waitFor)
		panic("unreachable")
	}
}

// slowServer serves a handler that blocks until release is closed, on a
// loopback listener, through serve with the given drain period. shut is
// closed once Shutdown has begun (the listener is closed by then).
type slowServer struct {
	url      string
	started  chan struct{}
	release  chan struct{}
	shut     chan struct{}
	served   chan error
	response chan string // the in-flight request's outcome
}

func startSlowServer(t *testing.T, ctx context.Context, drain time.Duration) *slowServer {
	t.Helper()
	s := &slowServer{started: make(chan struct{}), release: make(chan struct{}), shut: make(chan struct{}),
		served: make(chan error, 1), response: make(chan string, 1)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.url = "http://" + ln.Addr().String() + "/"
	srv := functionServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(s.started)
		<-s.release
		io.WriteString(w, "finished")
	}))
	srv.RegisterOnShutdown(func() { close(s.shut) })
	log := slog.New(slog.DiscardHandler)
	go func() { s.served <- serve(ctx, srv, ln, drain, log) }()
	go func() {
		res, err := http.Get(s.url)
		if err != nil {
			s.response <- "error: " + err.Error()
			return
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		s.response <- res.Status + " " + string(b)
	}()
	recv(t, s.started, "request in flight")
	return s
}

// A request in flight when SIGTERM arrives completes; new connections are
// refused from then on; serve returns nil once the request is done.
func TestServeDrainsOnShutdown(t *testing.T) {
	ctx, sigterm := context.WithCancel(context.Background())
	s := startSlowServer(t, ctx, waitFor)
	sigterm()
	recv(t, s.shut, "shutdown")
	if c, err := net.Dial("tcp", strings.TrimSuffix(strings.TrimPrefix(s.url, "http://"), "/")); err == nil {
		c.Close()
		t.Fatal("a new connection was accepted while draining")
	}
	select {
	case err := <-s.served:
		t.Fatalf("serve returned (%v) with a request in flight", err)
	default:
	}
	close(s.release)
	if got := recv(t, s.response, "response"); got != "200 OK finished" {
		t.Fatalf("the request in flight got %q, want 200 OK finished", got)
	}
	if err := recv(t, s.served, "serve's return"); err != nil {
		t.Fatalf("serve: %v", err)
	}
}

// A request still running when the drain period ends is cut off, and
// serve returns instead of waiting for it.
func TestServeCutsOffAfterDrainPeriod(t *testing.T) {
	ctx, sigterm := context.WithCancel(context.Background())
	s := startSlowServer(t, ctx, time.Millisecond)
	defer close(s.release)
	sigterm()
	if err := recv(t, s.served, "serve's return"); err != nil {
		t.Fatalf("serve: %v", err)
	}
	if got := recv(t, s.response, "response"); !strings.HasPrefix(got, "error: ") {
		t.Fatalf("the request past the drain period got %q, want its connection closed", got)
	}
}

// A handler's panic is a logged 500, as under the functions framework.
func TestRecoverPanics(t *testing.T) {
	var logged strings.Builder
	h := recoverPanics(slog.New(slog.NewTextHandler(&logged, nil)), http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic("boom")
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != http.StatusInternalServerError || !strings.Contains(logged.String(), "panic=boom") {
		t.Fatalf("status %d, log %q", rec.Code, logged.String())
	}
}
