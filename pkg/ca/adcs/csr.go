package adcs

import (
	"crypto"
	"encoding/asn1"
	"errors"
	"fmt"
	"net"
	"slices"

	"github.com/acmera/acmera/pkg/ca"
	"github.com/acmera/acmera/pkg/x509names"
)

var oidCommonName = asn1.ObjectIdentifier{2, 5, 4, 3}

// checkCSR refuses a CSR that would make AD CS sign something other than
// req: a template set to "Supply in the request" copies the subject and subjectAltName from the CSR,
// so they must be exactly the order's (a common name that is req's or
// none, only DNS names and IP addresses) and its key req's.
func checkCSR(req ca.IssueRequest) error {
	csr := req.CSR
	refuse := func(format string, args ...any) error {
		return &ca.RejectedError{Detail: "this CA copies names from the CSR, and " + fmt.Sprintf(format, args...)}
	}
	for _, atv := range csr.Subject.Names {
		if !atv.Type.Equal(oidCommonName) {
			return refuse("the CSR's subject holds %s, not only a common name", atv.Type)
		}
	}
	if cn := csr.Subject.CommonName; cn != "" && cn != req.CommonName {
		return refuse("the CSR's common name is not the order's")
	}
	if !sameSet(csr.DNSNames, req.DNSNames) {
		return refuse("the CSR's DNS names %v are not the order's %v", csr.DNSNames, req.DNSNames)
	}
	if !sameSet(ipStrings(csr.IPAddresses), ipStrings(req.IPAddresses)) {
		return refuse("the CSR's IP addresses are not the order's")
	}
	if len(csr.EmailAddresses)+len(csr.URIs) > 0 {
		return refuse("the CSR names something other than DNS names and IP addresses")
	}
	for _, e := range csr.Extensions {
		if !e.Id.Equal(x509names.OIDSubjectAltName) {
			continue
		}
		names, err := x509names.Parse(e.Value)
		if err != nil {
			return refuse("the CSR's subjectAltName does not parse")
		}
		for _, n := range names {
			if !x509names.Is(n, x509names.TagDNSName) && !x509names.Is(n, x509names.TagIPAddress) {
				return refuse("the CSR's subjectAltName holds %s", x509names.Kind(n))
			}
		}
	}
	type equaler interface{ Equal(crypto.PublicKey) bool }
	if req.PublicKey != nil {
		if k, ok := csr.PublicKey.(equaler); !ok || !k.Equal(req.PublicKey) {
			return errors.New("adcs: IssueRequest.PublicKey is not the CSR's key")
		}
	}
	return nil
}

func ipStrings(ips []net.IP) []string {
	out := make([]string, len(ips))
	for i, ip := range ips {
		out[i] = ip.String()
	}
	return out
}

// sameSet reports whether a and b hold the same elements, each as often.
func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
