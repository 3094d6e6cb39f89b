// Package awspca implements ca.Issuer with AWS Private CA (acm-pca)
// through the official Go SDK (service/acmpca).
//
// AWS Private CA signs a CSR, nothing else: the certificate's subject and
// subjectAltName are copied from the CSR by the end-entity template, so
// Issue refuses a CSR whose names, subject or key differ from what acmera
// decided (DESIGN.md, "The RA owns the certificate's contents"), picks the
// template whose extended key usages are the profile's, and
// ca.CheckIssued checks what comes back.
//
// Idempotency: IssueCertificate carries an IdempotencyToken derived from
// the order's ca.RequestID, and AWS deduplicates it for 5 minutes only. A
// retry inside the window gets the same CertificateArn back; beyond it AWS
// would mint a second certificate. So Issue hands the CertificateArn to
// IssueRequest.Submitted as soon as AWS names it, before waiting for the
// signature, and a caller that recorded it collects the certificate with
// Resume (GetCertificate only) instead of issuing again.
//
// Errors follow the ca contract: throttling, 5xx, network failures,
// RequestFailed and ConcurrentModification are retried a bounded number of
// times, then wrapped with ca.ErrTransient (as is a certificate still in
// progress after the bounded wait); MalformedCSR and InvalidArgs/
// InvalidRequest about the request become *ca.RejectedError with a detail
// safe for the ACME client; a missing CA, a CA not ACTIVE, a bad ARN,
// denied access, refused credentials and exhausted account quotas
// (LimitExceeded) are ca.ErrMisconfigured, which Check finds at start.
// Every error names the failing call.
//
// Credentials are keyless in production: STS AssumeRoleWithWebIdentity
// with the workload's Google ID token (package idtoken), cached until shortly
// before they expire.
package awspca

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acmpca"
	"github.com/aws/aws-sdk-go-v2/service/acmpca/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/acmera/acmera/pkg/ca"
)

var (
	_ ca.Issuer = (*Issuer)(nil)

	caArnRE       = regexp.MustCompile(`^arn:(aws[a-z-]*):acm-pca:([a-z0-9-]+):(\d{12}):certificate-authority/[0-9a-fA-F-]{36}$`)
	templateArnRE = regexp.MustCompile(`^arn:aws[a-z-]*:acm-pca:::template/[A-Za-z0-9_]+(/V\d+)$`)
	roleArnRE     = regexp.MustCompile(`^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$`)
)

// Config configures one Issuer, bound to one certificate authority.
type Config struct {
	// CAArn is the CA's ARN,
	// arn:aws:acm-pca:REGION:ACCOUNT:certificate-authority/UUID.
	CAArn string
	// Region is the CA's region; empty means the region in CAArn (they
	// must agree).
	Region string
	// TemplateArn is the certificate template, e.g.
	// arn:aws:acm-pca:::template/EndEntityServerAuthCertificate/V1; empty
	// means the base end-entity template matching each request's extended
	// key usages (serverAuth: EndEntityServerAuthCertificate/V1,
	// clientAuth: EndEntityClientAuthCertificate/V1, both:
	// EndEntityCertificate/V1). IssueRequest.Template overrides it.
	TemplateArn string
	// SigningAlgorithm is the IssueCertificate SigningAlgorithm, e.g.
	// SHA256WITHECDSA; empty means derived from the CA's key algorithm
	// (DescribeCertificateAuthority) the first time it is needed.
	SigningAlgorithm string
	// RoleArn is the IAM role assumed with the workload's identity token
	// (STS AssumeRoleWithWebIdentity); required unless Credentials is set.
	RoleArn string
	// IdentityToken returns the web identity token for RoleArn (in
	// production idtoken.Source's Token: the Google ID token of the
	// service account).
	IdentityToken TokenSource
	// RoleSessionName names the STS session in CloudTrail; empty means
	// "acmera".
	RoleSessionName string
	// Credentials, when set, replaces the web identity flow (static test
	// credentials). Exactly one of Credentials and RoleArn is set.
	Credentials aws.CredentialsProvider
	// Endpoint overrides the acm-pca endpoint URL (a local fake); empty
	// means the SDK's regional endpoint.
	Endpoint string
	// STSEndpoint overrides the STS endpoint URL; empty means the SDK's
	// regional endpoint.
	STSEndpoint string
	// HTTPClient carries the calls; nil means the SDK's default.
	HTTPClient *http.Client
	// Retry bounds the retries of transient failures.
	Retry Retry
	// Wait bounds the GetCertificate polls while a certificate is issued.
	Wait Wait
	// CallTimeout bounds each attempt; zero means 30 s.
	CallTimeout time.Duration
	// Now is the clock for validity computations; nil means time.Now.
	Now func() time.Time
}

var (
	_ ca.Issuer = (*Issuer)(nil)
	_ ca.Finder = (*Issuer)(nil)
)

// Issuer signs and revokes through one AWS Private CA. It holds one client
// (and one credentials cache) for its whole life.
type Issuer struct {
	client      *acmpca.Client
	caArn       string
	partition   string
	template    string
	retry       Retry
	wait        Wait
	callTimeout time.Duration
	now         func() time.Time

	mu        sync.Mutex
	algorithm types.SigningAlgorithm // configured, or derived once
}

// New validates cfg and builds the client once. optFns adjust the acm-pca
// client options last (tests force the AWS JSON 1.1 protocol with them).
// It makes no call; Check does.
func New(ctx context.Context, cfg Config, optFns ...func(*acmpca.Options)) (*Issuer, error) {
	m := caArnRE.FindStringSubmatch(cfg.CAArn)
	if m == nil {
		return nil, fmt.Errorf("awspca.New: CAArn %q is not arn:aws:acm-pca:REGION:ACCOUNT:certificate-authority/UUID", cfg.CAArn)
	}
	if cfg.Region == "" {
		cfg.Region = m[2]
	}
	if cfg.Region != m[2] {
		return nil, fmt.Errorf("awspca.New: Region %q is not the region of CAArn (%s)", cfg.Region, m[2])
	}
	if cfg.TemplateArn != "" && !templateArnRE.MatchString(cfg.TemplateArn) {
		return nil, fmt.Errorf("awspca.New: TemplateArn %q is not arn:aws:acm-pca:::template/NAME/VN", cfg.TemplateArn)
	}
	alg := types.SigningAlgorithm(cfg.SigningAlgorithm)
	if alg != "" && !slices.Contains(alg.Values(), alg) {
		return nil, fmt.Errorf("awspca.New: SigningAlgorithm %q is not one of %v", alg, alg.Values())
	}
	creds, err := credentialsOf(cfg)
	if err != nil {
		return nil, err
	}
	cfg.Retry = cfg.Retry.WithDefaults()
	cfg.Wait = cfg.Wait.withDefaults()
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	opts := acmpca.Options{
		Region:      cfg.Region,
		Credentials: creds,
		// This package owns the retry policy: each SDK call is one attempt.
		Retryer: aws.NopRetryer{},
	}
	if cfg.Endpoint != "" {
		opts.BaseEndpoint = aws.String(cfg.Endpoint)
	}
	if cfg.HTTPClient != nil {
		opts.HTTPClient = cfg.HTTPClient
	}
	return &Issuer{
		client:      acmpca.New(opts, optFns...),
		caArn:       cfg.CAArn,
		partition:   m[1],
		template:    cfg.TemplateArn,
		retry:       cfg.Retry,
		wait:        cfg.Wait,
		callTimeout: cfg.CallTimeout,
		now:         cfg.Now,
		algorithm:   alg,
	}, nil
}

// credentialsOf is the credentials provider of cfg: a cached web identity
// provider, or the given one.
func credentialsOf(cfg Config) (aws.CredentialsProvider, error) {
	switch {
	case cfg.Credentials != nil && cfg.RoleArn != "":
		return nil, errors.New("awspca.New: set either RoleArn (web identity) or Credentials, not both")
	case cfg.Credentials != nil:
		return cfg.Credentials, nil
	case cfg.RoleArn == "":
		return nil, errors.New("awspca.New: RoleArn is required (or Credentials, for tests)")
	case !roleArnRE.MatchString(cfg.RoleArn):
		return nil, fmt.Errorf("awspca.New: RoleArn %q is not arn:aws:iam::ACCOUNT:role/NAME", cfg.RoleArn)
	case cfg.IdentityToken == nil:
		return nil, errors.New("awspca.New: IdentityToken is required with RoleArn")
	}
	stsOpts := sts.Options{Region: cfg.Region, Retryer: aws.NopRetryer{}}
	if cfg.STSEndpoint != "" {
		stsOpts.BaseEndpoint = aws.String(cfg.STSEndpoint)
	}
	if cfg.HTTPClient != nil {
		stsOpts.HTTPClient = cfg.HTTPClient
	}
	session := cfg.RoleSessionName
	if session == "" {
		session = "acmera"
	}
	p := &webIdentity{sts: sts.New(stsOpts), role: cfg.RoleArn, session: session, token: cfg.IdentityToken}
	return aws.NewCredentialsCache(p), nil
}

// Check verifies at start what only the operator can fix: the CA exists,
// acmera may describe it and read its certificate, it is ACTIVE, and the
// signing algorithm matches its key. Its error names the setting (CAArn,
// SigningAlgorithm); a missing CA or permission is ca.ErrMisconfigured, a
// transient failure ca.ErrTransient.
func (i *Issuer) Check(ctx context.Context) error {
	desc, err := i.describe(ctx)
	if err != nil {
		return fmt.Errorf("CAArn %s: %w", i.caArn, err)
	}
	if desc.Status != types.CertificateAuthorityStatusActive {
		return fmt.Errorf("CAArn %s: %w: the certificate authority is %s, not ACTIVE", i.caArn, ca.ErrMisconfigured, desc.Status)
	}
	want, err := algorithmOf(desc)
	if err != nil {
		return fmt.Errorf("CAArn %s: %w", i.caArn, err)
	}
	i.mu.Lock()
	got := i.algorithm
	if got == "" {
		i.algorithm = want
	}
	i.mu.Unlock()
	if got != "" && family(got) != family(want) {
		return fmt.Errorf("SigningAlgorithm %s: %w: the CA's key is %s, which signs with %s",
			got, ca.ErrMisconfigured, desc.CertificateAuthorityConfiguration.KeyAlgorithm, family(want))
	}
	if _, err := i.Roots(ctx); err != nil {
		return fmt.Errorf("CAArn %s: %w", i.caArn, err)
	}
	return nil
}

// describe is DescribeCertificateAuthority of the CA, with retries.
func (i *Issuer) describe(ctx context.Context) (*types.CertificateAuthority, error) {
	var out *acmpca.DescribeCertificateAuthorityOutput
	err := i.call(ctx, "DescribeCertificateAuthority", func(ctx context.Context) error {
		var err error
		out, err = i.client.DescribeCertificateAuthority(ctx, &acmpca.DescribeCertificateAuthorityInput{
			CertificateAuthorityArn: aws.String(i.caArn),
		})
		return err
	})
	if err != nil {
		return nil, classify(err)
	}
	if out.CertificateAuthority == nil {
		return nil, errors.New("acmpca.DescribeCertificateAuthority: no CertificateAuthority in the answer")
	}
	return out.CertificateAuthority, nil
}

// signingAlgorithm is the configured algorithm, or the one derived from the
// CA's key, described once.
func (i *Issuer) signingAlgorithm(ctx context.Context) (types.SigningAlgorithm, error) {
	i.mu.Lock()
	alg := i.algorithm
	i.mu.Unlock()
	if alg != "" {
		return alg, nil
	}
	desc, err := i.describe(ctx)
	if err != nil {
		return "", err
	}
	if alg, err = algorithmOf(desc); err != nil {
		return "", err
	}
	i.mu.Lock()
	i.algorithm = alg
	i.mu.Unlock()
	return alg, nil
}

// algorithmOf is the SigningAlgorithm matching a CA's key: SHA-256 for RSA
// and P-256, the curve's own hash for P-384 and P-521.
func algorithmOf(desc *types.CertificateAuthority) (types.SigningAlgorithm, error) {
	if desc.CertificateAuthorityConfiguration == nil {
		return "", errors.New("acmpca.DescribeCertificateAuthority: no CertificateAuthorityConfiguration")
	}
	switch k := desc.CertificateAuthorityConfiguration.KeyAlgorithm; k {
	case types.KeyAlgorithmRsa2048, types.KeyAlgorithmRsa3072, types.KeyAlgorithmRsa4096:
		return types.SigningAlgorithmSha256withrsa, nil
	case types.KeyAlgorithmEcPrime256v1:
		return types.SigningAlgorithmSha256withecdsa, nil
	case types.KeyAlgorithmEcSecp384r1:
		return types.SigningAlgorithmSha384withecdsa, nil
	case types.KeyAlgorithmEcSecp521r1:
		return types.SigningAlgorithmSha512withecdsa, nil
	case types.KeyAlgorithmMlDsa44, types.KeyAlgorithmMlDsa65, types.KeyAlgorithmMlDsa87:
		return types.SigningAlgorithm(k), nil
	case types.KeyAlgorithmSm2:
		return types.SigningAlgorithmSm3withsm2, nil
	default:
		return "", fmt.Errorf("%w: the CA's key algorithm %q is not one awspca knows; set SigningAlgorithm", ca.ErrMisconfigured, k)
	}
}

// family is the key family a signing algorithm needs: RSA, ECDSA, or the
// algorithm itself.
func family(a types.SigningAlgorithm) string {
	s := string(a)
	switch {
	case strings.Contains(s, "WITHRSA"):
		return "RSA"
	case strings.HasSuffix(s, "WITHECDSA"):
		return "ECDSA"
	}
	return s
}
