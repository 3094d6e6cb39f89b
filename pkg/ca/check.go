package ca

import (
	"cmp"
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"net"
	"slices"
	"time"

	"github.com/acmera/acmera/pkg/x509names"
)

// ValiditySlack is how far a certificate's validity may stray from the
// request to allow for the CA's clock and its whole-second rounding.
const ValiditySlack = 2 * time.Minute

// MismatchError says how an issued certificate differs from what acmera
// asked for: the CA (or its template) changed the contents. Detail is safe
// to show the ACME client; it names the field, not the CA's configuration.
type MismatchError struct {
	Detail string
}

func (e *MismatchError) Error() string {
	return "ca: issued certificate does not match the request: " + e.Detail
}

func mismatch(format string, args ...any) error {
	return &MismatchError{Detail: fmt.Sprintf(format, args...)}
}

// CheckIssued checks that leaf is the certificate req asked for, before it
// is stored or served: exactly the requested names and no other kind of
// name, not a CA, exactly the requested extended key usages, the requested
// key, and the requested validity (up to ValiditySlack either way at the
// end; a start up to ValiditySlack late, or any earlier backdating).
// now is the time of the request, for a zero req.NotBefore.
func CheckIssued(req IssueRequest, leaf *x509.Certificate, now time.Time) error {
	if !sameElements(leaf.DNSNames, req.DNSNames) {
		return mismatch("its DNS names %v are not the order's %v", leaf.DNSNames, req.DNSNames)
	}
	if !sameIPs(leaf.IPAddresses, req.IPAddresses) {
		return mismatch("its IP addresses %v are not the order's %v", leaf.IPAddresses, req.IPAddresses)
	}
	if len(leaf.EmailAddresses)+len(leaf.URIs) > 0 || !onlyDNSAndIPNames(leaf) {
		return mismatch("it names something other than DNS names and IP addresses")
	}
	for _, atv := range leaf.Subject.Names {
		if !atv.Type.Equal(oidCommonName) {
			return mismatch("its subject holds %s, not only a common name", atv.Type)
		}
	}
	if leaf.IsCA || (leaf.KeyUsage&(x509.KeyUsageCertSign|x509.KeyUsageCRLSign)) != 0 {
		return mismatch("it is a CA certificate")
	}
	if len(leaf.UnknownExtKeyUsage) > 0 || !sameElements(leaf.ExtKeyUsage, req.ExtKeyUsage) {
		return mismatch("its extended key usages are not the profile's")
	}
	if leaf.Subject.CommonName != "" && leaf.Subject.CommonName != req.CommonName {
		return mismatch("its common name is not the one requested")
	}
	type equaler interface{ Equal(crypto.PublicKey) bool }
	if k, ok := leaf.PublicKey.(equaler); !ok || !k.Equal(req.PublicKey) {
		return mismatch("its public key is not the CSR's")
	}
	start := req.NotBefore
	if start.IsZero() {
		start = now
	}
	end := start.Add(req.Lifetime)
	if !req.NotAfter.IsZero() {
		end = req.NotAfter
	}
	if leaf.NotAfter.After(end.Add(ValiditySlack)) {
		return mismatch("it is valid until %s, after the requested %s",
			leaf.NotAfter.UTC().Format(time.RFC3339), end.UTC().Format(time.RFC3339))
	}
	// The end may not come early either: a CA that shortens the validity
	// (its own certificate expires first, or it caps lifetimes) is
	// reported, not hidden. With no notAfter asked, the earliest end is a
	// lifetime after the request began (the same on every retry).
	earliest := req.NotAfter
	if earliest.IsZero() {
		if s := cmp.Or(req.NotBefore, req.RequestedAt); !s.IsZero() {
			earliest = s.Add(req.Lifetime)
		}
	}
	if !earliest.IsZero() && leaf.NotAfter.Before(earliest.Add(-ValiditySlack)) {
		return mismatch("it ends at %s, before the requested %s: the CA shortened its validity (an issuing CA certificate that expires first, or a maximum lifetime on the CA side)",
			leaf.NotAfter.UTC().Format(time.RFC3339), earliest.UTC().Format(time.RFC3339))
	}
	if leaf.NotBefore.After(start.Add(ValiditySlack)) || !leaf.NotAfter.After(leaf.NotBefore) {
		return mismatch("its validity %s to %s does not start when requested",
			leaf.NotBefore.UTC().Format(time.RFC3339), leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}

var oidCommonName = asn1.ObjectIdentifier{2, 5, 4, 3}

// onlyDNSAndIPNames walks the raw subjectAltName, since crypto/x509 drops
// otherName, directoryName and registeredID entries silently.
func onlyDNSAndIPNames(leaf *x509.Certificate) bool { return onlyDNSAndIPNamesIn(leaf.Extensions) }

// onlyDNSAndIPNamesIn reports whether every subjectAltName among exts
// names only DNS names and IP addresses.
func onlyDNSAndIPNamesIn(exts []pkix.Extension) bool {
	for _, e := range exts {
		if !e.Id.Equal(x509names.OIDSubjectAltName) {
			continue
		}
		names, err := x509names.Parse(e.Value)
		if err != nil {
			return false
		}
		for _, n := range names {
			if !x509names.Is(n, x509names.TagDNSName) && !x509names.Is(n, x509names.TagIPAddress) {
				return false
			}
		}
	}
	return true
}

// sameElements reports whether got and want hold the same elements, each
// as often, in any order.
func sameElements[T cmp.Ordered](got, want []T) bool {
	a, b := slices.Clone(got), slices.Clone(want)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func sameIPs(got, want []net.IP) bool {
	str := func(ips []net.IP) []string {
		out := make([]string, len(ips))
		for i, ip := range ips {
			out[i] = ip.String()
		}
		return out
	}
	return sameElements(str(got), str(want))
}
