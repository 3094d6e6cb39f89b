package va

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/netip"
	"net/url"
	"strings"

	"github.com/acmera/acmera/pkg/problem"
)

// dialError is a failed TCP connection to one address.
type dialError struct {
	addr string // "ip:port" that was dialled
	err  error
}

func (e *dialError) Error() string { return "connecting to " + e.addr + ": " + e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

// dialContext connects to addr ("host:port"), resolving a host name through
// the configured resolver and trying each address in turn (IPv6 first).
// Errors are *dnsError or *dialError.
func (v *Validator) dialContext(ctx context.Context, _, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, &dialError{addr: addr, err: err}
	}
	var addrs []netip.Addr
	if ip, perr := netip.ParseAddr(host); perr == nil {
		addrs = []netip.Addr{ip.Unmap()}
	} else if addrs, err = v.resolver.lookupAddrs(ctx, host); err != nil {
		return nil, err
	}
	var last error
	for _, a := range addrs {
		target := net.JoinHostPort(a.String(), port)
		c, err := v.dialer.DialContext(ctx, "tcp", target)
		if err == nil {
			return c, nil
		}
		last = &dialError{addr: target, err: err}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, last
}

// netFailure converts an error from dialling, a TLS handshake or an HTTP
// exchange into a failure whose detail carries only the kind of error.
func netFailure(tried string, err error) *failure {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var (
		f  *failure
		de *dnsError
		dl *dialError
	)
	switch {
	case errors.As(err, &f):
		return f
	case errors.As(err, &de):
		return &failure{typ: problem.DNS, tried: tried, seen: de.Error(), transient: de.transient}
	case errors.As(err, &dl):
		kind, transient := netKind(dl.err)
		return &failure{typ: problem.Connection, tried: tried, seen: "connecting to " + dl.addr + ": " + kind, transient: transient}
	}
	if seen, ok := tlsKind(err); ok {
		return &failure{typ: problem.TLS, tried: tried, seen: seen}
	}
	kind, transient := netKind(err)
	return &failure{typ: problem.Connection, tried: tried, seen: kind, transient: transient}
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
