package cas

import (
	"context"
	"errors"
	"fmt"
	"regexp"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/acmera/acmera/pkg/ca"
)

// retryable reports whether a CAS status is worth another attempt with the
// same request_id.
func retryable(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.ResourceExhausted, codes.DeadlineExceeded,
		codes.Aborted, codes.Internal, codes.Unknown:
		return true
	}
	return false
}

// call runs fn up to Attempts times while it fails with a retryable code,
// sleeping with exponential backoff in between. It returns fn's error
// wrapped with the method name, and with ca.ErrTransient when the failure
// was transient (attempts exhausted or ctx done).
func (i *Issuer) call(ctx context.Context, method string, fn func(context.Context) error) error {
	n, err, transient := i.retry.Do(ctx, retryable, fn)
	switch {
	case err == nil:
		return nil
	case !transient:
		return fmt.Errorf("privateca.%s: %w", method, err)
	}
	return fmt.Errorf("privateca.%s: %w after %d attempt(s): %w", method, ca.ErrTransient, n, err)
}

// Redaction of CA messages before they reach an ACME client: resource
// names and e-mail addresses (service accounts) are internal.
var (
	resourceRE = regexp.MustCompile(`projects/[^\s"',;]+`)
	emailRE    = regexp.MustCompile(`[^\s"',;:]+@[^\s"',;]+`)
)

// safeMessage is the status message of err with internal names removed,
// at most 200 bytes.
func safeMessage(err error) string {
	var msg string
	var se interface{ GRPCStatus() *status.Status }
	if errors.As(err, &se) {
		msg = se.GRPCStatus().Message()
	}
	msg = resourceRE.ReplaceAllString(msg, "(resource)")
	msg = emailRE.ReplaceAllString(msg, "(account)")
	if len(msg) > 200 {
		msg = msg[:200] + "…"
	}
	return msg
}

// classify maps a failed call to the ca contract: transient errors pass
// through; NotFound and PermissionDenied (a pool or template that does not
// exist, a role acmera's service account lacks) are the operator's
// misconfiguration, ca.ErrMisconfigured; other permanent refusals become
// *ca.RejectedError (wrapping the original for logs); anything else is
// returned as is.
func classify(err error) error {
	if errors.Is(err, ca.ErrTransient) {
		return err
	}
	var detail string
	switch status.Code(err) {
	case codes.InvalidArgument, codes.FailedPrecondition, codes.OutOfRange:
		detail = "the CA rejected the request: " + safeMessage(err)
	case codes.PermissionDenied, codes.NotFound:
		return fmt.Errorf("%w: %w", ca.ErrMisconfigured, err)
	default:
		return err
	}
	return fmt.Errorf("%w (%w)", &ca.RejectedError{Detail: detail}, err)
}
