package awspca

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acmpca"
	"github.com/aws/aws-sdk-go-v2/service/acmpca/types"

	"github.com/acmera/acmera/pkg/ca"
)

// awsReason maps an RFC 5280 §5.3.1 CRLReason code to AWS's
// RevocationReason. AWS has no certificateHold (6) or removeFromCRL (8),
// and 7 is unused: those are not reasons this CA can revoke for (RFC 8555
// §7.6 badRevocationReason).
func awsReason(rfc int) (types.RevocationReason, bool) {
	switch rfc {
	case 0:
		return types.RevocationReasonUnspecified, true
	case 1:
		return types.RevocationReasonKeyCompromise, true
	case 2:
		return types.RevocationReasonCertificateAuthorityCompromise, true
	case 3:
		return types.RevocationReasonAffiliationChanged, true
	case 4:
		return types.RevocationReasonSuperseded, true
	case 5:
		return types.RevocationReasonCessationOfOperation, true
	case 9:
		return types.RevocationReasonPrivilegeWithdrawn, true
	case 10:
		return types.RevocationReasonAACompromise, true
	}
	return "", false
}

// serialHex is a serial as AWS takes it: the hexadecimal bytes of its
// magnitude, colon-separated, as openssl prints it and AWS's own examples
// write it.
func serialHex(c []byte) string {
	parts := make([]string, len(c))
	for k, b := range c {
		parts[k] = fmt.Sprintf("%02x", b)
	}
	return strings.Join(parts, ":")
}

// Revoke revokes req.Cert, by serial, with the AWS equivalent of
// req.Reason (RFC 8555 §7.6). A certificate AWS already holds as revoked
// (RequestAlreadyProcessedException) succeeds, as in ca/cas, so a
// revocation interrupted after the CA acted converges; the RA answers
// alreadyRevoked from its own records. AWS publishes the change in its
// next CRL, typically about 30 minutes later.
func (i *Issuer) Revoke(ctx context.Context, req ca.RevokeRequest) error {
	reason, ok := awsReason(req.Reason)
	if !ok {
		return &ca.RejectedError{Detail: fmt.Sprintf("revocation reason %d is not one AWS Private CA can revoke for (it has no certificateHold or removeFromCRL)", req.Reason)}
	}
	if req.Cert == nil || req.Cert.SerialNumber == nil || req.Cert.SerialNumber.Sign() <= 0 {
		return errors.New("awspca: RevokeRequest.Cert has no positive serial number")
	}
	in := &acmpca.RevokeCertificateInput{
		CertificateAuthorityArn: aws.String(i.caArn),
		CertificateSerial:       aws.String(serialHex(req.Cert.SerialNumber.Bytes())),
		RevocationReason:        reason,
	}
	err := i.call(ctx, "RevokeCertificate", func(ctx context.Context) error {
		_, err := i.client.RevokeCertificate(ctx, in)
		return err
	})
	switch code(err) {
	case "":
		return classify(err)
	case "RequestAlreadyProcessedException":
		return nil
	case "ResourceNotFoundException":
		// The CA exists (Check saw it at start): it does not know this
		// certificate.
		return fmt.Errorf("%w (%w)", &ca.RejectedError{Detail: "the CA does not know this certificate"}, err)
	}
	return classify(err)
}
