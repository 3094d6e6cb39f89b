package adcs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/acmera/acmera/pkg/ca"
)

// RFC 5280 §5.3.1 CRLReason codes with a special meaning here.
const (
	reasonCertificateHold = 6
	reasonRemoveFromCRL   = 8
)

// msReason maps an RFC 5280 CRLReason onto MS-CSRA RevokeCertificate's
// Reason (MS-CSRA 3.1.4.1.10): 0–6 are the same numbers; 8 (removeFromCRL)
// only releases a certificate on hold, so held must say whether it is
// (AD CS can take nothing else off its CRL); 7 is unused and 9, 10 are not
// reasons AD CS knows. A refusal is *ca.RejectedError, which the RA turns
// into a problem for the client (RFC 8555 §7.6 badRevocationReason).
func msReason(ctx context.Context, rfc int, held func(context.Context) (bool, error)) (uint32, error) {
	switch {
	case rfc >= 0 && rfc <= reasonCertificateHold:
		return uint32(rfc), nil
	case rfc == reasonRemoveFromCRL:
		ok, err := held(ctx)
		if err != nil {
			return 0, err
		}
		if !ok {
			return 0, &ca.RejectedError{Detail: "removeFromCRL (8) applies only to a certificate on hold, and this one is not"}
		}
		return reasonRemoveFromCRL, nil
	}
	return 0, &ca.RejectedError{Detail: fmt.Sprintf("revocation reason %d is not one AD CS can revoke for (it takes 0-6, and 8 for a certificate on hold)", rfc)}
}

// serialHex is a serial as MS-CSRA takes it: plain hexadecimal digits, no
// 0x and no separators, two per byte of its magnitude (as certutil shows it).
func serialHex(b []byte) string { return fmt.Sprintf("%x", b) }

// Revoke revokes req.Cert at the CA with MS-CSRA
// ICertAdminD::RevokeCertificate over DCOM (Revocation "dcom"). With
// Revocation "none" it refuses: Web Enrollment cannot revoke, so the
// certificate must be revoked in the CA's console (certsrv.msc) or with
// certutil -revoke.
func (i *Issuer) Revoke(ctx context.Context, req ca.RevokeRequest) error {
	if i.revocation != RevocationDCOM {
		return &ca.RejectedError{Detail: "this CA (Microsoft AD CS through Web Enrollment) cannot revoke through acmera; ask its administrators to revoke the certificate"}
	}
	if req.Cert == nil || req.Cert.SerialNumber == nil || req.Cert.SerialNumber.Sign() <= 0 {
		return errors.New("adcs: RevokeRequest.Cert has no positive serial number")
	}
	serial := serialHex(req.Cert.SerialNumber.Bytes())
	reason, err := msReason(ctx, req.Reason, func(ctx context.Context) (bool, error) {
		return i.dcomHeld(ctx, serial)
	})
	if err != nil {
		return err
	}
	return i.dcomRevoke(ctx, serial, reason, i.now())
}

// filetime is t as a Windows FILETIME: 100 ns intervals since 1601-01-01 UTC.
func filetime(t time.Time) (low, high uint32) {
	const epochDelta = 116444736000000000 // 1601 to 1970, in 100 ns
	ft := uint64(t.UnixNano()/100) + epochDelta
	return uint32(ft), uint32(ft >> 32)
}
