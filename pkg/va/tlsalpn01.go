package va

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/acmera/acmera/pkg/problem"
	"github.com/miekg/dns"
)

const (
	// acmeTLS1 is the ALPN protocol of RFC 8737 §6.2.
	acmeTLS1 = "acme-tls/1"
	// oidACMEIdentifier is id-pe-acmeIdentifier (RFC 8737 §6.1).
	oidACMEIdentifier = "1.3.6.1.5.5.7.1.31"
)

// tlsALPN01 performs one tls-alpn-01 attempt (RFC 8737 §3; RFC 8738 §6 for
// IP identifiers): a TLS handshake offering only acme-tls/1 with SNI set to
// the name (or the reverse-DNS name of the address), then checks of the
// self-signed certificate the server presents. The chain is deliberately not
// verified: the acmeIdentifier extension is the proof.
func (v *Validator) tlsALPN01(ctx context.Context, t target, req Request) *failure {
	addr := net.JoinHostPort(t.String(), strconv.Itoa(v.cfg.TLSALPN01Port))
	sni := t.name
	if t.isIP() {
		sni = reverseName(t.ip)
	}
	tried := fmt.Sprintf("TLS connection to %s (SNI %s, ALPN %s)", addr, sni, acmeTLS1)
	conn, err := v.dialContext(ctx, "tcp", addr)
	if err != nil {
		return netFailure(tried, err)
	}
	defer conn.Close()
	tc := tls.Client(conn, &tls.Config{
		ServerName:         sni,
		NextProtos:         []string{acmeTLS1},
		InsecureSkipVerify: true, // RFC 8737 §3: the certificate is self-signed by design
		MinVersion:         tls.VersionTLS12,
	})
	if err := tc.HandshakeContext(ctx); err != nil {
		return netFailure(tried, err)
	}
	st := tc.ConnectionState()
	if st.NegotiatedProtocol != acmeTLS1 {
		got := "no ALPN protocol"
		if st.NegotiatedProtocol != "" {
			got = fmt.Sprintf("ALPN protocol %q", st.NegotiatedProtocol)
		}
		return fail(problem.TLS, tried, "server negotiated %s, want %s", got, acmeTLS1)
	}
	if len(st.PeerCertificates) == 0 {
		return fail(problem.TLS, tried, "server sent no certificate")
	}
	return checkACMECert(tried, st.PeerCertificates[0], t, req.KeyAuthorization)
}

// reverseName is the in-addr.arpa or ip6.arpa name of ip, without the final
// dot, used as SNI for IP identifiers (RFC 8738 §6).
func reverseName(ip netip.Addr) string {
	name, err := dns.ReverseAddr(ip.String())
	if err != nil { // cannot happen for a valid netip.Addr
		return ip.String()
	}
	return strings.TrimSuffix(name, ".")
}

// checkACMECert checks the RFC 8737 §3 requirements on the certificate:
// exactly one subjectAltName, equal to the identifier, and a critical
// acmeIdentifier extension holding a DER OCTET STRING of SHA-256 of the key
// authorization.
func checkACMECert(tried string, cert *x509.Certificate, t target, keyAuth string) *failure {
	sans := subjectAltNames(cert)
	matches := false
	if t.isIP() {
		if len(cert.IPAddresses) == 1 {
			ip, ok := netip.AddrFromSlice(cert.IPAddresses[0])
			matches = ok && ip.Unmap() == t.ip
		}
	} else if len(cert.DNSNames) == 1 {
		matches = strings.EqualFold(strings.TrimSuffix(cert.DNSNames[0], "."), t.name)
	}
	if len(sans) != 1 || !matches {
		return fail(problem.Unauthorized, tried, "certificate has subjectAltNames [%s], want exactly one: %s",
			strings.Join(sans, ", "), t)
	}
	var ext *pkix.Extension
	for i := range cert.Extensions {
		if cert.Extensions[i].Id.String() != oidACMEIdentifier {
			continue
		}
		if ext != nil {
			return fail(problem.Unauthorized, tried, "certificate has more than one acmeIdentifier extension")
		}
		ext = &cert.Extensions[i]
	}
	if ext == nil {
		return fail(problem.Unauthorized, tried, "certificate has no acmeIdentifier extension (%s)", oidACMEIdentifier)
	}
	if !ext.Critical {
		return fail(problem.Unauthorized, tried, "acmeIdentifier extension is not marked critical")
	}
	var got []byte
	rest, err := asn1.Unmarshal(ext.Value, &got)
	if err != nil || len(rest) != 0 {
		return fail(problem.Unauthorized, tried, "acmeIdentifier extension is not a DER OCTET STRING")
	}
	want := keyAuthDigest(keyAuth)
	if !bytes.Equal(got, want[:]) {
		return fail(problem.IncorrectResponse, tried,
			"acmeIdentifier extension holds %s, expected SHA-256 of the key authorization %x", excerptHex(got), want[:])
	}
	return nil
}

// subjectAltNames lists every subjectAltName of cert, of any type.
func subjectAltNames(cert *x509.Certificate) []string {
	var sans []string
	sans = append(sans, cert.DNSNames...)
	for _, ip := range cert.IPAddresses {
		sans = append(sans, ip.String())
	}
	sans = append(sans, cert.EmailAddresses...)
	for _, u := range cert.URIs {
		sans = append(sans, u.String())
	}
	return sans
}

// excerptHex is hex of at most excerptBytes of b, marking truncation.
func excerptHex(b []byte) string {
	if len(b) > excerptBytes {
		return fmt.Sprintf("%x...", b[:excerptBytes])
	}
	return fmt.Sprintf("%x", b)
}
