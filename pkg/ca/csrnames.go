package ca

import (
	"crypto"
	"errors"
	"fmt"
)

// CheckCSRNames is for backends whose CA takes only a CSR and copies its
// subject and subjectAltName into the certificate (AWS Private CA's base
// templates, AD CS templates set to "Supply in the request"): it refuses a
// CSR that would make the CA sign anything but req, i.e. a subject other
// than req's common name (or none), names other than exactly req's DNS
// names and IP addresses, or another key. The RA has checked the CSR
// already; this keeps the rule where the CSR leaves acmera.
func CheckCSRNames(req IssueRequest) error {
	csr := req.CSR
	if csr == nil {
		return errors.New("ca: IssueRequest.CSR is nil: this CA signs CSRs")
	}
	refuse := func(format string, args ...any) error {
		return &RejectedError{Detail: "this CA copies names from the CSR, and " + fmt.Sprintf(format, args...)}
	}
	for _, atv := range csr.Subject.Names {
		if !atv.Type.Equal(oidCommonName) {
			return refuse("the CSR's subject holds %s, not only a common name", atv.Type)
		}
	}
	if cn := csr.Subject.CommonName; cn != "" && cn != req.CommonName {
		return refuse("the CSR's common name is not the order's")
	}
	if !sameElements(csr.DNSNames, req.DNSNames) {
		return refuse("the CSR's DNS names %v are not the order's %v", csr.DNSNames, req.DNSNames)
	}
	if !sameIPs(csr.IPAddresses, req.IPAddresses) {
		return refuse("the CSR's IP addresses are not the order's")
	}
	if len(csr.EmailAddresses)+len(csr.URIs) > 0 || !onlyDNSAndIPNamesIn(csr.Extensions) {
		return refuse("the CSR names something other than DNS names and IP addresses")
	}
	type equaler interface{ Equal(crypto.PublicKey) bool }
	if req.PublicKey != nil {
		if k, ok := csr.PublicKey.(equaler); !ok || !k.Equal(req.PublicKey) {
			return errors.New("ca: IssueRequest.PublicKey is not the CSR's key")
		}
	}
	return nil
}
