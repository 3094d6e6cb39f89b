package va

import (
	"context"
	"errors"
	"fmt"
	"io"
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
type failure struct {
	typ       problem.Type
	tried     string // e.g. "GET http://example.com/.well-known/acme-challenge/x"
	seen      string // e.g. "connecting to 192.0.2.1:80: connection refused"
	transient bool
}

func (f *failure) Error() string { return f.tried + ": " + f.seen }

// fail returns a failure that is not worth retrying (wrong content).
func fail(typ problem.Type, tried, format string, args ...any) *failure {
	return &failure{typ: typ, tried: tried, seen: fmt.Sprintf(format, args...)}
}

// withRetries runs attempt, each try bounded by cfg.Timeout, retrying
// transient failures up to cfg.Attempts times with cfg.RetryDelay between
// them. The final problem names what was tried, how many attempts were made
// and the distinct outcomes seen (RFC 8555 §8.2 leaves retry policy to the
// server).
func (v *Validator) withRetries(ctx context.Context, attempt func(context.Context) *failure) *problem.Problem {
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
			return nil
		}
		last = f
		if !contains(seen, f.seen) {
			seen = append(seen, f.seen)
		}
		if !f.transient || n == v.cfg.Attempts || !sleep(ctx, v.cfg.RetryDelay) {
			break
		}
	}
	if n == 1 {
		return problem.New(last.typ, "%s: %s", last.tried, last.seen)
	}
	return problem.New(last.typ, "%s: %d attempts: %s", last.tried, n, strings.Join(seen, "; "))
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
