package va

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/acmera/acmera/pkg/problem"
)

// failure is the outcome of one failed attempt: what was tried, what was
// seen, and whether trying again could help. It is an error only so that it
// can travel through net/http's error wrapping; it never leaves the package.
//
// tried and seen reach the client: they name at most the identifier (and
// the URL or address built from it), never a response body, a redirect
// target or an address a name resolved to. attrs carry those for the log.
type failure struct {
	typ       problem.Type
	tried     string // e.g. "GET http://example.com/.well-known/acme-challenge/x"
	seen      string // e.g. "connecting to example.com:80: connection refused"
	transient bool
	refused   bool        // the network policy refused an address
	attrs     []slog.Attr // log-only detail: hosts and addresses, never the token, key authorization or body
}

func (f *failure) Error() string { return f.tried + ": " + f.seen }

// fail returns a failure that is not worth retrying (wrong content).
func fail(typ problem.Type, tried, format string, args ...any) *failure {
	return &failure{typ: typ, tried: tried, seen: fmt.Sprintf(format, args...)}
}

// with adds log fields to f and returns it.
func (f *failure) with(attrs ...slog.Attr) *failure {
	f.attrs = append(f.attrs, attrs...)
	return f
}

// withRetries runs attempt, each try bounded by cfg.Timeout, retrying
// transient failures up to cfg.Attempts times with cfg.RetryDelay between
// them (the caller bounds the whole by cfg.TotalTimeout). It returns the
// last failure, the number of attempts and the distinct outcomes seen, or a
// nil failure on success (RFC 8555 §8.2 leaves retry policy to the server).
func (v *Validator) withRetries(ctx context.Context, attempt func(context.Context) *failure) (*failure, int, []string) {
	var (
		last *failure
		seen []string
		n    int
	)
	for n < v.cfg.Attempts {
		n++
		actx, cancel := context.WithTimeout(ctx, v.cfg.Timeout)
		f := attempt(actx)
		cancel()
		if f == nil {
			return nil, n, nil
		}
		last = f
		if !contains(seen, f.seen) {
			seen = append(seen, f.seen)
		}
		if !f.transient || n == v.cfg.Attempts || !sleep(ctx, v.cfg.RetryDelay) {
			break
		}
	}
	return last, n, seen
}

// problem is the client's view of a final failure: what was tried, how many
// attempts were made and the distinct outcomes seen.
func (f *failure) problem(n int, seen []string) *problem.Problem {
	if n == 1 {
		return problem.New(f.typ, "%s: %s", f.tried, f.seen)
	}
	return problem.New(f.typ, "%s: %d attempts: %s", f.tried, n, strings.Join(seen, "; "))
}

// logFailure records why a validation failed: the class the client was
// told and the log-only detail (hosts, addresses). A refusal by the network
// policy is a warning; any other failure is routine. The token, the key
// authorization and response bodies are never logged.
func (v *Validator) logFailure(ctx context.Context, req Request, f *failure, n int) {
	level := slog.LevelInfo
	msg := "validation failed"
	if f.refused {
		level, msg = slog.LevelWarn, "validation refused by the network policy"
	}
	attrs := append([]slog.Attr{
		slog.String("challenge", req.Type), slog.String("identifier", req.Identifier.Value),
		slog.String("problem", string(f.typ)), slog.String("seen", f.seen), slog.Int("attempts", n),
	}, f.attrs...)
	v.log.LogAttrs(ctx, level, msg, attrs...)
}

// sleep waits d, and reports false if ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// netKind names the kind of a network error without internal detail (no
// file paths, no Go type names), and says whether it is transient.
func netKind(err error) (kind string, transient bool) {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return "timeout", true
	case errors.Is(err, context.Canceled):
		return "canceled", false
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused", true
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset by peer", true
	case errors.Is(err, syscall.EHOSTUNREACH):
		return "host unreachable", true
	case errors.Is(err, syscall.ENETUNREACH):
		return "network unreachable", true
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return "address not available", false
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.EPIPE):
		return "connection closed unexpectedly", true
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout", true
	}
	return "network error", false
}
