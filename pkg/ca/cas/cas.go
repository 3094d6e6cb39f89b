// Package cas implements ca.Issuer with Google Certificate Authority
// Service (privateca v1) through the official Go client.
//
// Idempotency (DESIGN.md, "Request flow" step 6): every CreateCertificate
// carries request_id = the order's ca.RequestID (a UUID, deduplicated by
// CAS for at least 60 minutes, AIP-155) and certificate_id =
// ca.CertificateID of it. A retry inside the request_id window gets the
// original certificate back; a retry after it hits AlreadyExists on the
// certificate_id and is answered with GetCertificate of that ID, so a
// finalize retried after a timeout never mints a second certificate (in an
// Enterprise pool; a DevOps pool ignores certificate_id, so only the
// request_id window protects it).
//
// Errors follow the ca contract: Unavailable, ResourceExhausted,
// DeadlineExceeded, Aborted, Internal and Unknown are retried a bounded
// number of times with exponential backoff, then wrapped with
// ca.ErrTransient; InvalidArgument, FailedPrecondition and OutOfRange
// become *ca.RejectedError with a detail safe for the ACME client (RFC 8555
// §6.7); PermissionDenied and NotFound are ca.ErrMisconfigured, the
// operator's to fix (Check finds them at start).
package cas

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"regexp"
	"sync/atomic"
	"time"

	privateca "cloud.google.com/go/security/privateca/apiv1"
	"cloud.google.com/go/security/privateca/apiv1/privatecapb"
	"github.com/google/uuid"
	gax "github.com/googleapis/gax-go/v2"
	"google.golang.org/api/option"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/acmera/acmera/pkg/ca"
)

var _ ca.Issuer = (*Issuer)(nil)

var (
	poolName     = regexp.MustCompile(`^projects/([^/]+)/locations/([^/]+)/caPools/([a-zA-Z0-9_-]{1,63})$`)
	templateName = regexp.MustCompile(`^projects/[^/]+/locations/[^/]+/certificateTemplates/[a-zA-Z0-9_-]{1,63}$`)
	templateID   = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,63}$`)
)

// Config configures one Issuer, bound to one CA pool.
type Config struct {
	// Pool is the CA pool resource name, projects/P/locations/L/caPools/X.
	Pool string
	// Endpoint overrides the service endpoint (host:port), e.g. a local
	// fake; the caller then also passes the matching options (for a
	// loopback fake: option.WithoutAuthentication and an insecure gRPC
	// dial option). Empty means the default privateca endpoint.
	Endpoint string
	// Retry bounds the retries of transient failures.
	Retry Retry
	// CallTimeout bounds each attempt; zero means 30 s.
	CallTimeout time.Duration
}

// Retry is the bounded retry policy for transient CAS failures.
type Retry = ca.Retry

// Issuer signs and revokes through one CAS pool. It holds one client for
// its whole life; Close releases it.
type Issuer struct {
	client   *privateca.CertificateAuthorityClient
	pool     string
	project  string
	location string
	retry    Retry
	// enterprise is set by Check once GetCaPool says the pool is
	// ENTERPRISE tier: only then does Find's NotFound prove anything.
	enterprise atomic.Bool
}

// New validates cfg and builds the CAS client once.
func New(ctx context.Context, cfg Config, opts ...option.ClientOption) (*Issuer, error) {
	m := poolName.FindStringSubmatch(cfg.Pool)
	if m == nil {
		return nil, fmt.Errorf("cas.New: pool %q is not projects/P/locations/L/caPools/X", cfg.Pool)
	}
	cfg.Retry = cfg.Retry.WithDefaults()
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = 30 * time.Second
	}
	if cfg.Endpoint != "" {
		opts = append(opts, option.WithEndpoint(cfg.Endpoint))
	}
	client, err := privateca.NewCertificateAuthorityClient(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("privateca.NewCertificateAuthorityClient: %w", err)
	}
	// The generated client retries some codes itself for up to 60 s; this
	// package owns the retry policy, so each call is one attempt.
	one := []gax.CallOption{gax.WithTimeout(cfg.CallTimeout)}
	client.CallOptions.CreateCertificate = one
	client.CallOptions.GetCertificate = one
	client.CallOptions.RevokeCertificate = one
	client.CallOptions.FetchCaCerts = one
	client.CallOptions.GetCertificateTemplate = one
	client.CallOptions.GetCaPool = one
	return &Issuer{client: client, pool: cfg.Pool, project: m[1], location: m[2], retry: cfg.Retry}, nil
}

// Close releases the client's connections.
func (i *Issuer) Close() error {
	if err := i.client.Close(); err != nil {
		return fmt.Errorf("privateca.Close: %w", err)
	}
	return nil
}

// Issue asks the pool to sign the certificate req describes, sent as a
// CertificateConfig (never the client's pem_csr). The returned chain
// is the leaf followed by the intermediates CAS reports
// (pem_certificate_chain, issuer-to-root) without the self-signed root:
// what an ACME client serves (RFC 8555 §7.4.2). A chain that does not end
// in a self-signed certificate is returned whole.
func (i *Issuer) Issue(ctx context.Context, req ca.IssueRequest) (*ca.Issued, error) {
	creq, err := i.createRequest(req)
	if err != nil {
		return nil, err
	}
	var cert *privatecapb.Certificate
	err = i.call(ctx, "CreateCertificate", func(ctx context.Context) error {
		var err error
		cert, err = i.client.CreateCertificate(ctx, creq)
		return err
	})
	if status.Code(err) == codes.AlreadyExists && !errors.Is(err, ca.ErrTransient) {
		cert, err = i.get(ctx, i.pool+"/certificates/"+creq.GetCertificateId())
	}
	if err != nil {
		return nil, classify(err)
	}
	return issuedOf(cert)
}

// issuedOf is the chain of a certificate resource. Its key, like every
// other field, is checked by ca.CheckIssued, which revokes and fails the
// order on a mismatch.
func issuedOf(cert *privatecapb.Certificate) (*ca.Issued, error) {
	chain, err := chainOf(cert, nil)
	if err != nil {
		return nil, fmt.Errorf("cas: certificate %s: %w", cert.GetName(), err)
	}
	return &ca.Issued{Chain: chain, Resource: cert.GetName()}, nil
}

// createRequest builds the CreateCertificateRequest of req.
func (i *Issuer) createRequest(req ca.IssueRequest) (*privatecapb.CreateCertificateRequest, error) {
	if req.PublicKey == nil {
		return nil, errors.New("cas: IssueRequest.PublicKey is nil")
	}
	if _, err := uuid.Parse(req.RequestID); err != nil {
		return nil, fmt.Errorf("cas: IssueRequest.RequestID %q is not a UUID: %w", req.RequestID, err)
	}
	if !req.NotAfter.IsZero() {
		// CAS takes a lifetime from its own now: compute it now, so a
		// retry minutes later does not end after the order's notAfter.
		start := req.NotBefore
		if start.IsZero() {
			start = time.Now()
		}
		if req.Lifetime = req.NotAfter.Sub(start).Truncate(time.Second); req.Lifetime <= 0 {
			return nil, &ca.RejectedError{Detail: "the order's notAfter has passed"}
		}
	}
	if req.Lifetime <= 0 {
		return nil, fmt.Errorf("cas: IssueRequest.Lifetime %s is not positive", req.Lifetime)
	}
	tmpl, err := i.template(req.Template)
	if err != nil {
		return nil, err
	}
	config, err := certificateConfig(req)
	if err != nil {
		return nil, err
	}
	cert := &privatecapb.Certificate{
		CertificateConfig:   &privatecapb.Certificate_Config{Config: config},
		Lifetime:            durationpb.New(req.Lifetime),
		CertificateTemplate: tmpl,
	}
	if !req.NotBefore.IsZero() {
		cert.RequestedNotBeforeTime = timestamppb.New(req.NotBefore)
	}
	return &privatecapb.CreateCertificateRequest{
		Parent:        i.pool,
		CertificateId: ca.CertificateID(req.RequestID),
		Certificate:   cert,
		RequestId:     req.RequestID,
	}, nil
}

// certificateConfig builds the certificate's whole contents from req:
// subject CN, subjectAltName, key usage, extended key usage, not a CA, and
// the public key. The client's CSR is never sent, so nothing it wrote
// beyond its key reaches the CA; the pool's issuance policy and the
// template still apply on top (CAS refuses what they forbid).
func certificateConfig(req ca.IssueRequest) (*privatecapb.CertificateConfig, error) {
	der, err := x509.MarshalPKIXPublicKey(req.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("cas: x509.MarshalPKIXPublicKey: %w", err)
	}
	ips := make([]string, len(req.IPAddresses))
	for i, ip := range req.IPAddresses {
		ips[i] = ip.String()
	}
	ku := ca.KeyUsage(req.PublicKey)
	eku := &privatecapb.KeyUsage_ExtendedKeyUsageOptions{}
	for _, u := range req.ExtKeyUsage {
		switch u {
		case x509.ExtKeyUsageServerAuth:
			eku.ServerAuth = true
		case x509.ExtKeyUsageClientAuth:
			eku.ClientAuth = true
		default:
			return nil, fmt.Errorf("cas: extended key usage %d is not one acmera issues", u)
		}
	}
	subject := &privatecapb.Subject{CommonName: req.CommonName}
	return &privatecapb.CertificateConfig{
		SubjectConfig: &privatecapb.CertificateConfig_SubjectConfig{
			Subject:        subject,
			SubjectAltName: &privatecapb.SubjectAltNames{DnsNames: req.DNSNames, IpAddresses: ips},
		},
		X509Config: &privatecapb.X509Parameters{
			KeyUsage: &privatecapb.KeyUsage{
				BaseKeyUsage: &privatecapb.KeyUsage_KeyUsageOptions{
					DigitalSignature: ku&x509.KeyUsageDigitalSignature != 0,
					KeyEncipherment:  ku&x509.KeyUsageKeyEncipherment != 0,
				},
				ExtendedKeyUsage: eku,
			},
			CaOptions: &privatecapb.X509Parameters_CaOptions{IsCa: proto.Bool(false)},
		},
		PublicKey: &privatecapb.PublicKey{
			Key:    pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}),
			Format: privatecapb.PublicKey_PEM,
		},
	}, nil
}

// template expands a template short ID to
// projects/P/locations/L/certificateTemplates/T in the pool's project and
// location; a full name is used as given.
func (i *Issuer) template(t string) (string, error) {
	switch {
	case t == "":
		return "", nil
	case templateName.MatchString(t):
		return t, nil
	case templateID.MatchString(t):
		return fmt.Sprintf("projects/%s/locations/%s/certificateTemplates/%s", i.project, i.location, t), nil
	}
	return "", fmt.Errorf("cas: certificate template %q is neither an ID nor projects/P/locations/L/certificateTemplates/T", t)
}

// Check verifies at start what only the operator can fix: the pool exists
// and acmera may read it (FetchCaCerts), and its tier (GetCaPool), which
// Find needs. Its error names the pool; a missing pool or permission is
// ca.ErrMisconfigured, a transient failure ca.ErrTransient.
func (i *Issuer) Check(ctx context.Context) error {
	if _, err := i.Roots(ctx); err != nil {
		return fmt.Errorf("CA pool %s: %w", i.pool, err)
	}
	var pool *privatecapb.CaPool
	err := i.call(ctx, "GetCaPool", func(ctx context.Context) error {
		var err error
		pool, err = i.client.GetCaPool(ctx, &privatecapb.GetCaPoolRequest{Name: i.pool})
		return err
	})
	if err != nil {
		return fmt.Errorf("CA pool %s: %w", i.pool, classify(err))
	}
	i.enterprise.Store(pool.GetTier() == privatecapb.CaPool_ENTERPRISE)
	return nil
}

// CheckTemplate verifies at start that a certificate template (an ID in
// the pool's project and location, or a full name) exists and may be
// used. A malformed name, a missing template or permission is
// ca.ErrMisconfigured; an empty name is the CA's default and passes.
func (i *Issuer) CheckTemplate(ctx context.Context, t string) error {
	name, err := i.template(t)
	if err != nil {
		return fmt.Errorf("%w: %w", ca.ErrMisconfigured, err)
	}
	if name == "" {
		return nil
	}
	err = i.call(ctx, "GetCertificateTemplate", func(ctx context.Context) error {
		_, err := i.client.GetCertificateTemplate(ctx, &privatecapb.GetCertificateTemplateRequest{Name: name})
		return err
	})
	if err != nil {
		return fmt.Errorf("certificate template %s: %w", name, classify(err))
	}
	return nil
}

// get fetches one certificate resource, with retries.
func (i *Issuer) get(ctx context.Context, name string) (*privatecapb.Certificate, error) {
	var cert *privatecapb.Certificate
	err := i.call(ctx, "GetCertificate", func(ctx context.Context) error {
		var err error
		cert, err = i.client.GetCertificate(ctx, &privatecapb.GetCertificateRequest{Name: name})
		return err
	})
	return cert, err
}

// Roots returns the last certificate of each chain FetchCaCerts reports
// for the pool: the roots clients should trust.
func (i *Issuer) Roots(ctx context.Context) ([][]byte, error) {
	var resp *privatecapb.FetchCaCertsResponse
	err := i.call(ctx, "FetchCaCerts", func(ctx context.Context) error {
		var err error
		resp, err = i.client.FetchCaCerts(ctx, &privatecapb.FetchCaCertsRequest{CaPool: i.pool})
		return err
	})
	if err != nil {
		return nil, classify(err)
	}
	var roots [][]byte
	seen := map[string]bool{}
	for _, chain := range resp.GetCaCerts() {
		pems := chain.GetCertificates()
		if len(pems) == 0 {
			continue
		}
		ders, err := pemCerts(pems[len(pems)-1])
		if err != nil {
			return nil, fmt.Errorf("cas: FetchCaCerts root: %w", err)
		}
		root := ders[len(ders)-1]
		if !seen[string(root)] {
			seen[string(root)] = true
			roots = append(roots, root)
		}
	}
	if len(roots) == 0 {
		return nil, errors.New("cas: FetchCaCerts returned no CA certificates")
	}
	return roots, nil
}

// Find implements ca.Finder: the certificate issued for req.RequestID,
// read by the certificate_id derived from it. NotFound is ca.ErrNotIssued only in
// a pool Check found to be ENTERPRISE tier; a DevOps-tier pool stores no
// certificates, so there (or before Check) NotFound proves nothing and
// the RA keeps the order processing.
func (i *Issuer) Find(ctx context.Context, req ca.IssueRequest) (*ca.Issued, error) {
	requestID := req.RequestID
	if !i.enterprise.Load() {
		return nil, errors.New("cas: the pool's tier is not known to be ENTERPRISE; a DevOps pool keeps no certificates to find")
	}
	cert, err := i.get(ctx, i.pool+"/certificates/"+ca.CertificateID(requestID))
	if status.Code(err) == codes.NotFound && !errors.Is(err, ca.ErrTransient) {
		return nil, ca.ErrNotIssued
	}
	if err != nil {
		return nil, classify(err)
	}
	return issuedOf(cert)
}
