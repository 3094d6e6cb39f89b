package wfe_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/json"
	"math/big"
	"net"
	"net/url"
	"time"
)

var p256 = elliptic.P256()

var (
	oidSAN         = asn1.ObjectIdentifier{2, 5, 29, 17}
	oidBasicCons   = asn1.ObjectIdentifier{2, 5, 29, 19}
	oidEKU         = asn1.ObjectIdentifier{2, 5, 29, 37}
	oidTLSFeature  = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 1, 24}
	oidNameConstr  = asn1.ObjectIdentifier{2, 5, 29, 30}
	oidCodeSigning = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 3}
	oidUPN         = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 20, 2, 3}
)

var localhostIP = net.ParseIP("127.0.0.1").To4()

// csrDER signs a CSR for tmpl with key.
func (f *fixture) csrDER(key crypto.Signer, tmpl *x509.CertificateRequest) []byte {
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		f.t.Fatalf("CreateCertificateRequest: %v", err)
	}
	return der
}

// finalizeDER sends A's finalize of the ready order with der as the CSR.
func (f *fixture) finalizeDER(der []byte) *response {
	return f.a.do(f.ready.Finalize, map[string]string{"csr": b64(der)})
}

// finalizeWith sends a CSR for 127.0.0.1 changed by fn.
func (f *fixture) finalizeWith(fn func(tmpl *x509.CertificateRequest)) *response {
	tmpl := &x509.CertificateRequest{IPAddresses: []net.IP{localhostIP}}
	fn(tmpl)
	return f.finalizeDER(f.csrDER(ecKey(p256), tmpl))
}

// withExtension adds an extension with an ASN.1 value.
func withExtension(oid asn1.ObjectIdentifier, v any) func(*x509.CertificateRequest) {
	val, err := asn1.Marshal(v)
	if err != nil {
		panic(err)
	}
	return func(t *x509.CertificateRequest) {
		t.ExtraExtensions = append(t.ExtraExtensions, pkix.Extension{Id: oid, Value: val})
	}
}

// withSAN replaces the subjectAltName by 127.0.0.1 and the given raw
// GeneralName entries.
func withSAN(names ...asn1.RawValue) func(*x509.CertificateRequest) {
	all := append([]asn1.RawValue{{Class: asn1.ClassContextSpecific, Tag: 7, Bytes: localhostIP}}, names...)
	return func(t *x509.CertificateRequest) {
		t.IPAddresses = nil
		withExtension(oidSAN, all)(t)
	}
}

func mustDER(v any) []byte {
	b, err := asn1.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// otherNameUPN is a Microsoft UPN otherName, as smuggled to get a
// smartcard-logon certificate.
func otherNameUPN() asn1.RawValue {
	upn := mustDER(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true,
		Bytes: mustDER(asn1.RawValue{Tag: asn1.TagUTF8String, Bytes: []byte("administrator@corp.example")})})
	return asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: append(mustDER(oidUPN), upn...)}
}

func directoryName() asn1.RawValue {
	name := mustDER(pkix.Name{CommonName: "Administrator", Organization: []string{"Corp"}}.ToRDNSequence())
	return asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 4, IsCompound: true, Bytes: name}
}

// sha1CSR is a CSR for 127.0.0.1 signed with ECDSA over SHA-1, which
// crypto/x509 no longer makes.
func (f *fixture) sha1CSR() []byte {
	key := ecKey(p256)
	csr, err := x509.ParseCertificateRequest(f.csrDER(key, &x509.CertificateRequest{IPAddresses: []net.IP{localhostIP}}))
	if err != nil {
		f.t.Fatal(err)
	}
	h := sha1.Sum(csr.RawTBSCertificateRequest)
	sig, err := ecdsa.SignASN1(rand.Reader, key, h[:])
	if err != nil {
		f.t.Fatal(err)
	}
	return mustDER(struct {
		TBS asn1.RawValue
		Alg pkix.AlgorithmIdentifier
		Sig asn1.BitString
	}{asn1.RawValue{FullBytes: csr.RawTBSCertificateRequest},
		pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 1}},
		asn1.BitString{Bytes: sig, BitLength: 8 * len(sig)}})
}

// orderStaysReady checks that A's ready order is still ready.
func orderStaysReady(f *fixture, _ *response) {
	var o wireOrder
	r := f.a.do(f.readyURL, nil)
	json.Unmarshal(r.body, &o)
	if o.Status != "ready" {
		f.t.Errorf("the ready order is %q after the refused finalize (%d %s)", o.Status, r.status, r.body)
	}
}

func csrCases() []hostile {
	csr := func(name string, fs bool, has string, fn func(*x509.CertificateRequest)) hostile {
		return hostile{name: "csr/" + name, firestore: fs, want: bad(400, "badCSR", has), check: orderStaysReady,
			send: func(f *fixture) *response { return f.finalizeWith(fn) }}
	}
	raw := func(name string, fs bool, has string, der func(f *fixture) []byte) hostile {
		return hostile{name: "csr/" + name, firestore: fs, want: bad(400, "badCSR", has), check: orderStaysReady,
			send: func(f *fixture) *response { return f.finalizeDER(der(f)) }}
	}
	key := func(k crypto.Signer) func(f *fixture) []byte {
		return func(f *fixture) []byte {
			return f.csrDER(k, &x509.CertificateRequest{IPAddresses: []net.IP{localhostIP}})
		}
	}
	return []hostile{
		csr("basicConstraints CA:TRUE", true, "CA", withExtension(oidBasicCons, struct{ IsCA bool }{true})),
		csr("codeSigning EKU", false, "extended key usage", withExtension(oidEKU, []asn1.ObjectIdentifier{oidCodeSigning})),
		csr("otherName UPN SAN", true, "otherName", withSAN(otherNameUPN())),
		csr("email SAN", false, "rfc822Name", func(t *x509.CertificateRequest) { t.EmailAddresses = []string{"admin@example.com"} }),
		csr("URI SAN", true, "URI", func(t *x509.CertificateRequest) {
			t.URIs = []*url.URL{{Scheme: "spiffe", Host: "example.com", Path: "/admin"}}
		}),
		csr("directoryName SAN", false, "directoryName", withSAN(directoryName())),
		csr("registeredID SAN", false, "registeredID",
			withSAN(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 8, Bytes: mustDER(oidUPN)[2:]})),
		csr("non-ASCII dNSName SAN", false, "parsed",
			withSAN(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 2, Bytes: []byte("bücher.example")})),
		csr("dNSName SAN with a space", false, "ASCII",
			withSAN(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 2, Bytes: []byte("a b.example")})),
		csr("O in the subject", false, "organizationName", func(t *x509.CertificateRequest) {
			t.Subject = pkix.Name{Organization: []string{"Example Corp"}}
		}),
		csr("OU in the subject", false, "organizationalUnitName", func(t *x509.CertificateRequest) {
			t.Subject = pkix.Name{OrganizationalUnit: []string{"Admins"}}
		}),
		csr("extra DNS name", true, "extra.example", func(t *x509.CertificateRequest) { t.DNSNames = []string{"extra.example"} }),
		csr("extra IP address", false, "127.0.0.2", func(t *x509.CertificateRequest) {
			t.IPAddresses = append(t.IPAddresses, net.ParseIP("127.0.0.2"))
		}),
		csr("missing name", false, "127.0.0.1", func(t *x509.CertificateRequest) { t.IPAddresses = nil }),
		csr("CN not in the order", false, "other.example", func(t *x509.CertificateRequest) {
			t.Subject = pkix.Name{CommonName: "other.example"}
		}),
		csr("OCSP must-staple", false, "TLS feature", withExtension(oidTLSFeature, []int{5})),
		csr("nameConstraints", false, "nameConstraints", withExtension(oidNameConstr, struct {
			Permitted []asn1.RawValue `asn1:"optional,tag:0"`
		}{[]asn1.RawValue{{Tag: asn1.TagSequence, IsCompound: true,
			Bytes: mustDER(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 2, Bytes: []byte("example")})}}})),
		raw("weak RSA 1024 key", true, "1024", func(f *fixture) []byte { return key(rsaKey(f, 1024))(f) }),
		raw("P-224 key", false, "P-224", key(ecKey(elliptic.P224()))),
		raw("account key", true, "account key", func(f *fixture) []byte { return key(f.a.key)(f) }),
		raw("SHA-1 signature", false, "SHA1", func(f *fixture) []byte { return f.sha1CSR() }),
		raw("tampered signature", false, "signature", func(f *fixture) []byte {
			der := key(ecKey(p256))(f)
			der[len(der)-5] ^= 0x40
			return der
		}),
		raw("garbage DER", false, "parsed", func(*fixture) []byte { return []byte("\x30\x03\x02\x01") }),
		{name: "csr/not base64url", want: bad(400, "badCSR", "base64url"), check: orderStaysReady,
			send: func(f *fixture) *response { return f.a.do(f.ready.Finalize, map[string]string{"csr": "!!!"}) }},
		{name: "csr/missing", want: bad(400, "badCSR", "csr"), check: orderStaysReady,
			send: func(f *fixture) *response { return f.a.do(f.ready.Finalize, map[string]string{}) }},
	}
}

// selfSigned is a certificate acmera did not issue, with serial.
func (f *fixture) selfSigned(serial *big.Int) []byte {
	k := ecKey(p256)
	tmpl := &x509.Certificate{SerialNumber: serial, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{localhostIP}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
	if err != nil {
		f.t.Fatal(err)
	}
	return der
}

func (f *fixture) revoke(payload any) *response { return f.a.do(f.a.base+"/revoke-cert", payload) }

func revokeCases() []hostile {
	reason := func(n int) hostile {
		return hostile{name: "revoke/reason " + big.NewInt(int64(n)).String(), want: bad(400, "badRevocationReason", big.NewInt(int64(n)).String()),
			send: func(f *fixture) *response {
				return f.revoke(map[string]any{"certificate": b64(f.certDER), "reason": n})
			}}
	}
	return []hostile{
		reason(7), reason(8), reason(10), reason(-1),
		{name: "revoke/reason not a number", want: bad(400, "malformed", "revokeCert"),
			send: func(f *fixture) *response {
				return f.revoke(map[string]any{"certificate": b64(f.certDER), "reason": "keyCompromise"})
			}},
		{name: "revoke/not our certificate", want: bad(404, "malformed", "not found"),
			send: func(f *fixture) *response {
				return f.revoke(map[string]any{"certificate": b64(f.selfSigned(big.NewInt(42)))})
			}},
		{name: "revoke/forged certificate with an issued serial", firestore: true, want: bad(404, "malformed", "not found"),
			send: func(f *fixture) *response {
				leaf, err := x509.ParseCertificate(f.certDER)
				if err != nil {
					f.t.Fatal(err)
				}
				return f.revoke(map[string]any{"certificate": b64(f.selfSigned(leaf.SerialNumber))})
			}},
		{name: "revoke/the CA root", want: bad(404, "malformed", "not found"),
			send: func(f *fixture) *response { return f.revoke(map[string]any{"certificate": b64(f.s.env.rootDER)}) }},
		{name: "revoke/certificate not base64url", want: bad(400, "malformed", "base64url"),
			send: func(f *fixture) *response { return f.revoke(map[string]any{"certificate": "!!"}) }},
		{name: "revoke/certificate not DER", want: bad(400, "malformed", "parsed"),
			send: func(f *fixture) *response { return f.revoke(map[string]any{"certificate": b64([]byte("junk"))}) }},
		{name: "revoke/certificate missing", want: bad(400, "malformed", "certificate"),
			send: func(f *fixture) *response { return f.revoke(map[string]any{"reason": 1}) }},
	}
}
