package casfake

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"net"
	"net/url"

	"cloud.google.com/go/security/privateca/apiv1/privatecapb"
)

// leafSpec is what one issued certificate holds, whether it came from a
// pem_csr or a CertificateConfig.
type leafSpec struct {
	subject  pkix.Name
	dnsNames []string
	ips      []net.IP
	uris     []*url.URL
	emails   []string
	pub      any
	usage    x509.KeyUsage
	extUsage []x509.ExtKeyUsage
	isCA     bool
}

// apply overlays X.509 parameters on the spec, as CAS applies a request's
// x509_config and then a template's predefined_values: each part that is
// set replaces what was there.
func (l *leafSpec) apply(p *privatecapb.X509Parameters) {
	if p == nil {
		return
	}
	if base := p.GetKeyUsage().GetBaseKeyUsage(); base != nil {
		l.usage = 0
		for _, b := range []struct {
			on  bool
			bit x509.KeyUsage
		}{
			{base.GetDigitalSignature(), x509.KeyUsageDigitalSignature},
			{base.GetContentCommitment(), x509.KeyUsageContentCommitment},
			{base.GetKeyEncipherment(), x509.KeyUsageKeyEncipherment},
			{base.GetDataEncipherment(), x509.KeyUsageDataEncipherment},
			{base.GetKeyAgreement(), x509.KeyUsageKeyAgreement},
			{base.GetCertSign(), x509.KeyUsageCertSign},
			{base.GetCrlSign(), x509.KeyUsageCRLSign},
		} {
			if b.on {
				l.usage |= b.bit
			}
		}
	}
	if ext := p.GetKeyUsage().GetExtendedKeyUsage(); ext != nil {
		l.extUsage = nil
		for _, e := range []struct {
			on bool
			u  x509.ExtKeyUsage
		}{
			{ext.GetServerAuth(), x509.ExtKeyUsageServerAuth},
			{ext.GetClientAuth(), x509.ExtKeyUsageClientAuth},
			{ext.GetCodeSigning(), x509.ExtKeyUsageCodeSigning},
			{ext.GetEmailProtection(), x509.ExtKeyUsageEmailProtection},
			{ext.GetTimeStamping(), x509.ExtKeyUsageTimeStamping},
			{ext.GetOcspSigning(), x509.ExtKeyUsageOCSPSigning},
		} {
			if e.on {
				l.extUsage = append(l.extUsage, e.u)
			}
		}
	}
	if opts := p.GetCaOptions(); opts != nil && opts.IsCa != nil {
		l.isCA = opts.GetIsCa()
	}
}
