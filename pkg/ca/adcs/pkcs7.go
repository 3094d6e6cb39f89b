package adcs

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"

	"github.com/acmera/acmera/pkg/ca"
)

// PKCS #7 / CMS (RFC 5652 §3, §5.1) as far as a certs-only SignedData
// needs: the certificates field, nothing verified (there are no signers).
var oidSignedData = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}

type contentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue `asn1:"explicit,tag:0"`
}

type signedData struct {
	Version          int
	DigestAlgorithms asn1.RawValue
	EncapContentInfo asn1.RawValue
	Certificates     asn1.RawValue `asn1:"optional,tag:0"`
	CRLs             asn1.RawValue `asn1:"optional,tag:1"`
	SignerInfos      asn1.RawValue
}

// parsePKCS7Certs returns the certificates of a PKCS #7 SignedData, DER.
func parsePKCS7Certs(der []byte) ([]*x509.Certificate, error) {
	var ci contentInfo
	if rest, err := asn1.Unmarshal(der, &ci); err != nil {
		return nil, fmt.Errorf("pkcs7 ContentInfo: %w", err)
	} else if len(rest) > 0 {
		return nil, errors.New("pkcs7: trailing data after ContentInfo")
	}
	if !ci.ContentType.Equal(oidSignedData) {
		return nil, fmt.Errorf("pkcs7: content type %s is not signedData", ci.ContentType)
	}
	var sd signedData
	if _, err := asn1.Unmarshal(ci.Content.Bytes, &sd); err != nil {
		return nil, fmt.Errorf("pkcs7 SignedData: %w", err)
	}
	if len(sd.Certificates.Bytes) == 0 {
		return nil, errors.New("pkcs7: no certificates")
	}
	certs, err := x509.ParseCertificates(sd.Certificates.Bytes)
	if err != nil {
		return nil, fmt.Errorf("pkcs7 certificates: %w", err)
	}
	return certs, nil
}

// decodeB64 undoes certsrv's Enc=b64: PEM armour (certsrv labels even a
// PKCS #7 "CERTIFICATE"), or bare base64, or already DER.
func decodeB64(body []byte) ([]byte, error) {
	if b, _ := pem.Decode(body); b != nil {
		return b.Bytes, nil
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) > 0 && trimmed[0] == 0x30 {
		return trimmed, nil
	}
	der, err := base64.StdEncoding.DecodeString(string(bytes.Join(bytes.Fields(trimmed), nil)))
	if err != nil {
		return nil, fmt.Errorf("neither PEM nor base64: %w", err)
	}
	return der, nil
}

// chainFor orders the CA certificates above leaf, issuer first, without
// the self-signed root (what an ACME client serves, RFC 8555 §7.4.2).
func chainFor(leaf *x509.Certificate, cas []*x509.Certificate) ([][]byte, error) {
	out := [][]byte{leaf.Raw}
	cur := leaf
	for range len(cas) + 1 {
		var next *x509.Certificate
		for _, c := range cas {
			if bytes.Equal(cur.RawIssuer, c.RawSubject) && cur.CheckSignatureFrom(c) == nil {
				next = c
				break
			}
		}
		if next == nil {
			if cur == leaf {
				return nil, errors.New("the CA chain holds no issuer of the certificate (a renewed CA key?)")
			}
			return out, nil
		}
		if ca.SelfSigned(next) {
			return out, nil
		}
		out = append(out, next.Raw)
		cur = next
	}
	return out, nil
}
