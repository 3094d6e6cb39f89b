package ca

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"time"
)

// ErrNoCertificate reports PEM text without a CERTIFICATE block.
var ErrNoCertificate = errors.New("no CERTIFICATE block")

// ParsePEMCertificates parses every CERTIFICATE block of s, in order,
// skipping other block types; ErrNoCertificate if there is none. Backends
// use it for the PEM their CA answers.
func ParsePEMCertificates(s string) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	rest := []byte(s)
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("x509.ParseCertificate: %w", err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, ErrNoCertificate
	}
	return out, nil
}

// SelfSigned reports whether c is self-issued and verifies with its own
// key: a root.
func SelfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignatureFrom(c) == nil
}

// Sleep waits d or until ctx is done (the default of the backends'
// injectable sleeps).
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Backoff is the wait after the n-th failure (n >= 1): base doubled n-1
// times, at most max.
func Backoff(base, max time.Duration, n int) time.Duration {
	d := base
	for k := 1; k < n && d < max; k++ {
		d *= 2
	}
	return min(d, max)
}
