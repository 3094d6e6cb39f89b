// Package certpem writes certificates as PEM (RFC 7468 §5.1) into a caller's
// buffer, byte for byte as encoding/pem.EncodeToMemory would, without its
// per-call allocations. The RA builds issued chains with it and the
// embedded store rebuilds stored ones.
package certpem

import (
	"encoding/base64"
	"slices"
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
