// Package x509names reads the subjectAltName extension (RFC 5280
// §4.2.1.6) byte by byte, for the three places acmera must see every name
// a request or certificate holds: crypto/x509 keeps only four of the nine
// GeneralName choices and silently drops otherName, directoryName and
// registeredID entries.
package x509names

import (
	"encoding/asn1"
	"errors"
	"fmt"
)

// OIDSubjectAltName is id-ce-subjectAltName.
var OIDSubjectAltName = asn1.ObjectIdentifier{2, 5, 29, 17}

// GeneralName tags (the CHOICE's context-specific tag numbers).
const (
	TagDNSName   = 2
	TagIPAddress = 7
)

var kinds = map[int]string{
	0: "otherName", 1: "rfc822Name (e-mail)", 2: "dNSName", 3: "x400Address",
	4: "directoryName", 5: "ediPartyName", 6: "uniformResourceIdentifier (URI)",
	7: "iPAddress", 8: "registeredID",
}

// Kind names the GeneralName choice of n, for a refusal's detail.
func Kind(n asn1.RawValue) string {
	if k, ok := kinds[n.Tag]; ok && n.Class == asn1.ClassContextSpecific {
		return k
	}
	return fmt.Sprintf("a name of class %d tag %d", n.Class, n.Tag)
}

// Is reports whether n is the primitive GeneralName choice tag (TagDNSName,
// TagIPAddress), whose content octets are n.Bytes.
func Is(n asn1.RawValue, tag int) bool {
	return n.Class == asn1.ClassContextSpecific && n.Tag == tag && !n.IsCompound
}

// Parse decodes the value of a subjectAltName extension: a SEQUENCE of
// GeneralName, each returned raw. Trailing bytes are an error.
func Parse(value []byte) ([]asn1.RawValue, error) {
	var names []asn1.RawValue
	rest, err := asn1.Unmarshal(value, &names)
	if err != nil {
		return nil, fmt.Errorf("asn1.Unmarshal subjectAltName: %w", err)
	}
	if len(rest) != 0 {
		return nil, errors.New("x509names: bytes after the subjectAltName")
	}
	return names, nil
}
