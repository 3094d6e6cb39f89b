package awspca

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acmpca"
	"github.com/aws/aws-sdk-go-v2/service/acmpca/types"

	"github.com/acmera/acmera/pkg/ca"
)

// Issue asks the CA to sign req's CSR (AWS takes nothing else; see the
// package comment), then polls GetCertificate, bounded by Wait, until it
// is issued. The chain is the leaf followed by the issuers AWS reports
// (CertificateChain, issuer first) without the self-signed root: what an
// ACME client serves (RFC 8555 §7.4.2). Issued.Resource is the
// CertificateArn, for Resume and Revoke.
//
// IdempotencyToken is derived from req.RequestID; AWS honours it for 5
// minutes only, so a retry later than that mints a second certificate
// unless the caller recorded the ARN through req.Submitted and calls
// Resume instead.
func (i *Issuer) Issue(ctx context.Context, req ca.IssueRequest) (*ca.Issued, error) {
	in, err := i.issueInput(ctx, req)
	if err != nil {
		return nil, err
	}
	var out *acmpca.IssueCertificateOutput
	err = i.call(ctx, "IssueCertificate", func(ctx context.Context) error {
		var err error
		out, err = i.client.IssueCertificate(ctx, in)
		return err
	})
	if err != nil {
		return nil, classify(err)
	}
	arn := aws.ToString(out.CertificateArn)
	if arn == "" {
		return nil, errors.New("acmpca.IssueCertificate: no CertificateArn in the answer")
	}
	if req.Submitted != nil {
		if err := req.Submitted(ctx, arn); err != nil {
			return nil, fmt.Errorf("awspca: IssueRequest.Submitted(%s): %w", arn, err)
		}
	}
	return i.Resume(ctx, arn)
}

// Resume collects the certificate AWS named arn (an Issued.Resource, or
// what IssueRequest.Submitted recorded), waiting while it is being issued;
// it never issues. A certificate still in progress after the bounded wait
// Find implements ca.Finder: the certificate behind the ARN an earlier
// attempt recorded through IssueRequest.Submitted. With none recorded it
// cannot tell (the attempt died before AWS answered, or before the ARN was
// stored): the RA then issues again, which the IdempotencyToken answers
// with the same certificate for 5 minutes.
func (i *Issuer) Find(ctx context.Context, req ca.IssueRequest) (*ca.Issued, error) {
	if req.Resource == "" {
		return nil, errors.New("awspca: no CertificateArn was recorded for the request")
	}
	return i.Resume(ctx, req.Resource)
}

// is ca.ErrTransient; an ARN the CA does not know is ca.ErrNotIssued.
func (i *Issuer) Resume(ctx context.Context, arn string) (*ca.Issued, error) {
	in := &acmpca.GetCertificateInput{CertificateAuthorityArn: aws.String(i.caArn), CertificateArn: aws.String(arn)}
	for poll := 1; ; poll++ {
		var out *acmpca.GetCertificateOutput
		err := i.call(ctx, "GetCertificate", func(ctx context.Context) error {
			var err error
			out, err = i.client.GetCertificate(ctx, in)
			return err
		})
		switch {
		case err == nil:
			chain, err := chainOf(aws.ToString(out.Certificate), aws.ToString(out.CertificateChain))
			if err != nil {
				return nil, fmt.Errorf("acmpca.GetCertificate %s: %w", arn, err)
			}
			return &ca.Issued{Chain: chain, Resource: arn}, nil
		case code(err) == "ResourceNotFoundException":
			return nil, fmt.Errorf("%w: %w", ca.ErrNotIssued, err)
		case code(err) != "RequestInProgressException":
			return nil, classify(err)
		case poll >= i.wait.Polls:
			return nil, fmt.Errorf("acmpca.GetCertificate %s: %w: still in progress after %d polls", arn, ca.ErrTransient, poll)
		}
		if err := i.wait.Sleep(ctx, ca.Backoff(i.wait.Delay, i.wait.MaxDelay, poll)); err != nil {
			return nil, fmt.Errorf("acmpca.GetCertificate %s: %w: waiting: %w", arn, ca.ErrTransient, err)
		}
	}
}

// issueInput builds the IssueCertificate input of req.
func (i *Issuer) issueInput(ctx context.Context, req ca.IssueRequest) (*acmpca.IssueCertificateInput, error) {
	if req.CSR == nil {
		return nil, errors.New("awspca: IssueRequest.CSR is nil")
	}
	if req.RequestID == "" {
		return nil, errors.New("awspca: IssueRequest.RequestID is empty")
	}
	if err := ca.CheckCSRNames(req); err != nil {
		return nil, err
	}
	tmpl, err := i.templateFor(req)
	if err != nil {
		return nil, err
	}
	validity, err := i.validity(req)
	if err != nil {
		return nil, err
	}
	alg, err := i.signingAlgorithm(ctx)
	if err != nil {
		return nil, err
	}
	in := &acmpca.IssueCertificateInput{
		CertificateAuthorityArn: aws.String(i.caArn),
		Csr:                     pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: req.CSR.Raw}),
		SigningAlgorithm:        alg,
		Validity:                validity,
		TemplateArn:             aws.String(tmpl),
		IdempotencyToken:        aws.String(IdempotencyToken(req.RequestID)),
	}
	if !req.NotBefore.IsZero() {
		in.ValidityNotBefore = &types.Validity{Type: types.ValidityPeriodTypeAbsolute, Value: aws.Int64(req.NotBefore.Unix())}
	}
	return in, nil
}

// IdempotencyToken is the IssueCertificate token of a request ID: 32 hex
// digits (AWS allows at most 36 characters), the same on every retry.
func IdempotencyToken(requestID string) string {
	sum := sha256.Sum256([]byte("acmera-awspca|" + requestID))
	return hex.EncodeToString(sum[:16])
}

// validity is an exact end: END_DATE of req.NotAfter (GeneralizedTime,
// to the second) when set, else ABSOLUTE start+Lifetime computed now, so a
// retry minutes later does not end after what the order allows.
func (i *Issuer) validity(req ca.IssueRequest) (*types.Validity, error) {
	now := i.now()
	if !req.NotAfter.IsZero() {
		if !req.NotAfter.After(now) {
			return nil, &ca.RejectedError{Detail: "the order's notAfter has passed"}
		}
		v, err := strconv.ParseInt(req.NotAfter.UTC().Format("20060102150405"), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("awspca: END_DATE of %s: %w", req.NotAfter, err)
		}
		return &types.Validity{Type: types.ValidityPeriodTypeEndDate, Value: aws.Int64(v)}, nil
	}
	if req.Lifetime <= 0 {
		return nil, fmt.Errorf("awspca: IssueRequest.Lifetime %s is not positive", req.Lifetime)
	}
	start := req.NotBefore
	if start.IsZero() {
		start = now
	}
	return &types.Validity{Type: types.ValidityPeriodTypeAbsolute, Value: aws.Int64(start.Add(req.Lifetime).Unix())}, nil
}

// templateFor is req.Template, else the configured TemplateArn, else the
// base end-entity template with exactly req's extended key usages.
func (i *Issuer) templateFor(req ca.IssueRequest) (string, error) {
	if req.Template != "" {
		if !templateArnRE.MatchString(req.Template) {
			return "", fmt.Errorf("%w: certificate template %q is not arn:aws:acm-pca:::template/NAME/VN", ca.ErrMisconfigured, req.Template)
		}
		return req.Template, nil
	}
	if i.template != "" {
		return i.template, nil
	}
	server := slices.Contains(req.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
	client := slices.Contains(req.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	for _, u := range req.ExtKeyUsage {
		if u != x509.ExtKeyUsageServerAuth && u != x509.ExtKeyUsageClientAuth {
			return "", fmt.Errorf("awspca: extended key usage %d has no base template; set TemplateArn", u)
		}
	}
	name := "EndEntityCertificate/V1"
	switch {
	case server && !client:
		name = "EndEntityServerAuthCertificate/V1"
	case client && !server:
		name = "EndEntityClientAuthCertificate/V1"
	case !server && !client:
		return "", errors.New("awspca: a request without extended key usages has no base template; set TemplateArn")
	}
	return "arn:" + i.partition + ":acm-pca:::template/" + name, nil
}

// Roots returns the root clients should trust: the last certificate of
// GetCertificateAuthorityCertificate's chain, or the CA's own certificate
// when it has none (a root CA).
func (i *Issuer) Roots(ctx context.Context) ([][]byte, error) {
	var out *acmpca.GetCertificateAuthorityCertificateOutput
	err := i.call(ctx, "GetCertificateAuthorityCertificate", func(ctx context.Context) error {
		var err error
		out, err = i.client.GetCertificateAuthorityCertificate(ctx, &acmpca.GetCertificateAuthorityCertificateInput{
			CertificateAuthorityArn: aws.String(i.caArn),
		})
		return err
	})
	if err != nil {
		return nil, classify(err)
	}
	certs, err := ca.ParsePEMCertificates(aws.ToString(out.Certificate) + "\n" + aws.ToString(out.CertificateChain))
	if err != nil {
		return nil, fmt.Errorf("acmpca.GetCertificateAuthorityCertificate: %w", err)
	}
	return [][]byte{certs[len(certs)-1].Raw}, nil
}
