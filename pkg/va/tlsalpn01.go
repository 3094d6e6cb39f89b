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

	"github.com/miekg/dns"

	"github.com/acmera/acmera/pkg/problem"
	"github.com/acmera/acmera/pkg/x509names"
)

// acmeTLS1 is the ALPN protocol of RFC 8737 §6.2.
const acmeTLS1 = "acme-tls/1"

// oidACMEIdentifier is id-pe-acmeIdentifier (RFC 8737 §6.1).
var oidACMEIdentifier = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 1, 31}

// tlsALPN01 performs one tls-alpn-01 attempt (RFC 8737 §3; RFC 8738 §6 for
// IP identifiers): a TLS 1.2 or later handshake (RFC 8737 §4) offering only
// acme-tls/1 with SNI set to the name (or the reverse-DNS name of the
// address), then checks of the self-signed certificate the server
// presents. The chain is deliberately not verified: the acmeIdentifier
// extension is the proof. The connection goes through the network policy
// (dialContext), and the handshake is bounded by cfg.StepTimeout.
func (v *Validator) tlsALPN01(ctx context.Context, t target, req Request) *failure {
	addr := net.JoinHostPort(t.String(), strconv.Itoa(v.cfg.TLSALPN01Port))
	sni := t.name
	if t.isIP() {
		sni = reverseName(t.ip)
	}
	tried := fmt.Sprintf("TLS connection to %s (SNI %s, ALPN %s)", addr, sni, acmeTLS1)
	conn, err := v.dialContext(ctx, "tcp", addr)
	if err != nil {
		return netFailure(tried, err, true)
	}
	defer conn.Close()
	tc := tls.Client(conn, &tls.Config{
		ServerName:         sni,
		NextProtos:         []string{acmeTLS1},
		InsecureSkipVerify: true, // RFC 8737 §3: the certificate is self-signed by design
		MinVersion:         tls.VersionTLS12,
	})
	hctx, cancel := context.WithTimeout(ctx, v.cfg.StepTimeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		return netFailure(tried, err, true)
	}
	st := tc.ConnectionState()
	switch {
	case st.Version < tls.VersionTLS12: // MinVersion already refuses it; RFC 8737 §4 makes it a MUST
		return fail(problem.TLS, tried, "the server negotiated a TLS version below 1.2")
	case st.NegotiatedProtocol == "":
		return fail(problem.TLS, tried, "the server negotiated no ALPN protocol, want %s", acmeTLS1)
	case st.NegotiatedProtocol != acmeTLS1:
		return fail(problem.TLS, tried, "the server negotiated an ALPN protocol other than %s", acmeTLS1)
	case len(st.PeerCertificates) == 0:
		return fail(problem.TLS, tried, "the server sent no certificate")
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
// a subjectAltName extension with exactly one entry, of any type, which is
// the identifier (a dNSName, or an iPAddress for RFC 8738 §6), and a
// critical acmeIdentifier extension holding a DER OCTET STRING of SHA-256
// of the key authorization. The detail says which requirement failed,
// never what the certificate holds instead.
func checkACMECert(tried string, cert *x509.Certificate, t target, keyAuth string) *failure {
	n, ok := countSANs(cert)
	if !ok {
		return fail(problem.Unauthorized, tried, "the certificate's subjectAltName extension is malformed")
	}
	if n != 1 {
		return fail(problem.Unauthorized, tried, "the certificate has %d subjectAltNames, want exactly one: %s", n, t)
	}
	matches := false
	if t.isIP() {
		if len(cert.IPAddresses) == 1 {
			ip, ok := netip.AddrFromSlice(cert.IPAddresses[0])
			matches = ok && ip.Unmap() == t.ip
		}
	} else if len(cert.DNSNames) == 1 {
		matches = strings.EqualFold(strings.TrimSuffix(cert.DNSNames[0], "."), t.name)
	}
	if !matches {
		return fail(problem.Unauthorized, tried, "the certificate's subjectAltName is not %s", t)
	}
	var ext *pkix.Extension
	for i := range cert.Extensions {
		if !cert.Extensions[i].Id.Equal(oidACMEIdentifier) {
			continue
		}
		if ext != nil {
			return fail(problem.Unauthorized, tried, "the certificate has more than one acmeIdentifier extension")
		}
		ext = &cert.Extensions[i]
	}
	if ext == nil {
		return fail(problem.Unauthorized, tried, "the certificate has no acmeIdentifier extension (%s)", oidACMEIdentifier)
	}
	if !ext.Critical {
		return fail(problem.Unauthorized, tried, "the acmeIdentifier extension is not marked critical")
	}
	var got []byte
	rest, err := asn1.Unmarshal(ext.Value, &got)
	if err != nil || len(rest) != 0 {
		return fail(problem.Unauthorized, tried, "the acmeIdentifier extension is not a DER OCTET STRING")
	}
	want := keyAuthDigest(keyAuth)
	if !bytes.Equal(got, want[:]) {
		return fail(problem.IncorrectResponse, tried,
			"the acmeIdentifier extension does not hold the SHA-256 digest of the key authorization")
	}
	return nil
}

// countSANs counts the entries of the certificate's subjectAltName
// extension, of every GeneralName type (crypto/x509 keeps only four of
// them, so a certificate with one dNSName and an otherName would look as if
// it had one). It reports false when the extension is not a SEQUENCE.
func countSANs(cert *x509.Certificate) (int, bool) {
	for _, e := range cert.Extensions {
		if !e.Id.Equal(x509names.OIDSubjectAltName) {
			continue
		}
		names, err := x509names.Parse(e.Value)
		if err != nil {
			return 0, false
		}
		return len(names), true
	}
	return 0, true
}
