package ra

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/acmera/acmera/pkg/acme"
	"github.com/acmera/acmera/pkg/core"
	"github.com/acmera/acmera/pkg/goodkey"
	"github.com/acmera/acmera/pkg/policy"
	"github.com/acmera/acmera/pkg/problem"
	"github.com/acmera/acmera/pkg/x509names"
)

// Object identifiers a finalize CSR may carry.
var (
	oidCommonName       = asn1.ObjectIdentifier{2, 5, 4, 3}
	oidExtensionRequest = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 14}
	oidKeyUsage         = asn1.ObjectIdentifier{2, 5, 29, 15}
	oidExtKeyUsage      = asn1.ObjectIdentifier{2, 5, 29, 37}
	oidBasicConstraints = asn1.ObjectIdentifier{2, 5, 29, 19}
	oidEKUServerAuth    = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 1}
	oidEKUClientAuth    = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 2}
)

// extensionNames names the extensions a refusal may mention.
var extensionNames = map[string]string{
	"2.5.29.14":               "subjectKeyIdentifier",
	"2.5.29.18":               "issuerAltName",
	"2.5.29.30":               "nameConstraints",
	"2.5.29.31":               "cRLDistributionPoints",
	"2.5.29.32":               "certificatePolicies",
	"2.5.29.35":               "authorityKeyIdentifier",
	"1.3.6.1.5.5.7.1.1":       "authorityInfoAccess",
	"1.3.6.1.5.5.7.1.24":      "TLS feature (OCSP must-staple)",
	"1.3.6.1.4.1.311.20.2":    "Microsoft certificate template name",
	"1.3.6.1.4.1.311.21.7":    "Microsoft certificate template",
	"1.3.6.1.4.1.311.25.2":    "Microsoft security identifier (SID)",
	"1.3.6.1.4.1.11129.2.4.2": "certificate transparency SCT list",
}

// checkCSR parses a finalize CSR and checks it against the order
// (RFC 8555 §7.4). The certificate is built from the order, not from the
// CSR, so the CSR may ask for nothing the order does not hold:
//   - a valid self-signature with an algorithm that is not weak, and an
//     acceptable key that is not the account's;
//   - a subject of at most one attribute, a commonName that is one of the
//     order's identifiers;
//   - no attribute but extensionRequest, and in it only subjectAltName with
//     dNSName and iPAddress entries that are exactly the order's
//     identifiers (parsed here, because crypto/x509 drops otherName,
//     directoryName and registeredID entries silently).
//
// keyUsage, extKeyUsage (serverAuth, clientAuth) and basicConstraints
// without cA are tolerated, because common clients (cert-manager) always
// send them: they ask for no more than any profile issues, and nothing of
// them is copied to the certificate. Anything else is refused with badCSR
// naming what was found.
func checkCSR(der []byte, o *core.Order, acct *core.Account) (*x509.CertificateRequest, error) {
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, problem.BadCSRf("the CSR could not be parsed as PKCS#10 DER")
	}
	if err := goodkey.CheckSignatureAlgorithm(csr.SignatureAlgorithm); err != nil {
		return nil, err
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, problem.BadCSRf("the CSR's signature does not verify")
	}
	if err := goodkey.Check(csr.PublicKey); err != nil {
		// RFC 8555 §7.4: a CSR unacceptable "due to a short key" is badCSR.
		if p, ok := problem.Of(err); ok {
			return nil, problem.BadCSRf("the CSR's public key is not acceptable: %s", p.Detail)
		}
		return nil, problem.BadCSRf("the CSR's public key is not acceptable")
	}
	if sameKey(csr, acct) {
		return nil, problem.BadCSRf("the CSR's public key must not be the account key")
	}
	want := map[acme.Identifier]bool{}
	for _, id := range o.Identifiers {
		want[id] = true
	}
	cn, err := csrCommonName(csr.RawSubject)
	if err != nil {
		return nil, err
	}
	names, err := csrNames(csr.RawTBSCertificateRequest)
	if err != nil {
		return nil, err
	}
	if cn != "" {
		id := acme.Identifier{Type: acme.IdentifierDNS, Value: policy.LowerASCII(cn)}
		if ip := net.ParseIP(cn); ip != nil {
			id = ipIdent(ip)
		}
		if !want[id] {
			return nil, problem.BadCSRf("the CSR's common name %s is not one of the order's identifiers", quote(cn))
		}
		// RFC 8555 §7.4: an identifier may be named in the commonName, the
		// subjectAltName, or both.
		names[id] = true
	}
	var missing, extra []string
	for _, id := range o.Identifiers {
		if !names[id] {
			missing = append(missing, id.Value)
		}
	}
	for id := range names {
		if !want[id] {
			extra = append(extra, quote(id.Value))
		}
	}
	if len(missing)+len(extra) > 0 {
		slices.Sort(extra)
		return nil, problem.BadCSRf("the CSR's names must be exactly the order's identifiers; missing %v, not in the order %v", missing, extra)
	}
	return csr, nil
}

// quote shows a client-supplied name in a detail: truncated at a
// character boundary and quoted rune by rune, so a non-ASCII name reads
// as itself.
func quote(s string) string {
	return strconv.Quote(problem.Truncate(strings.ToValidUTF8(s, "\uFFFD"), 64))
}

// csrCommonName returns the CSR subject's commonName, refusing a subject
// that holds any other attribute or more than one.
func csrCommonName(raw []byte) (string, error) {
	var rdns pkix.RDNSequence
	if rest, err := asn1.Unmarshal(raw, &rdns); err != nil || len(rest) > 0 {
		return "", problem.BadCSRf("the CSR's subject could not be parsed")
	}
	var cn string
	n := 0
	for _, rdn := range rdns {
		for _, atv := range rdn {
			n++
			if !atv.Type.Equal(oidCommonName) {
				return "", problem.BadCSRf("the CSR's subject may hold only a commonName; found %s", attributeName(atv.Type))
			}
			v, ok := atv.Value.(string)
			if !ok {
				return "", problem.BadCSRf("the CSR's commonName is not a string")
			}
			cn = v
		}
	}
	if n > 1 {
		return "", problem.BadCSRf("the CSR's subject may hold one commonName; found %d attributes", n)
	}
	return cn, nil
}

// attributeName names a subject attribute type in a refusal.
func attributeName(oid asn1.ObjectIdentifier) string {
	names := map[string]string{
		"2.5.4.6": "countryName", "2.5.4.7": "localityName", "2.5.4.8": "stateOrProvinceName",
		"2.5.4.10": "organizationName", "2.5.4.11": "organizationalUnitName", "2.5.4.5": "serialNumber",
		"1.2.840.113549.1.9.1": "emailAddress", "0.9.2342.19200300.100.1.25": "domainComponent",
		"0.9.2342.19200300.100.1.1": "userId",
	}
	if n, ok := names[oid.String()]; ok {
		return n
	}
	return "attribute " + oid.String()
}

// csrNames walks the CSR's attributes and requested extensions and returns
// the identifiers its subjectAltName names.
func csrNames(tbs []byte) (map[acme.Identifier]bool, error) {
	in := cryptobyte.String(tbs)
	var info, subject, spki cryptobyte.String
	var version int64
	var attrs cryptobyte.String
	if !in.ReadASN1(&info, cbasn1.SEQUENCE) || !info.ReadASN1Integer(&version) ||
		!info.ReadASN1Element(&subject, cbasn1.SEQUENCE) || !info.ReadASN1Element(&spki, cbasn1.SEQUENCE) ||
		!info.ReadASN1(&attrs, cbasn1.Tag(0).Constructed().ContextSpecific()) || !info.Empty() {
		return nil, problem.BadCSRf("the CSR's request info could not be parsed")
	}
	names := map[acme.Identifier]bool{}
	seenExtensionRequest := false
	for !attrs.Empty() {
		var attr, values cryptobyte.String
		var oid asn1.ObjectIdentifier
		if !attrs.ReadASN1(&attr, cbasn1.SEQUENCE) || !attr.ReadASN1ObjectIdentifier(&oid) || !attr.ReadASN1(&values, cbasn1.SET) {
			return nil, problem.BadCSRf("the CSR's attributes could not be parsed")
		}
		if !oid.Equal(oidExtensionRequest) {
			return nil, problem.BadCSRf("the CSR may carry only an extensionRequest attribute; found %s", oid)
		}
		if seenExtensionRequest {
			return nil, problem.BadCSRf("the CSR carries two extensionRequest attributes")
		}
		seenExtensionRequest = true
		var exts cryptobyte.String
		if !values.ReadASN1(&exts, cbasn1.SEQUENCE) || !values.Empty() {
			return nil, problem.BadCSRf("the CSR's extensionRequest must hold exactly one list of extensions")
		}
		if err := csrExtensions(exts, names); err != nil {
			return nil, err
		}
	}
	return names, nil
}

// csrExtensions checks each requested extension and collects the
// subjectAltName identifiers into names.
func csrExtensions(exts cryptobyte.String, names map[acme.Identifier]bool) error {
	seen := map[string]bool{}
	for !exts.Empty() {
		var ext, value cryptobyte.String
		var oid asn1.ObjectIdentifier
		critical := false
		if !exts.ReadASN1(&ext, cbasn1.SEQUENCE) || !ext.ReadASN1ObjectIdentifier(&oid) ||
			(ext.PeekASN1Tag(cbasn1.BOOLEAN) && !ext.ReadASN1Boolean(&critical)) ||
			!ext.ReadASN1(&value, cbasn1.OCTET_STRING) || !ext.Empty() {
			return problem.BadCSRf("the CSR's requested extensions could not be parsed")
		}
		if seen[oid.String()] {
			return problem.BadCSRf("the CSR requests extension %s twice", oid)
		}
		seen[oid.String()] = true
		var err error
		switch {
		case oid.Equal(x509names.OIDSubjectAltName):
			err = csrSubjectAltName(value, names)
		case oid.Equal(oidKeyUsage):
			err = csrKeyUsage(value)
		case oid.Equal(oidExtKeyUsage):
			err = csrExtKeyUsage(value)
		case oid.Equal(oidBasicConstraints):
			err = csrBasicConstraints(value)
		default:
			name := extensionNames[oid.String()]
			if name == "" {
				name = "extension " + oid.String()
			}
			err = problem.BadCSRf("the CSR requests %s; only subjectAltName is accepted", name)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// csrSubjectAltName reads GeneralNames: only dNSName and iPAddress.
func csrSubjectAltName(value cryptobyte.String, names map[acme.Identifier]bool) error {
	gns, err := x509names.Parse(value)
	if err != nil {
		return problem.BadCSRf("the CSR's subjectAltName could not be parsed")
	}
	for _, n := range gns {
		switch {
		case x509names.Is(n, x509names.TagDNSName): // IA5String
			for _, c := range n.Bytes {
				if c < 0x21 || c > 0x7e {
					return problem.BadCSRf("the CSR's subjectAltName holds a dNSName that is not printable ASCII")
				}
			}
			names[acme.Identifier{Type: acme.IdentifierDNS, Value: policy.LowerASCII(string(n.Bytes))}] = true
		case x509names.Is(n, x509names.TagIPAddress): // OCTET STRING
			if len(n.Bytes) != net.IPv4len && len(n.Bytes) != net.IPv6len {
				return problem.BadCSRf("the CSR's subjectAltName holds an iPAddress of %d bytes", len(n.Bytes))
			}
			names[ipIdent(net.IP(bytes.Clone(n.Bytes)))] = true
		default:
			return problem.BadCSRf("the CSR's subjectAltName holds %s; only dNSName and iPAddress are accepted", x509names.Kind(n))
		}
	}
	return nil
}

// csrKeyUsage tolerates the key usages a TLS leaf has: digitalSignature,
// keyEncipherment, keyAgreement.
func csrKeyUsage(value cryptobyte.String) error {
	var bits asn1.BitString
	if rest, err := asn1.Unmarshal(value, &bits); err != nil || len(rest) > 0 {
		return problem.BadCSRf("the CSR's keyUsage could not be parsed")
	}
	allowed := map[int]bool{0: true, 2: true, 4: true} // digitalSignature, keyEncipherment, keyAgreement
	for i := range bits.BitLength {
		if bits.At(i) == 1 && !allowed[i] {
			return problem.BadCSRf("the CSR requests a key usage (bit %d) a TLS certificate does not have", i)
		}
	}
	return nil
}

// csrExtKeyUsage tolerates serverAuth and clientAuth.
func csrExtKeyUsage(value cryptobyte.String) error {
	var oids []asn1.ObjectIdentifier
	if rest, err := asn1.Unmarshal(value, &oids); err != nil || len(rest) > 0 {
		return problem.BadCSRf("the CSR's extKeyUsage could not be parsed")
	}
	for _, oid := range oids {
		if !oid.Equal(oidEKUServerAuth) && !oid.Equal(oidEKUClientAuth) {
			return problem.BadCSRf("the CSR requests extended key usage %s; only serverAuth and clientAuth exist here", oid)
		}
	}
	return nil
}

// csrBasicConstraints tolerates basicConstraints that do not ask for a CA.
func csrBasicConstraints(value cryptobyte.String) error {
	var bc struct {
		IsCA       bool `asn1:"optional"`
		MaxPathLen int  `asn1:"optional,default:-1"`
	}
	if rest, err := asn1.Unmarshal(value, &bc); err != nil || len(rest) > 0 {
		return problem.BadCSRf("the CSR's basicConstraints could not be parsed")
	}
	if bc.IsCA {
		return problem.BadCSRf("the CSR asks for a CA certificate (basicConstraints cA TRUE)")
	}
	return nil
}

func ipIdent(ip net.IP) acme.Identifier {
	if v4 := ip.To4(); v4 != nil {
		ip = v4
	}
	return acme.Identifier{Type: acme.IdentifierIP, Value: ip.String()}
}

// sameKey reports whether the CSR's key is the account key. It compares
// RFC 7638 thumbprints (SHA-256), which the account already carries, so
// the stored JWK need not be parsed; if the CSR key has no thumbprint it
// compares the keys themselves.
func sameKey(csr *x509.CertificateRequest, acct *core.Account) bool {
	if acct.KeyThumbprint != "" {
		if tp, err := (&jose.JSONWebKey{Key: csr.PublicKey}).Thumbprint(crypto.SHA256); err == nil {
			return base64.RawURLEncoding.EncodeToString(tp) == acct.KeyThumbprint
		}
	}
	k, err := parseJWK(acct.Key)
	if err != nil {
		return false
	}
	a, err1 := x509.MarshalPKIXPublicKey(k)
	b, err2 := x509.MarshalPKIXPublicKey(csr.PublicKey)
	return err1 == nil && err2 == nil && bytes.Equal(a, b)
}
