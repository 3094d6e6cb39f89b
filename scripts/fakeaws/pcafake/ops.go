package pcafake

import (
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"strings"
	"time"
)

// apiError is a modeled error of the service: code is the shape name.
type apiError struct {
	code, msg string
}

func errorf(code, format string, args ...any) *apiError {
	return &apiError{code: code, msg: fmt.Sprintf(format, args...)}
}

// checkCA answers ResourceNotFoundException for another CA's ARN and
// InvalidArnException for something that is no ARN.
func (s *Server) checkCA(in input) *apiError {
	arn := in.str("CertificateAuthorityArn")
	switch {
	case !strings.HasPrefix(arn, "arn:"):
		return errorf("InvalidArnException", "The requested Amazon Resource Name (ARN) does not refer to an existing resource.")
	case arn != s.arn:
		// The reference names ResourceNotFoundException; the message is the fake's.
		return errorf("ResourceNotFoundException", "Could not find certificate authority %s.", arn)
	}
	return nil
}

// activeCA requires the CA ACTIVE (the caller holds s.mu).
func (s *Server) activeCA() *apiError {
	if s.status != "ACTIVE" {
		return errorf("InvalidStateException", "The certificate authority %s is not in the correct state to perform this operation (status %s).", s.arn, s.status)
	}
	return nil
}

// templates are the base end-entity templates the fake applies, with the
// extended key usages the AWS template definitions list.
var templates = map[string][]x509.ExtKeyUsage{
	"EndEntityCertificate/V1":           {x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	"EndEntityServerAuthCertificate/V1": {x509.ExtKeyUsageServerAuth},
	"EndEntityClientAuthCertificate/V1": {x509.ExtKeyUsageClientAuth},
}

// signing maps the ECDSA SigningAlgorithm values to Go's; the CA's key is
// EC P-256, so an RSA (or other) family is refused as AWS does.
var signing = map[string]x509.SignatureAlgorithm{
	"SHA256WITHECDSA": x509.ECDSAWithSHA256,
	"SHA384WITHECDSA": x509.ECDSAWithSHA384,
	"SHA512WITHECDSA": x509.ECDSAWithSHA512,
}

func (s *Server) issueCertificate(in input) (map[string]any, *apiError) {
	if e := s.checkCA(in); e != nil {
		return nil, e
	}
	csrPEM, err := in.blob("Csr")
	if err != nil || len(csrPEM) == 0 {
		return nil, errorf("MalformedCSRException", "The certificate signing request is invalid.")
	}
	csr, e := parseCSR(csrPEM)
	if e != nil {
		return nil, e
	}
	alg := in.str("SigningAlgorithm")
	sigAlg, ok := signing[alg]
	if !ok {
		// The reference says the family must match the CA key's; the message is the fake's.
		return nil, errorf("InvalidArgsException", "The signing algorithm %q does not match the algorithm family of the certificate authority's key (EC_prime256v1).", alg)
	}
	tmpl := "EndEntityCertificate/V1"
	if t := in.str("TemplateArn"); t != "" {
		name, ok := strings.CutPrefix(t, "arn:aws:acm-pca:::template/")
		if _, known := templates[name]; !ok || !known {
			return nil, errorf("InvalidArgsException", "The template ARN %s is not valid.", t)
		}
		tmpl = name
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.activeCA(); e != nil {
		return nil, e
	}
	now := s.now()
	notBefore := now.Add(-60 * time.Minute)
	if nb := in.obj("ValidityNotBefore"); nb != nil {
		if nb.str("Type") != "ABSOLUTE" {
			return nil, errorf("InvalidArgsException", "ValidityNotBefore must be of type ABSOLUTE.")
		}
		v, _ := nb.long("Value")
		notBefore = time.Unix(v, 0)
	}
	notAfter, e := validityEnd(in.obj("Validity"), now)
	if e != nil {
		return nil, e
	}
	if !notAfter.After(now) || !notAfter.After(notBefore) {
		return nil, errorf("InvalidArgsException", "The certificate validity must end in the future and after it begins.")
	}
	if notAfter.After(s.ca.signer.NotAfter) {
		return nil, errorf("InvalidArgsException", "The certificate validity specified exceeds the certificate authority validity.")
	}
	s.requests = append(s.requests, in)
	tok := in.str("IdempotencyToken")
	if t, ok := s.tokens[tok]; tok != "" && ok && now.Sub(t.at) < IdempotencyWindow {
		return map[string]any{"CertificateArn": t.arn}, nil
	}
	cert, err := s.sign(csr, sigAlg, templates[tmpl], notBefore, notAfter)
	if err != nil {
		return nil, errorf("RequestFailedException", "The request has failed for an unspecified reason: %v", err)
	}
	if tok != "" {
		s.tokens[tok] = token{arn: cert.arn, at: now}
	}
	return map[string]any{"CertificateArn": cert.arn}, nil
}

func parseCSR(p []byte) (*x509.CertificateRequest, *apiError) {
	block, _ := pem.Decode(p)
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return nil, errorf("MalformedCSRException", "The certificate signing request is invalid: no CERTIFICATE REQUEST PEM block.")
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, errorf("MalformedCSRException", "The certificate signing request is invalid.")
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, errorf("MalformedCSRException", "The certificate signing request signature is invalid.")
	}
	if len(csr.Subject.Names) == 0 && len(csr.DNSNames)+len(csr.IPAddresses)+len(csr.EmailAddresses)+len(csr.URIs) == 0 {
		return nil, errorf("MalformedCSRException", "A CSR must provide either a subject name or a subject alternative name.")
	}
	return csr, nil
}

// validityEnd interprets Validity: END_DATE (UTCTime YYMMDDHHMMSS or
// GeneralizedTime YYYYMMDDHHMMSS), ABSOLUTE (epoch seconds), or DAYS,
// MONTHS, YEARS from now.
func validityEnd(v input, now time.Time) (time.Time, *apiError) {
	n, ok := v.long("Value")
	if v == nil || !ok {
		return time.Time{}, errorf("InvalidArgsException", "Validity is required.")
	}
	switch v.str("Type") {
	case "END_DATE":
		s := fmt.Sprint(n)
		layout := "20060102150405"
		if len(s) == 12 {
			layout = "060102150405" // Go maps YY < 69 to 20YY; RFC 5280 pivots at 50
		}
		t, err := time.Parse(layout, s)
		if err != nil {
			return time.Time{}, errorf("InvalidArgsException", "Validity END_DATE %d is not YYMMDDHHMMSS or YYYYMMDDHHMMSS.", n)
		}
		if len(s) == 12 && t.Year() >= 2050 {
			t = t.AddDate(-100, 0, 0)
		}
		return t, nil
	case "ABSOLUTE":
		return time.Unix(n, 0), nil
	case "DAYS":
		return now.AddDate(0, 0, int(n)), nil
	case "MONTHS":
		return now.AddDate(0, int(n), 0), nil
	case "YEARS":
		return now.AddDate(int(n), 0, 0), nil
	}
	return time.Time{}, errorf("InvalidArgsException", "Validity type %q is not valid.", v.str("Type"))
}

// sign issues a certificate as the base templates do: subject and
// subjectAltName copied from the CSR, key usage digitalSignature and
// keyEncipherment (critical), the template's extended key usages, not a
// CA. The caller holds s.mu.
func (s *Server) sign(csr *x509.CertificateRequest, alg x509.SignatureAlgorithm, eku []x509.ExtKeyUsage, notBefore, notAfter time.Time) (*issued, error) {
	serial, err := randomSerial(s.rand)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		RawSubject:            csr.RawSubject,
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:           eku,
		BasicConstraintsValid: true,
		SignatureAlgorithm:    alg,
	}
	for _, ext := range csr.Extensions {
		if ext.Id.Equal(oidSAN) { // copied as written, every name type
			tmpl.ExtraExtensions = append(tmpl.ExtraExtensions, ext)
		}
	}
	der, err := x509.CreateCertificate(s.rand, tmpl, s.ca.signer, csr.PublicKey, s.ca.key)
	if err != nil {
		return nil, fmt.Errorf("x509.CreateCertificate: %w", err)
	}
	id := make([]byte, 16)
	if _, err := s.rand.Read(id); err != nil {
		return nil, fmt.Errorf("random: %w", err)
	}
	c := &issued{
		arn:     fmt.Sprintf("%s/certificate/%x", s.arn, id),
		der:     der,
		serial:  serial,
		pending: s.inProgress,
	}
	s.certs[c.arn] = c
	s.bySerial[serial.Text(16)] = c
	return c, nil
}

var oidSAN = []int{2, 5, 29, 17}

func (s *Server) getCertificate(in input) (map[string]any, *apiError) {
	if e := s.checkCA(in); e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.certs[in.str("CertificateArn")]
	if !ok {
		return nil, errorf("ResourceNotFoundException", "Could not find certificate %s.", in.str("CertificateArn"))
	}
	if c.pending > 0 {
		c.pending--
		return nil, errorf("RequestInProgressException", "The request to issue certificate %s is still in progress.", c.arn)
	}
	return map[string]any{
		"Certificate":      string(pemOf(c.der)),
		"CertificateChain": string(s.ca.chainPEM),
	}, nil
}

// reasons are the RevocationReason enum values.
var reasons = map[string]bool{
	"UNSPECIFIED": true, "KEY_COMPROMISE": true, "CERTIFICATE_AUTHORITY_COMPROMISE": true,
	"AFFILIATION_CHANGED": true, "SUPERSEDED": true, "CESSATION_OF_OPERATION": true,
	"PRIVILEGE_WITHDRAWN": true, "A_A_COMPROMISE": true,
}

func (s *Server) revokeCertificate(in input) (map[string]any, *apiError) {
	if e := s.checkCA(in); e != nil {
		return nil, e
	}
	reason := in.str("RevocationReason")
	if !reasons[reason] {
		return nil, errorf("InvalidArgsException", "The revocation reason %q is not valid.", reason)
	}
	serial, ok := parseSerial(in.str("CertificateSerial"))
	if !ok {
		return nil, errorf("InvalidArgsException", "The certificate serial %q is not hexadecimal.", in.str("CertificateSerial"))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.activeCA(); e != nil {
		return nil, e
	}
	c, ok := s.bySerial[serial.Text(16)]
	if !ok {
		// The reference lists ResourceNotFoundException; the message is the fake's.
		return nil, errorf("ResourceNotFoundException", "Could not find a certificate with serial %s issued by %s.", in.str("CertificateSerial"), s.arn)
	}
	if c.revoked {
		return nil, errorf("RequestAlreadyProcessedException", "This certificate has already been revoked.")
	}
	c.revoked = true
	s.revoked = append(s.revoked, Revocation{Serial: serial, Reason: reason, At: s.now()})
	return map[string]any{}, nil
}

// parseSerial reads hexadecimal with or without colons (the form openssl
// prints and the CLI examples use).
func parseSerial(h string) (*big.Int, bool) {
	h = strings.ReplaceAll(h, ":", "")
	if h == "" {
		return nil, false
	}
	if _, err := hex.DecodeString(strings.Repeat("0", len(h)%2) + h); err != nil {
		return nil, false
	}
	return new(big.Int).SetString(h, 16)
}

func (s *Server) getCACertificate(in input) (map[string]any, *apiError) {
	if e := s.checkCA(in); e != nil {
		return nil, e
	}
	out := map[string]any{"Certificate": string(pemOf(s.ca.signer.Raw))}
	if s.ca.signer != s.ca.root {
		out["CertificateChain"] = string(s.ca.rootPEM)
	}
	return out, nil
}

func (s *Server) describe(in input) (map[string]any, *apiError) {
	if e := s.checkCA(in); e != nil {
		return nil, e
	}
	s.mu.Lock()
	status := s.status
	s.mu.Unlock()
	typ := "SUBORDINATE"
	if s.ca.signer == s.ca.root {
		typ = "ROOT"
	}
	c := s.ca.signer
	return map[string]any{"CertificateAuthority": map[string]any{
		"Arn":          s.arn,
		"OwnerAccount": s.account,
		"CreatedAt":    c.NotBefore,
		"Status":       status,
		"Type":         typ,
		"Serial":       c.SerialNumber.Text(16),
		"NotBefore":    c.NotBefore,
		"NotAfter":     c.NotAfter,
		"UsageMode":    "GENERAL_PURPOSE",
		"CertificateAuthorityConfiguration": map[string]any{
			"KeyAlgorithm":     "EC_prime256v1",
			"SigningAlgorithm": "SHA256WITHECDSA",
			"Subject":          map[string]any{"CommonName": c.Subject.CommonName, "Organization": c.Subject.Organization[0]},
		},
		"KeyStorageSecurityStandard": "FIPS_140_2_LEVEL_3_OR_HIGHER",
	}}, nil
}
