package casfake

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/url"
	"time"

	"cloud.google.com/go/security/privateca/apiv1/privatecapb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

type allowedKey = privatecapb.CaPool_IssuancePolicy_AllowedKeyType

// create validates and signs one CreateCertificateRequest. Callers hold
// s.mu.
func (s *Server) create(req *privatecapb.CreateCertificateRequest) (*privatecapb.Certificate, error) {
	in := req.GetCertificate()
	spec, err := s.checkCertificate(req)
	if err != nil {
		return nil, err
	}
	id, err := s.certificateID(req.GetCertificateId())
	if err != nil {
		return nil, err
	}
	notBefore, notAfter, err := s.validity(in)
	if err != nil {
		return nil, err
	}
	out := &privatecapb.Certificate{
		Name:                       s.pool + "/certificates/" + id,
		IssuerCertificateAuthority: s.pool + "/certificateAuthorities/" + caID,
		Lifetime:                   durationpb.New(notAfter.Sub(notBefore)),
		CertificateTemplate:        in.GetCertificateTemplate(),
		SubjectMode:                in.GetSubjectMode(),
		Labels:                     in.GetLabels(),
		CreateTime:                 timestamppb.New(s.now()),
		UpdateTime:                 timestamppb.New(s.now()),
	}
	if in.GetConfig() != nil {
		out.CertificateConfig = &privatecapb.Certificate_Config{Config: in.GetConfig()}
	} else {
		out.CertificateConfig = &privatecapb.Certificate_PemCsr{PemCsr: in.GetPemCsr()}
	}
	if req.GetValidateOnly() {
		return out, nil
	}
	der, err := s.ca.sign(s.rand, spec, notBefore, notAfter)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "sign: %v", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "x509.ParseCertificate: %v", err)
	}
	out.PemCertificate = pemCert(der)
	out.PemCertificateChain = s.ca.chain()
	out.CertificateDescription = describe(leaf)
	s.minted++
	if s.tier != privatecapb.CaPool_DEVOPS {
		s.certs[out.Name] = clone(out)
	}
	return out, nil
}

// checkCertificate validates the request's pem_csr or config, template,
// CA ID and key type, and returns what the certificate will hold, with
// the template's predefined_values applied on top.
func (s *Server) checkCertificate(req *privatecapb.CreateCertificateRequest) (*leafSpec, error) {
	in := req.GetCertificate()
	if in == nil {
		return nil, status.Error(codes.InvalidArgument, "certificate is required")
	}
	if id := req.GetIssuingCertificateAuthorityId(); id != "" && id != caID {
		return nil, status.Errorf(codes.NotFound, "CertificateAuthority %q not found in %s", id, s.pool)
	}
	if err := s.checkTemplate(in.GetCertificateTemplate()); err != nil {
		return nil, err
	}
	var spec *leafSpec
	var err error
	switch {
	case in.GetConfig() != nil && in.GetPemCsr() != "":
		return nil, status.Error(codes.InvalidArgument, "certificate: only one of pem_csr and config may be set")
	case in.GetConfig() != nil:
		s.configs++
		spec, err = specFromConfig(in.GetConfig())
	default:
		s.pemCSRs++
		spec, err = specFromCSR(in.GetPemCsr())
	}
	if err != nil {
		return nil, err
	}
	if !keyAllowed(spec.pub, s.policy.GetAllowedKeyTypes()) {
		return nil, status.Error(codes.InvalidArgument,
			"the CSR's public key type is not allowed by the CaPool's issuance policy")
	}
	spec.apply(s.templateValues[in.GetCertificateTemplate()])
	return spec, nil
}

// specFromCSR reads a pem_csr: its subject and names as the CSR gives
// them, and CAS's default usages.
func specFromCSR(pemCSR string) (*leafSpec, error) {
	block, _ := pem.Decode([]byte(pemCSR))
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return nil, status.Error(codes.InvalidArgument, "certificate.pem_csr is not a PEM CERTIFICATE REQUEST")
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "certificate.pem_csr: %v", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "certificate.pem_csr signature: %v", err)
	}
	usage := x509.KeyUsageDigitalSignature
	if _, ok := csr.PublicKey.(*rsa.PublicKey); ok {
		usage |= x509.KeyUsageKeyEncipherment
	}
	return &leafSpec{
		subject: csr.Subject, dnsNames: csr.DNSNames, ips: csr.IPAddresses, uris: csr.URIs,
		emails: csr.EmailAddresses, pub: csr.PublicKey, usage: usage,
		extUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}, nil
}

// specFromConfig reads a CertificateConfig: subject, subject_alt_name,
// x509_config (key usage, extended key usage, CA options) and public_key.
func specFromConfig(cfg *privatecapb.CertificateConfig) (*leafSpec, error) {
	pk := cfg.GetPublicKey()
	if pk == nil || len(pk.GetKey()) == 0 {
		return nil, status.Error(codes.InvalidArgument, "certificate.config.public_key is required")
	}
	if pk.GetFormat() != privatecapb.PublicKey_PEM {
		return nil, status.Errorf(codes.InvalidArgument, "certificate.config.public_key.format %v is not supported", pk.GetFormat())
	}
	block, _ := pem.Decode(pk.GetKey())
	if block == nil || block.Type != "PUBLIC KEY" {
		return nil, status.Error(codes.InvalidArgument, "certificate.config.public_key.key is not a PEM PUBLIC KEY")
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "certificate.config.public_key.key: %v", err)
	}
	spec := &leafSpec{pub: pub}
	if sub := cfg.GetSubjectConfig().GetSubject(); sub != nil {
		spec.subject = pkix.Name{CommonName: sub.GetCommonName()}
		if v := sub.GetOrganization(); v != "" {
			spec.subject.Organization = []string{v}
		}
		if v := sub.GetOrganizationalUnit(); v != "" {
			spec.subject.OrganizationalUnit = []string{v}
		}
		if v := sub.GetCountryCode(); v != "" {
			spec.subject.Country = []string{v}
		}
	}
	san := cfg.GetSubjectConfig().GetSubjectAltName()
	spec.dnsNames = san.GetDnsNames()
	spec.emails = san.GetEmailAddresses()
	for _, v := range san.GetIpAddresses() {
		ip := net.ParseIP(v)
		if ip == nil {
			return nil, status.Errorf(codes.InvalidArgument, "certificate.config.subject_config.subject_alt_name.ip_addresses: %q is not an IP address", v)
		}
		spec.ips = append(spec.ips, ip)
	}
	for _, v := range san.GetUris() {
		u, err := url.Parse(v)
		if err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "certificate.config.subject_config.subject_alt_name.uris: %q: %v", v, err)
		}
		spec.uris = append(spec.uris, u)
	}
	if spec.subject.CommonName == "" && len(spec.dnsNames)+len(spec.ips)+len(spec.emails)+len(spec.uris) == 0 {
		return nil, status.Error(codes.InvalidArgument, "certificate.config.subject_config must name a subject or a subject alternative name")
	}
	spec.apply(cfg.GetX509Config())
	return spec, nil
}

// checkTemplate requires a known template in the pool's location.
func (s *Server) checkTemplate(name string) error {
	if name == "" {
		return nil
	}
	m := templatePattern.FindStringSubmatch(name)
	if m == nil {
		return status.Errorf(codes.InvalidArgument, "malformed CertificateTemplate name %q", name)
	}
	if m[2] != s.location {
		return status.Errorf(codes.InvalidArgument,
			"CertificateTemplate %q must be in the CaPool's location %q", name, s.location)
	}
	if !s.templates[name] {
		return status.Errorf(codes.NotFound, "CertificateTemplate %q not found", name)
	}
	return nil
}

// certificateID checks or generates the certificate's resource ID. In a
// DevOps pool the requested ID is ignored, as the API documents.
func (s *Server) certificateID(want string) (string, error) {
	if want == "" || s.tier == privatecapb.CaPool_DEVOPS {
		b := make([]byte, 8)
		if _, err := io.ReadFull(s.rand, b); err != nil {
			return "", status.Errorf(codes.Internal, "read random ID: %v", err)
		}
		return s.now().UTC().Format("20060102-150405") + "-" + hex.EncodeToString(b), nil
	}
	if !certIDPattern.MatchString(want) {
		return "", status.Errorf(codes.InvalidArgument, "certificate_id %q must match [a-zA-Z0-9_-]{1,63}", want)
	}
	if _, ok := s.certs[s.pool+"/certificates/"+want]; ok {
		return "", status.Errorf(codes.AlreadyExists, "Certificate %s/certificates/%s already exists", s.pool, want)
	}
	return want, nil
}

// validity computes [notBefore, notAfter): lifetime is required and at
// most the policy's maximum_lifetime (InvalidArgument otherwise; the API
// documents no code, the fake picks InvalidArgument); notAfter is
// truncated to the issuing CA's expiry, as documented.
func (s *Server) validity(in *privatecapb.Certificate) (time.Time, time.Time, error) {
	if in.GetLifetime() == nil || in.GetLifetime().AsDuration() <= 0 {
		return time.Time{}, time.Time{}, status.Error(codes.InvalidArgument, "certificate.lifetime must be positive")
	}
	life := in.GetLifetime().AsDuration()
	if maxLife := s.policy.GetMaximumLifetime(); maxLife != nil && life > maxLife.AsDuration() {
		return time.Time{}, time.Time{}, status.Errorf(codes.InvalidArgument,
			"requested lifetime %s exceeds the CaPool's maximum_lifetime %s", life, maxLife.AsDuration())
	}
	notBefore := s.now().Add(-s.policy.GetBackdateDuration().AsDuration())
	if t := in.GetRequestedNotBeforeTime(); t != nil {
		if !s.policy.GetAllowRequesterSpecifiedNotBeforeTime() {
			return time.Time{}, time.Time{}, status.Error(codes.InvalidArgument,
				"requested_not_before_time is not allowed by the CaPool's issuance policy")
		}
		notBefore = t.AsTime()
	}
	notBefore = notBefore.Truncate(time.Second)
	notAfter := notBefore.Add(life)
	if caEnd := s.ca.inter.NotAfter; notAfter.After(caEnd) {
		notAfter = caEnd
	}
	if !notAfter.After(notBefore) {
		return time.Time{}, time.Time{}, status.Error(codes.FailedPrecondition, "the issuing CA has expired")
	}
	return notBefore, notAfter, nil
}

// keyAllowed reports whether pub matches one of the allowed key types; an
// empty list allows any key.
func keyAllowed(pub any, allowed []*allowedKey) bool {
	if len(allowed) == 0 {
		return true
	}
	for _, a := range allowed {
		if r := a.GetRsa(); r != nil {
			if k, ok := pub.(*rsa.PublicKey); ok && rsaFits(k.N.BitLen(), r) {
				return true
			}
		}
		if ec := a.GetEllipticCurve(); ec != nil && ecFits(pub, ec.GetSignatureAlgorithm()) {
			return true
		}
	}
	return false
}

func rsaFits(bits int, r *privatecapb.CaPool_IssuancePolicy_AllowedKeyType_RsaKeyType) bool {
	minOK := r.GetMinModulusSize() == 0 || int64(bits) >= r.GetMinModulusSize()
	maxOK := r.GetMaxModulusSize() == 0 || int64(bits) <= r.GetMaxModulusSize()
	return minOK && maxOK
}

func ecFits(pub any, alg privatecapb.CaPool_IssuancePolicy_AllowedKeyType_EcKeyType_EcSignatureAlgorithm) bool {
	ec, isEC := pub.(*ecdsa.PublicKey)
	_, isEd := pub.(ed25519.PublicKey)
	switch alg {
	case privatecapb.CaPool_IssuancePolicy_AllowedKeyType_EcKeyType_ECDSA_P256:
		return isEC && ec.Curve == elliptic.P256()
	case privatecapb.CaPool_IssuancePolicy_AllowedKeyType_EcKeyType_ECDSA_P384:
		return isEC && ec.Curve == elliptic.P384()
	case privatecapb.CaPool_IssuancePolicy_AllowedKeyType_EcKeyType_EDDSA_25519:
		return isEd
	default: // EC_SIGNATURE_ALGORITHM_UNSPECIFIED: any elliptic-curve key
		return isEC || isEd
	}
}

// describe fills a minimal CertificateDescription of an issued leaf.
func describe(leaf *x509.Certificate) *privatecapb.CertificateDescription {
	sum := sha256.Sum256(leaf.Raw)
	ips := make([]string, 0, len(leaf.IPAddresses))
	for _, ip := range leaf.IPAddresses {
		ips = append(ips, ip.String())
	}
	pubPEM := ""
	if der, err := x509.MarshalPKIXPublicKey(leaf.PublicKey); err == nil {
		pubPEM = string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	}
	return &privatecapb.CertificateDescription{
		SubjectDescription: &privatecapb.CertificateDescription_SubjectDescription{
			Subject:         &privatecapb.Subject{CommonName: leaf.Subject.CommonName},
			SubjectAltName:  &privatecapb.SubjectAltNames{DnsNames: leaf.DNSNames, IpAddresses: ips, EmailAddresses: leaf.EmailAddresses},
			HexSerialNumber: fmt.Sprintf("%x", leaf.SerialNumber),
			Lifetime:        durationpb.New(leaf.NotAfter.Sub(leaf.NotBefore)),
			NotBeforeTime:   timestamppb.New(leaf.NotBefore),
			NotAfterTime:    timestamppb.New(leaf.NotAfter),
		},
		PublicKey:       &privatecapb.PublicKey{Key: []byte(pubPEM), Format: privatecapb.PublicKey_PEM},
		CertFingerprint: &privatecapb.CertificateDescription_CertificateFingerprint{Sha256Hash: hex.EncodeToString(sum[:])},
	}
}
