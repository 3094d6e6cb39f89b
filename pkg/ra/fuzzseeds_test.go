package ra

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"net"
	"os"
	"testing"

	"github.com/acmera/acmera/pkg/internal/fuzzcorpus"
)

// ASN.1 GeneralName builders for raw subjectAltName values (RFC 5280
// §4.2.1.6).
func gnString(tag int, s string) asn1.RawValue {
	return asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: tag, Bytes: []byte(s)}
}

func gnOtherName(oid asn1.ObjectIdentifier, utf8 string) asn1.RawValue {
	inner, _ := asn1.MarshalWithParams(utf8, "utf8")
	val, _ := asn1.Marshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: inner})
	id, _ := asn1.Marshal(oid)
	return asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: append(id, val...)}
}

func gnDirName(cn string) asn1.RawValue {
	name, _ := asn1.Marshal(pkix.Name{CommonName: cn}.ToRDNSequence())
	return asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 4, IsCompound: true, Bytes: name}
}

func sanValue(names ...asn1.RawValue) []byte {
	b, err := asn1.Marshal(names)
	if err != nil {
		panic(err)
	}
	return b
}

// TestWriteFuzzSeeds regenerates testdata/fuzz/{FuzzCheckCSR,
// FuzzCheckCSRSignedSAN} when ACMERA_WRITE_FUZZ_SEEDS=1.
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("ACMERA_WRITE_FUZZ_SEEDS") != "1" {
		t.Skip("set ACMERA_WRITE_FUZZ_SEEDS=1 to regenerate the seed corpus")
	}
	write := func(target, name string, vals ...any) {
		if err := fuzzcorpus.Write(target, name, vals...); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range csrSeeds(t) {
		write("FuzzCheckCSR", s.name, s.der, s.order)
	}
	for _, s := range sanSeeds() {
		write("FuzzCheckCSRSignedSAN", s.name, s.san, s.cn, s.order)
	}
}

type csrSeed struct {
	name  string
	der   []byte
	order string
}

var (
	oidUPN = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 20, 2, 3}
)

func csrSeeds(t *testing.T) []csrSeed {
	ec := fuzzECKey(t, fuzzCSRScalar)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	rsaSmall, _ := rsa.GenerateKey(rand.Reader, 1024)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	p521, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	csr := func(key crypto.Signer, tmpl x509.CertificateRequest) []byte {
		der, err := x509.CreateCertificateRequest(rand.Reader, &tmpl, key)
		if err != nil {
			t.Fatalf("CreateCertificateRequest: %v", err)
		}
		return der
	}
	withSAN := func(san []byte, more ...pkix.Extension) x509.CertificateRequest {
		return x509.CertificateRequest{ExtraExtensions: append([]pkix.Extension{{Id: oidSAN, Value: san}}, more...)}
	}
	names := x509.CertificateRequest{DNSNames: []string{"a.example"}, IPAddresses: []net.IP{net.ParseIP("192.0.2.1")}}
	valid := csr(ec, names)
	badSig := append([]byte(nil), valid...)
	badSig[len(badSig)-1] ^= 1
	caTrue, _ := asn1.Marshal(struct {
		CA bool `asn1:"optional"`
	}{true})
	const both = "dns:a.example,ip:192.0.2.1"
	return []csrSeed{
		{"valid-ec", valid, both},
		{"valid-rsa", csr(rsaKey, names), both},
		{"valid-ed25519", csr(edKey, names), both},
		{"valid-cn", csr(ec, x509.CertificateRequest{Subject: pkix.Name{CommonName: "a.example"}, DNSNames: []string{"a.example"}}), "dns:a.example"},
		{"valid-ipv6", csr(ec, x509.CertificateRequest{IPAddresses: []net.IP{net.ParseIP("2001:db8::1")}}), "ip:2001:DB8::1"},
		{"valid-wildcard", csr(ec, x509.CertificateRequest{DNSNames: []string{"*.a.example", "a.example"}}), "dns:a.example,dns:*.a.example"},
		{"upper-case-names", csr(ec, x509.CertificateRequest{Subject: pkix.Name{CommonName: "A.EXAMPLE"}, DNSNames: []string{"A.Example"}}), "dns:a.example"},
		{"ipv4-mapped-16-bytes", csr(ec, withSAN(sanValue(gnString(7, string(net.ParseIP("192.0.2.1").To16()))))), "ip:192.0.2.1"},
		{"ip-5-bytes", csr(ec, withSAN(sanValue(gnString(7, "\xc0\x00\x02\x01\x00")))), "ip:192.0.2.1"},
		{"cn-not-in-san", csr(ec, x509.CertificateRequest{Subject: pkix.Name{CommonName: "b.example"}, DNSNames: []string{"a.example"}}), "dns:a.example"},
		{"cn-only", csr(ec, x509.CertificateRequest{Subject: pkix.Name{CommonName: "a.example"}}), "dns:a.example"},
		{"missing-name", csr(ec, x509.CertificateRequest{DNSNames: []string{"a.example"}}), "dns:a.example,dns:b.example"},
		{"extra-name", csr(ec, x509.CertificateRequest{DNSNames: []string{"a.example", "b.example"}}), "dns:a.example"},
		{"othername-upn", csr(ec, withSAN(sanValue(gnString(2, "a.example"), gnOtherName(oidUPN, "admin@a.example")))), "dns:a.example"},
		{"email-san", csr(ec, x509.CertificateRequest{DNSNames: []string{"a.example"}, EmailAddresses: []string{"admin@a.example"}}), "dns:a.example"},
		{"uri-san", csr(ec, withSAN(sanValue(gnString(2, "a.example"), gnString(6, "https://a.example/")))), "dns:a.example"},
		{"dirname-san", csr(ec, withSAN(sanValue(gnString(2, "a.example"), gnDirName("Evil CA")))), "dns:a.example"},
		{"registeredid-san", csr(ec, withSAN(sanValue(gnString(2, "a.example"), gnString(8, "\x2a\x03")))), "dns:a.example"},
		{"dns-nul", csr(ec, withSAN(sanValue(gnString(2, "a.example\x00.evil.test")))), "dns:a.example"},
		{"basic-constraints-ca", csr(ec, withSAN(sanValue(gnString(2, "a.example")), pkix.Extension{Id: oidBasicConstraints, Critical: true, Value: caTrue})), "dns:a.example"},
		{"two-san-extensions", csr(ec, withSAN(sanValue(gnString(2, "a.example")), pkix.Extension{Id: oidSAN, Value: sanValue(gnString(2, "b.example"))})), "dns:a.example"},
		{"account-key", csr(fuzzECKey(t, fuzzAccountScalar), names), both},
		{"rsa-1024", csr(rsaSmall, names), both},
		{"ec-p521", csr(p521, names), both},
		{"bad-signature", badSig, both},
		{"truncated", valid[:len(valid)-10], both},
		{"trailing-data", append(append([]byte(nil), valid...), 0, 0), both},
		{"empty", nil, both},
		{"not-der", []byte("-----BEGIN CERTIFICATE REQUEST-----"), both},
	}
}

type sanSeed struct {
	name      string
	san       []byte
	cn, order string
}

func sanSeeds() []sanSeed {
	v4 := string(net.ParseIP("192.0.2.1").To4())
	return []sanSeed{
		{"dns", sanValue(gnString(2, "a.example")), "", "dns:a.example"},
		{"dns-and-ip", sanValue(gnString(2, "a.example"), gnString(7, v4)), "a.example", "dns:a.example,ip:192.0.2.1"},
		{"cn-ip", sanValue(gnString(7, v4)), "192.0.2.1", "ip:192.0.2.1"},
		{"cn-ip-mapped", sanValue(gnString(7, v4)), "::ffff:192.0.2.1", "ip:192.0.2.1"},
		{"ipv4-mapped-16-bytes", sanValue(gnString(7, string(net.ParseIP("192.0.2.1").To16()))), "", "ip:192.0.2.1"},
		{"ipv6", sanValue(gnString(7, string(net.ParseIP("2001:db8::1")))), "", "ip:2001:db8::1"},
		{"ip-3-bytes", sanValue(gnString(7, "\xc0\x00\x02")), "", "ip:192.0.2.1"},
		{"upper-case", sanValue(gnString(2, "A.EXAMPLE")), "A.Example", "dns:a.example"},
		{"wildcard", sanValue(gnString(2, "*.a.example")), "", "dns:*.a.example"},
		{"duplicate-name", sanValue(gnString(2, "a.example"), gnString(2, "a.example")), "", "dns:a.example"},
		{"othername-upn", sanValue(gnString(2, "a.example"), gnOtherName(oidUPN, "admin@a.example")), "", "dns:a.example"},
		{"email", sanValue(gnString(2, "a.example"), gnString(1, "admin@a.example")), "", "dns:a.example"},
		{"uri", sanValue(gnString(2, "a.example"), gnString(6, "spiffe://a.example/x")), "", "dns:a.example"},
		{"dirname", sanValue(gnString(2, "a.example"), gnDirName("a.example")), "", "dns:a.example"},
		{"registeredid", sanValue(gnString(2, "a.example"), gnString(8, "\x2a\x03")), "", "dns:a.example"},
		{"dns-non-ia5", sanValue(gnString(2, "a\xc3\xa9.example")), "", "dns:a.example"},
		{"dns-nul", sanValue(gnString(2, "a.example\x00")), "", "dns:a.example"},
		{"dns-empty", sanValue(gnString(2, "")), "", "dns:a.example"},
		{"empty-sequence", sanValue(), "a.example", "dns:a.example"},
		{"not-a-sequence", []byte{0x04, 0x01, 0x00}, "", "dns:a.example"},
		{"trailing-data", append(sanValue(gnString(2, "a.example")), 0, 0), "", "dns:a.example"},
		{"no-san-cn", nil, "a.example", "dns:a.example"},
		{"cn-unicode", sanValue(gnString(2, "k.example")), "\u212a.example", "dns:k.example"},
	}
}
