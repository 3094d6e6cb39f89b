package va

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"math/big"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/acmera/acmera/pkg/acme"
	"github.com/acmera/acmera/pkg/problem"
)

const alpnToken = "alpntok"

// certSpec describes the certificate a test tls-alpn-01 server presents.
type certSpec struct {
	dnsNames []string
	ips      []net.IP
	extValue []byte // raw extension value; nil = no acmeIdentifier extension
	critical bool
	rawSAN   []byte // raw subjectAltName extension value, instead of dnsNames and ips
	// maxVersion caps the server's TLS version (see startALPNMax).
	maxVersion uint16
}

// sanWithRegisteredID is a subjectAltName extension value holding a dNSName
// and a registeredID, which crypto/x509 does not surface (RFC 5280 §4.2.1.6).
func sanWithRegisteredID(t *testing.T, name string) []byte {
	t.Helper()
	oid, err := asn1.Marshal(asn1.ObjectIdentifier{1, 2, 3, 4})
	if err != nil {
		t.Fatalf("asn1.Marshal: %v", err)
	}
	var oidRaw asn1.RawValue
	if _, err := asn1.Unmarshal(oid, &oidRaw); err != nil {
		t.Fatalf("asn1.Unmarshal: %v", err)
	}
	der, err := asn1.Marshal([]asn1.RawValue{
		{Class: asn1.ClassContextSpecific, Tag: 2, Bytes: []byte(name)}, // dNSName
		{Class: asn1.ClassContextSpecific, Tag: 8, Bytes: oidRaw.Bytes}, // registeredID
	})
	if err != nil {
		t.Fatalf("asn1.Marshal: %v", err)
	}
	return der
}

// goodExt is the DER OCTET STRING of SHA-256 of the test key authorization
// (RFC 8737 §3), built here independently of the code under test.
func goodExt(t *testing.T) []byte {
	sum := sha256.Sum256([]byte(keyAuthFor(alpnToken)))
	der, err := asn1.Marshal(sum[:])
	if err != nil {
		t.Fatalf("asn1.Marshal: %v", err)
	}
	return der
}

// makeCert builds a self-signed certificate from spec.
func makeCert(t *testing.T, spec certSpec) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("ecdsa.GenerateKey: %v", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "acme-tls/1 test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		DNSNames:     spec.dnsNames,
		IPAddresses:  spec.ips,
	}
	if spec.extValue != nil {
		tmpl.ExtraExtensions = []pkix.Extension{{
			Id:       asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 1, 31},
			Critical: spec.critical,
			Value:    spec.extValue,
		}}
	}
	if spec.rawSAN != nil {
		tmpl.ExtraExtensions = append(tmpl.ExtraExtensions, pkix.Extension{Id: asn1.ObjectIdentifier{2, 5, 29, 17}, Value: spec.rawSAN})
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("x509.CreateCertificate: %v", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// alpnServer is a TLS listener that records the SNI it was sent.
type alpnServer struct {
	port int
	mu   sync.Mutex
	sni  []string
}

func (s *alpnServer) seenSNI() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.sni...)
}

// startALPN serves cert on addr (127.0.0.1:0 or [::1]:0, skipping if absent),
// offering protos as ALPN protocols; it stops when the test ends.
func startALPN(t *testing.T, addr string, cert tls.Certificate, protos []string) *alpnServer {
	t.Helper()
	return startALPNMax(t, addr, cert, protos, 0)
}

// startALPNMax is startALPN with the server's TLS version capped at max
// (from TLS 1.0), or crypto/tls's defaults when max is 0.
func startALPNMax(t *testing.T, addr string, cert tls.Certificate, protos []string, max uint16) *alpnServer {
	t.Helper()
	s := &alpnServer{}
	cfg := &tls.Config{
		NextProtos:   protos,
		Certificates: []tls.Certificate{cert},
		GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			s.mu.Lock()
			s.sni = append(s.sni, hello.ServerName)
			s.mu.Unlock()
			return nil, nil // keep this config
		},
	}
	if max != 0 {
		cfg.MinVersion, cfg.MaxVersion = tls.VersionTLS10, max
	}
	l, err := tls.Listen("tcp", addr, cfg)
	if err != nil {
		t.Skipf("tls.Listen(%s): %v", addr, err)
	}
	s.port = port(t, l.Addr().String())
	serve(t, l, func(c net.Conn) { _ = c.(*tls.Conn).Handshake() })
	return s
}

// serve accepts connections on l and runs handle on each with a deadline,
// until the test ends.
func serve(t *testing.T, l net.Listener, handle func(net.Conn)) {
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				handle(c)
			}()
		}
	}()
}

func TestTLSALPN01(t *testing.T) {
	d := startDNS(t, true)
	d.add(t, "alpn.test. 60 IN A 127.0.0.1")
	good := goodExt(t)
	wrongSum := sha256.Sum256([]byte("some other key authorization"))
	wrong, _ := asn1.Marshal(wrongSum[:])
	goodSum := sha256.Sum256([]byte(keyAuthFor(alpnToken)))
	bitString, _ := asn1.Marshal(asn1.BitString{Bytes: goodSum[:], BitLength: 256})
	lo := net.ParseIP("127.0.0.1")
	dnsID := acme.Identifier{Type: acme.IdentifierDNS, Value: "alpn.test"}
	ipID := acme.Identifier{Type: acme.IdentifierIP, Value: "127.0.0.1"}
	acmeProtos := []string{"acme-tls/1"}
	tests := []struct {
		name    string
		id      acme.Identifier
		spec    certSpec
		protos  []string
		wantSNI string
		typ     problem.Type
		want    []string
	}{
		{"dns name", dnsID, certSpec{dnsNames: []string{"alpn.test"}, extValue: good, critical: true}, acmeProtos, "alpn.test", "", nil},
		{"ip address", ipID, certSpec{ips: []net.IP{lo}, extValue: good, critical: true}, acmeProtos, "1.0.0.127.in-addr.arpa", "", nil},
		{"missing extension", dnsID, certSpec{dnsNames: []string{"alpn.test"}}, acmeProtos, "alpn.test",
			problem.Unauthorized, []string{"no acmeIdentifier extension"}},
		{"wrong digest", dnsID, certSpec{dnsNames: []string{"alpn.test"}, extValue: wrong, critical: true}, acmeProtos, "alpn.test",
			problem.IncorrectResponse, []string{"the acmeIdentifier extension does not hold the SHA-256 digest of the key authorization"}},
		{"not critical", dnsID, certSpec{dnsNames: []string{"alpn.test"}, extValue: good}, acmeProtos, "alpn.test",
			problem.Unauthorized, []string{"not marked critical"}},
		{"not an OCTET STRING", dnsID, certSpec{dnsNames: []string{"alpn.test"}, extValue: bitString, critical: true}, acmeProtos, "alpn.test",
			problem.Unauthorized, []string{"not a DER OCTET STRING"}},
		{"two SANs", dnsID, certSpec{dnsNames: []string{"alpn.test", "other.test"}, extValue: good, critical: true}, acmeProtos, "alpn.test",
			problem.Unauthorized, []string{"the certificate has 2 subjectAltNames, want exactly one: alpn.test"}},
		{"dNSName and registeredID", dnsID, certSpec{rawSAN: sanWithRegisteredID(t, "alpn.test"), extValue: good, critical: true}, acmeProtos, "alpn.test",
			problem.Unauthorized, []string{"the certificate has 2 subjectAltNames, want exactly one: alpn.test"}},
		{"no SAN", dnsID, certSpec{extValue: good, critical: true}, acmeProtos, "alpn.test",
			problem.Unauthorized, []string{"the certificate has 0 subjectAltNames, want exactly one: alpn.test"}},
		{"other SAN", dnsID, certSpec{dnsNames: []string{"other.test"}, extValue: good, critical: true}, acmeProtos, "alpn.test",
			problem.Unauthorized, []string{"the certificate's subjectAltName is not alpn.test"}},
		{"DNS SAN for an IP", ipID, certSpec{dnsNames: []string{"127.0.0.1"}, extValue: good, critical: true}, acmeProtos, "1.0.0.127.in-addr.arpa",
			problem.Unauthorized, []string{"the certificate's subjectAltName is not 127.0.0.1"}},
		{"TLS 1.1 only", dnsID, certSpec{dnsNames: []string{"alpn.test"}, extValue: good, critical: true, maxVersion: tls.VersionTLS11}, acmeProtos, "alpn.test",
			problem.TLS, []string{"protocol version"}},
		{"no ALPN", dnsID, certSpec{dnsNames: []string{"alpn.test"}, extValue: good, critical: true}, nil, "alpn.test",
			problem.TLS, []string{"negotiated no ALPN protocol"}},
		{"other ALPN only", dnsID, certSpec{dnsNames: []string{"alpn.test"}, extValue: good, critical: true}, []string{"h2"}, "alpn.test",
			problem.TLS, []string{"TLS alert from server: no application protocol"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := startALPNMax(t, "127.0.0.1:0", makeCert(t, tc.spec), tc.protos, tc.spec.maxVersion)
			v := newTestValidator(t, Config{Resolvers: []string{d.addr}, TLSALPN01Port: srv.port})
			p := validate(t, v, Request{Identifier: tc.id, Type: acme.ChallengeTLSALPN01, Token: alpnToken, KeyAuthorization: keyAuthFor(alpnToken)})
			wantProblem(t, p, tc.typ, tc.want...)
			if p != nil {
				wantNoneOf(t, p.Detail, "other.test", "h2", fmt.Sprintf("%x", wrongSum[:8]))
			}
			if sni := srv.seenSNI(); len(sni) != 1 || sni[0] != tc.wantSNI {
				t.Errorf("server saw SNI %q, want exactly [%q]", sni, tc.wantSNI)
			}
		})
	}
}

func TestTLSALPN01IPv6(t *testing.T) {
	srv := startALPN(t, "[::1]:0", makeCert(t, certSpec{ips: []net.IP{net.IPv6loopback}, extValue: goodExt(t), critical: true}), []string{"acme-tls/1"})
	v := newTestValidator(t, Config{TLSALPN01Port: srv.port})
	p := validate(t, v, Request{
		Identifier: acme.Identifier{Type: acme.IdentifierIP, Value: "::1"},
		Type:       acme.ChallengeTLSALPN01, Token: alpnToken, KeyAuthorization: keyAuthFor(alpnToken),
	})
	wantProblem(t, p, "")
	const want = "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa"
	if sni := srv.seenSNI(); len(sni) != 1 || sni[0] != want {
		t.Errorf("server saw SNI %q, want [%q]", sni, want)
	}
}

func TestTLSALPN01ConnectionFailures(t *testing.T) {
	plain, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("net.Listen: %v", err)
	}
	serve(t, plain, func(c net.Conn) { _, _ = c.Write([]byte("HTTP/1.1 400 Bad Request\r\n\r\n")) })
	closed := closedPort(t)
	tests := []struct {
		name string
		port int
		typ  problem.Type
		want []string
	}{
		{"connection refused", closed, problem.Connection,
			[]string{"TLS connection to 127.0.0.1:" + strconv.Itoa(closed), "2 attempts: connecting to 127.0.0.1:" + strconv.Itoa(closed) + ": connection refused"}},
		{"not TLS", port(t, plain.Addr().String()), problem.TLS, []string{"server did not answer with TLS"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := newTestValidator(t, Config{TLSALPN01Port: tc.port, Attempts: 2})
			p := validate(t, v, Request{
				Identifier: acme.Identifier{Type: acme.IdentifierIP, Value: "127.0.0.1"},
				Type:       acme.ChallengeTLSALPN01, Token: alpnToken, KeyAuthorization: keyAuthFor(alpnToken),
			})
			wantProblem(t, p, tc.typ, tc.want...)
		})
	}
}
