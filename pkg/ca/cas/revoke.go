package cas

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"cloud.google.com/go/security/privateca/apiv1/privatecapb"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/acmera/acmera/pkg/ca"
)

// revokeNamespace is the UUIDv5 namespace of revocation request IDs.
var revokeNamespace = uuid.MustParse("4d0f3c52-6f0e-5b8a-8a55-636173726576")

// devOpsDetail explains the DevOps-tier refusal to the ACME client.
const devOpsDetail = "the CA pool cannot revoke certificates: CAS DevOps-tier pools do not store " +
	"issued certificates and do not support revocation (an Enterprise-tier pool is needed)"

// casReason maps an RFC 5280 §5.3.1 CRLReason code to CAS's own
// RevocationReason enum, which numbers privilegeWithdrawn (RFC 9) as 7 and
// aACompromise (RFC 10) as 8. removeFromCRL (8) and the unused 7 are not
// reasons to revoke (RFC 8555 §7.6 badRevocationReason).
func casReason(rfc int) (privatecapb.RevocationReason, bool) {
	switch rfc {
	case 0:
		return privatecapb.RevocationReason_REVOCATION_REASON_UNSPECIFIED, true
	case 1:
		return privatecapb.RevocationReason_KEY_COMPROMISE, true
	case 2:
		return privatecapb.RevocationReason_CERTIFICATE_AUTHORITY_COMPROMISE, true
	case 3:
		return privatecapb.RevocationReason_AFFILIATION_CHANGED, true
	case 4:
		return privatecapb.RevocationReason_SUPERSEDED, true
	case 5:
		return privatecapb.RevocationReason_CESSATION_OF_OPERATION, true
	case 6:
		return privatecapb.RevocationReason_CERTIFICATE_HOLD, true
	case 9:
		return privatecapb.RevocationReason_PRIVILEGE_WITHDRAWN, true
	case 10:
		return privatecapb.RevocationReason_ATTRIBUTE_AUTHORITY_COMPROMISE, true
	}
	return 0, false
}

// revokeRequestID derives the revocation's request_id from the resource
// and reason, so a retried revocation is deduplicated by CAS.
func revokeRequestID(resource string, reason privatecapb.RevocationReason) string {
	return uuid.NewSHA1(revokeNamespace, []byte(resource+"|"+strconv.Itoa(int(reason)))).String()
}

// Revoke revokes req.Resource with the CAS equivalent of req.Reason
// (RFC 8555 §7.6). Revoking a certificate the CA already holds as revoked
// succeeds, so a revocation interrupted after the CA acted converges; the
// RA answers alreadyRevoked from its own records. A DevOps-tier pool
// cannot revoke: that is a *ca.RejectedError saying so.
func (i *Issuer) Revoke(ctx context.Context, req ca.RevokeRequest) error {
	reason, ok := casReason(req.Reason)
	if !ok {
		return &ca.RejectedError{Detail: fmt.Sprintf("revocation reason %d is not a reason to revoke (RFC 5280 §5.3.1)", req.Reason)}
	}
	if req.Resource == "" {
		return errors.New("cas: RevokeRequest.Resource is empty")
	}
	rreq := &privatecapb.RevokeCertificateRequest{
		Name: req.Resource, Reason: reason, RequestId: revokeRequestID(req.Resource, reason),
	}
	err := i.call(ctx, "RevokeCertificate", func(ctx context.Context) error {
		_, err := i.client.RevokeCertificate(ctx, rreq)
		return err
	})
	if err == nil {
		return nil
	}
	if status.Code(err) == codes.FailedPrecondition && !errors.Is(err, ca.ErrTransient) {
		return i.explainRefusal(ctx, req.Resource, err)
	}
	if status.Code(err) == codes.NotFound && !errors.Is(err, ca.ErrTransient) {
		// The pool exists (Check saw it at start): the CA does not know
		// this certificate.
		return fmt.Errorf("%w (%w)", &ca.RejectedError{Detail: "the CA does not know this certificate"}, err)
	}
	return classify(err)
}

// explainRefusal tells apart the FailedPrecondition answers of
// RevokeCertificate by describing the certificate: already revoked
// (success), not describable (a DevOps-tier pool), or another refusal.
func (i *Issuer) explainRefusal(ctx context.Context, resource string, revokeErr error) error {
	cert, err := i.get(ctx, resource)
	if err != nil {
		switch status.Code(err) {
		case codes.FailedPrecondition, codes.NotFound, codes.Unimplemented:
			if !errors.Is(err, ca.ErrTransient) {
				return fmt.Errorf("%w (%w)", &ca.RejectedError{Detail: devOpsDetail}, revokeErr)
			}
		}
		return classify(err)
	}
	if cert.GetRevocationDetails() != nil {
		return nil
	}
	return classify(revokeErr)
}
