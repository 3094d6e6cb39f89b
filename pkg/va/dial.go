package va

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/url"
	"strings"

	"github.com/acmera/acmera/pkg/problem"
)

// dialError is a failed TCP connection to one address.
type dialError struct {
	hostport string // "host:port" as named (the host may be a name)
	addr     string // "ip:port" that was dialled
	err      error
}

func (e *dialError) Error() string { return "connecting to " + e.addr + ": " + e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

// dialContext connects to addr ("host:port"): it resolves a host name once
// through the configured resolver, keeps the addresses the network policy
// allows (netpolicy.go) and dials those, in turn (IPv6 first), by address.
// Nothing else resolves names: http.Transport and tls-alpn-01 dial only
// through here. Errors are *refusal, *dnsError or *dialError.
func (v *Validator) dialContext(ctx context.Context, _, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, &dialError{hostport: addr, addr: addr, err: err}
	}
	addrs, err := v.resolveChecked(ctx, host)
	if err != nil {
		return nil, err
	}
	var last error
	for _, a := range addrs {
		target := net.JoinHostPort(a.String(), port)
		c, err := v.dialer.DialContext(ctx, "tcp", target)
		if err == nil {
			return c, nil
		}
		last = &dialError{hostport: addr, addr: target, err: err}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, last
}

// netFailure converts an error from resolving, dialling, a TLS handshake or
// an HTTP exchange into a failure whose detail carries only the kind of
// error. named says whether the host concerned is the one the client named
// (the identifier); when it is not (a redirect target), the detail names no
// host and no address, so that the validator tells nothing of what lies
// behind a redirect. Addresses go to the failure's log fields only.
func netFailure(tried string, err error, named bool) *failure {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var (
		f  *failure
		rf *refusal
		de *dnsError
		dl *dialError
	)
	switch {
	case errors.As(err, &f):
		return f
	case errors.As(err, &rf):
		seen := rf.seen()
		if !named {
			seen = "a redirect to an address the validator may not reach"
		}
		return &failure{typ: problem.Connection, tried: tried, seen: seen, refused: true, attrs: rf.attrs()}
	case errors.As(err, &de):
		seen := de.Error()
		if !named {
			seen = "a redirect to a name whose DNS lookup failed: " + de.what
		}
		return &failure{typ: problem.DNS, tried: tried, seen: seen, transient: de.transient,
			attrs: []slog.Attr{slog.String("host", de.name)}}
	case errors.As(err, &dl):
		kind, transient := netKind(dl.err)
		seen := "connecting to " + dl.hostport + ": " + kind
		if !named {
			seen = "connecting after a redirect: " + kind
		}
		return &failure{typ: problem.Connection, tried: tried, seen: seen, transient: transient,
			attrs: []slog.Attr{slog.String("host", dl.hostport), slog.String("addr", dl.addr)}}
	}
	prefix := ""
	if !named {
		prefix = "after a redirect: "
	}
	if seen, ok := tlsKind(err); ok {
		return &failure{typ: problem.TLS, tried: tried, seen: prefix + seen}
	}
	kind, transient := netKind(err)
	return &failure{typ: problem.Connection, tried: tried, seen: prefix + kind, transient: transient}
}

// tlsKind names a TLS handshake failure: an alert the peer sent, or one of
// crypto/tls's own "tls: ..." messages (which carry no internal detail).
func tlsKind(err error) (string, bool) {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "remote error" {
		return "TLS alert from server: " + strings.TrimPrefix(oe.Err.Error(), "tls: "), true
	}
	var ae tls.AlertError
	if errors.As(err, &ae) {
		return "TLS handshake failed: " + strings.TrimPrefix(ae.Error(), "tls: "), true
	}
	var re tls.RecordHeaderError
	if errors.As(err, &re) {
		return "TLS handshake failed: server did not answer with TLS", true
	}
	if msg := err.Error(); strings.HasPrefix(msg, "tls: ") {
		return "TLS handshake failed: " + strings.TrimPrefix(msg, "tls: "), true
	}
	return "", false
}
