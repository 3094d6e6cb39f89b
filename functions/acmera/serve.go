package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"time"
)

// drainPeriod is how long a function keeps finishing the requests in
// flight after SIGTERM before it exits: Cloud Run allows 10 s between
// SIGTERM and SIGKILL. Every transition is idempotent, so a request cut
// short is still safe; the drain only spares clients a retry.
const drainPeriod = 8 * time.Second

// functionServer is the HTTP server of a cloud function, serving h on
// $PORT as the functions framework's conventions have it (FUNCTION_TARGET
// picks the function, PORT the port), but with a server this process
// controls, so that SIGTERM can drain it. There is no read or write
// timeout: Cloud Run's front end buffers slow clients and bounds every
// request by the service's request timeout, and a task (validation with
// retries, a CA call) may rightly take long. Headers are still bounded.
func functionServer(h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
}

// serve serves srv on ln until ctx is done (SIGTERM or SIGINT), then
// stops accepting connections and lets the requests in flight finish,
// for at most drain (http.Server.Shutdown); whatever is still running
// after that is cut off. It returns nil once stopped, or the error that
// stopped serving first.
func serve(ctx context.Context, srv *http.Server, ln net.Listener, drain time.Duration, log *slog.Logger) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("http.Server.Serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down: draining requests in flight", "period", drain.String())
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), drain)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("requests still in flight after the drain period are cut off", "error", err.Error())
		_ = srv.Close()
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("http.Server.Serve: %w", err)
	}
	return nil
}

// recoverPanics answers 500 to a request whose handler panicked and logs
// the panic, as the functions framework did; http.ErrAbortHandler keeps
// its meaning.
func recoverPanics(log *slog.Logger, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			log.ErrorContext(r.Context(), "panic serving a request", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			http.Error(w, "internal error", http.StatusInternalServerError)
		}()
		h.ServeHTTP(w, r)
	})
}
