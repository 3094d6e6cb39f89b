// Package certpem writes certificates as PEM (RFC 7468 §5.1) into a caller's
// buffer, byte for byte as encoding/pem.EncodeToMemory would, without its
// per-call allocations. The RA builds issued chains with it and the
// embedded store rebuilds stored ones; LeafNames reads a chain's names
// back for the operator's listings.
package certpem

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"slices"
	"strings"
)

const (
	begin = "-----BEGIN CERTIFICATE-----\n"
	end   = "-----END CERTIFICATE-----\n"
)

// Append appends der as a PEM CERTIFICATE block: 64-character lines, each
// ended by a newline.
func Append(dst, der []byte) []byte {
	n := base64.StdEncoding.EncodedLen(len(der))
	dst = slices.Grow(dst, len(begin)+n+n/64+1+len(end))
	dst = append(dst, begin...)
	for len(der) > 0 {
		chunk := der[:min(len(der), 48)] // 48 bytes make one 64-character line
		der = der[len(chunk):]
		dst = base64.StdEncoding.AppendEncode(dst, chunk)
		dst = append(dst, '\n')
	}
	return append(dst, end...)
}

// LeafNames returns the DNS names and IP addresses of the first
// certificate of a PEM chain, lower-case; nil if it does not parse.
func LeafNames(chain []byte) []string {
	b, _ := pem.Decode(chain)
	if b == nil || b.Type != "CERTIFICATE" {
		return nil
	}
	leaf, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return nil
	}
	names := make([]string, 0, len(leaf.DNSNames)+len(leaf.IPAddresses))
	for _, n := range leaf.DNSNames {
		names = append(names, strings.ToLower(n))
	}
	for _, ip := range leaf.IPAddresses {
		names = append(names, ip.String())
	}
	return names
}
