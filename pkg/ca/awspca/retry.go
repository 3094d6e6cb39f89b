package awspca

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/aws/smithy-go"

	"github.com/acmera/acmera/pkg/ca"
)

// Retry is the bounded retry policy for transient failures.
type Retry = ca.Retry

// Wait bounds the GetCertificate polls of a certificate AWS is still
// issuing (RequestInProgressException).
type Wait struct {
	// Polls is the number of GetCertificate calls before giving up with
	// ca.ErrTransient; zero means 8.
	Polls int
	// Delay is the wait before the second poll, doubled after each further
	// one; zero means 500 ms.
	Delay time.Duration
	// MaxDelay caps one wait; zero means 5 s (about 23 s in all).
	MaxDelay time.Duration
	// Sleep waits d or until ctx is done; nil means Retry.Sleep's default.
	Sleep func(ctx context.Context, d time.Duration) error
}

func (w Wait) withDefaults() Wait {
	if w.Polls <= 0 {
		w.Polls = 8
	}
	if w.Delay <= 0 {
		w.Delay = 500 * time.Millisecond
	}
	if w.MaxDelay <= 0 {
		w.MaxDelay = 5 * time.Second
	}
	if w.Sleep == nil {
		w.Sleep = ca.Sleep
	}
	return w
}

// call runs fn up to Attempts times while it fails transiently, sleeping
// with exponential backoff in between, each attempt bounded by the call
// timeout. It returns fn's error wrapped with the operation name, and with
// ca.ErrTransient when the failure was transient (attempts exhausted or
// ctx done).
func (i *Issuer) call(ctx context.Context, op string, fn func(context.Context) error) error {
	n, err, tr := i.retry.Do(ctx, transient, func(ctx context.Context) error {
		actx, cancel := context.WithTimeout(ctx, i.callTimeout)
		defer cancel()
		return fn(actx)
	})
	switch {
	case err == nil:
		return nil
	case !tr:
		return fmt.Errorf("acmpca.%s: %w", op, err)
	}
	return fmt.Errorf("acmpca.%s: %w after %d attempt(s): %w", op, ca.ErrTransient, n, err)
}

// Error codes by their meaning for acmera. AWS names throttling several
// ways across its protocols; the STS codes arrive when the web identity
// exchange fails inside a call.
var (
	transientCodes = map[string]bool{
		"ThrottlingException": true, "Throttling": true, "ThrottledException": true,
		"TooManyRequestsException": true, "RequestThrottled": true, "RequestLimitExceeded": true,
		"SlowDown": true, "ProvisionedThroughputExceededException": true,
		"RequestFailedException": true, "ConcurrentModificationException": true,
		"InternalFailure": true, "InternalServerError": true, "InternalError": true,
		"ServiceUnavailable": true, "ServiceUnavailableException": true,
		"RequestTimeout": true, "RequestTimeoutException": true,
		"ExpiredTokenException": true, "ExpiredToken": true, // temporary credentials to refresh
		"IDPCommunicationError": true,
	}
	misconfiguredCodes = map[string]bool{
		"ResourceNotFoundException": true, "InvalidArnException": true, "InvalidStateException": true,
		"AccessDeniedException": true, "AccessDenied": true, "UnrecognizedClientException": true,
		"InvalidSignatureException": true, "IncompleteSignatureException": true,
		"MissingAuthenticationTokenException": true, "InvalidClientTokenId": true,
		"SignatureDoesNotMatch": true, "InvalidIdentityToken": true, "IDPRejectedClaim": true,
		"RegionDisabledException": true, "LimitExceededException": true,
		"InvalidPolicyException": true, "LockoutPreventedException": true,
	}
	rejectedCodes = map[string]bool{
		"MalformedCSRException": true, "InvalidArgsException": true,
		"InvalidRequestException": true, "ValidationException": true,
	}
)

// code is the AWS error code of err, or "".
func code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// httpStatus is the HTTP status of a failed call, or 0.
func httpStatus(err error) int {
	var he interface{ HTTPStatusCode() int }
	if errors.As(err, &he) {
		return he.HTTPStatusCode()
	}
	return 0
}

// transient reports whether err is worth another attempt: a transient
// code, a 5xx, or no answer at all (network failure, attempt timeout).
func transient(err error) bool {
	c := code(err)
	switch {
	case transientCodes[c]:
		return true
	case c != "":
		return httpStatus(err) >= 500 && !misconfiguredCodes[c] && !rejectedCodes[c]
	case httpStatus(err) >= 500:
		return true
	}
	// No error code: the request got no modeled answer (connection
	// refused or reset, timeout, unreadable body).
	var invalid smithy.InvalidParamsError
	if errors.As(err, &invalid) {
		return false
	}
	var oe *smithy.OperationError
	return errors.As(err, &oe) || errors.Is(err, context.DeadlineExceeded)
}

// Redaction of CA messages before they reach an ACME client: ARNs and
// account IDs are internal.
var (
	arnRE     = regexp.MustCompile(`arn:[^\s"',;]+`)
	accountRE = regexp.MustCompile(`\b\d{12}\b`)
)

// safeMessage is the AWS error message of err with internal names
// removed, at most 200 bytes.
func safeMessage(err error) string {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return ""
	}
	msg := arnRE.ReplaceAllString(ae.ErrorMessage(), "(resource)")
	msg = accountRE.ReplaceAllString(msg, "(account)")
	if len(msg) > 200 {
		msg = msg[:200] + "…"
	}
	return msg
}

// classify maps a failed call onto the ca contract: transient errors pass
// through; the operator's misconfiguration becomes ca.ErrMisconfigured;
// refusals of the request become *ca.RejectedError (wrapping the original
// for logs); anything else is returned as is.
func classify(err error) error {
	if err == nil || errors.Is(err, ca.ErrTransient) {
		return err
	}
	c := code(err)
	switch {
	case c == "RequestInProgressException": // Resume waits for it; elsewhere a later retry may succeed
		return fmt.Errorf("%w: %w", ca.ErrTransient, err)
	case misconfiguredCodes[c]:
		return fmt.Errorf("%w: %w", ca.ErrMisconfigured, err)
	case c == "MalformedCSRException":
		return fmt.Errorf("%w (%w)", &ca.RejectedError{Detail: "the CA could not use the CSR: " + safeMessage(err)}, err)
	case rejectedCodes[c]:
		return fmt.Errorf("%w (%w)", &ca.RejectedError{Detail: "the CA rejected the request: " + safeMessage(err)}, err)
	}
	return err
}
