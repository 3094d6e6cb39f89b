package casfake

import (
	"context"
	"regexp"
	"strings"
	"time"

	"cloud.google.com/go/security/privateca/apiv1/privatecapb"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// caID is the resource ID of the fake's one issuing CA inside the pool.
const caID = "casfake-ca"

var (
	certIDPattern   = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,63}$`)
	templatePattern = regexp.MustCompile(`^projects/([^/]+)/locations/([^/]+)/certificateTemplates/([^/]+)$`)
)

// enter counts a call, applies the configured latency and any injected
// fault for method.
func (s *Server) enter(ctx context.Context, method string) error {
	s.mu.Lock()
	s.calls[method]++
	d := s.latency
	f, failing := s.faults[method]
	if failing {
		f.n--
		if f.n == 0 {
			delete(s.faults, method)
		} else {
			s.faults[method] = f
		}
	}
	s.mu.Unlock()
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case <-t.C:
		}
	}
	if failing {
		return status.Errorf(f.code, "casfake: injected %s failure of %s", f.code, method)
	}
	return nil
}

// checkPool answers InvalidArgument for a malformed pool name and
// NotFound for a pool this fake does not serve.
func (s *Server) checkPool(name string) error {
	if !poolPattern.MatchString(name) {
		return status.Errorf(codes.InvalidArgument, "malformed CaPool name %q", name)
	}
	if name != s.pool {
		return status.Errorf(codes.NotFound, "CaPool %q not found", name)
	}
	return nil
}

// checkRequestID enforces the documented request_id format: a UUID other
// than the zero UUID; empty means no idempotency.
func checkRequestID(id string) error {
	if id == "" {
		return nil
	}
	u, err := uuid.Parse(id)
	if err != nil || u == uuid.Nil {
		return status.Errorf(codes.InvalidArgument, "request_id %q must be a valid non-zero UUID", id)
	}
	return nil
}

// replay answers a repeated request_id (AIP-155): the same request gets the
// earlier answer, reflecting the resource's current state where it is
// stored; the same request_id with a different request is InvalidArgument
// (the API documents no code for this; the fake picks InvalidArgument).
// Callers hold s.mu.
func (s *Server) replay(method, id string, req proto.Message) (*privatecapb.Certificate, bool, error) {
	if id == "" {
		return nil, false, nil
	}
	prev, ok := s.reqs[id]
	if !ok {
		return nil, false, nil
	}
	if prev.method != method || !proto.Equal(prev.req.(proto.Message), req) {
		return nil, true, status.Errorf(codes.InvalidArgument,
			"request_id %s was already used for a different request", id)
	}
	if cur, ok := s.certs[prev.resp.GetName()]; ok {
		return clone(cur), true, nil
	}
	return clone(prev.resp), true, nil
}

// remember records a completed request under its request_id. Callers hold
// s.mu.
func (s *Server) remember(method, id string, req proto.Message, resp *privatecapb.Certificate) {
	if id == "" {
		return
	}
	s.reqs[id] = &idempotent{method: method, req: proto.Clone(req), resp: clone(resp)}
}

// CreateCertificate signs the request's pem_csr. certificate.config is not
// supported (Unimplemented). Violations of the pool's issuance policy
// (key type, maximum lifetime) are InvalidArgument, an unknown template is
// NotFound, an existing certificate_id in an Enterprise pool is
// AlreadyExists; in a DevOps pool certificate_id is ignored, as documented.
func (s *Server) CreateCertificate(ctx context.Context, req *privatecapb.CreateCertificateRequest) (*privatecapb.Certificate, error) {
	if err := s.enter(ctx, MethodCreateCertificate); err != nil {
		return nil, err
	}
	if err := s.checkPool(req.GetParent()); err != nil {
		return nil, err
	}
	if err := checkRequestID(req.GetRequestId()); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok, err := s.replay(MethodCreateCertificate, req.GetRequestId(), req); ok {
		return c, err
	}
	c, err := s.create(req)
	if err != nil {
		return nil, err
	}
	if !req.GetValidateOnly() {
		s.remember(MethodCreateCertificate, req.GetRequestId(), req, c)
		if s.holds > 0 {
			s.holds--
			s.mu.Unlock()
			<-ctx.Done()
			s.mu.Lock()
			return nil, status.FromContextError(ctx.Err()).Err()
		}
	}
	return clone(c), nil
}

// GetCertificate returns a stored certificate. A DevOps pool stores none
// and does not support describing certificates: FailedPrecondition.
func (s *Server) GetCertificate(ctx context.Context, req *privatecapb.GetCertificateRequest) (*privatecapb.Certificate, error) {
	if err := s.enter(ctx, MethodGetCertificate); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.lookup(req.GetName())
	if err != nil {
		return nil, err
	}
	return clone(c), nil
}

// lookup finds a stored certificate by resource name. Callers hold s.mu.
func (s *Server) lookup(name string) (*privatecapb.Certificate, error) {
	pool, _, ok := strings.Cut(name, "/certificates/")
	if !ok || !poolPattern.MatchString(pool) {
		return nil, status.Errorf(codes.InvalidArgument, "malformed Certificate name %q", name)
	}
	if pool != s.pool {
		return nil, status.Errorf(codes.NotFound, "CaPool %q not found", pool)
	}
	if s.tier == privatecapb.CaPool_DEVOPS {
		return nil, status.Errorf(codes.FailedPrecondition,
			"CaPool %q is in the DevOps tier, which does not store, describe or revoke certificates", pool)
	}
	c, ok := s.certs[name]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "Certificate %q not found", name)
	}
	return c, nil
}

// RevokeCertificate marks a stored certificate revoked with a CAS
// RevocationReason. Revoking an already revoked certificate (under a new
// request_id) is FailedPrecondition; so is any revocation in a DevOps pool.
func (s *Server) RevokeCertificate(ctx context.Context, req *privatecapb.RevokeCertificateRequest) (*privatecapb.Certificate, error) {
	if err := s.enter(ctx, MethodRevokeCertificate); err != nil {
		return nil, err
	}
	if err := checkRequestID(req.GetRequestId()); err != nil {
		return nil, err
	}
	if _, ok := privatecapb.RevocationReason_name[int32(req.GetReason())]; !ok {
		return nil, status.Errorf(codes.InvalidArgument, "unknown revocation reason %d", req.GetReason())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok, err := s.replay(MethodRevokeCertificate, req.GetRequestId(), req); ok {
		return c, err
	}
	c, err := s.lookup(req.GetName())
	if err != nil {
		return nil, err
	}
	if c.GetRevocationDetails() != nil {
		return nil, status.Errorf(codes.FailedPrecondition, "Certificate %q is already revoked", req.GetName())
	}
	now := timestamppb.New(s.now())
	c.RevocationDetails = &privatecapb.Certificate_RevocationDetails{
		RevocationState: req.GetReason(), RevocationTime: now,
	}
	c.UpdateTime = now
	s.remember(MethodRevokeCertificate, req.GetRequestId(), req, c)
	return clone(c), nil
}

// FetchCaCerts returns one issuer-to-root chain per CA in the pool: here
// the intermediate followed by the root.
func (s *Server) FetchCaCerts(ctx context.Context, req *privatecapb.FetchCaCertsRequest) (*privatecapb.FetchCaCertsResponse, error) {
	if err := s.enter(ctx, MethodFetchCaCerts); err != nil {
		return nil, err
	}
	if err := s.checkPool(req.GetCaPool()); err != nil {
		return nil, err
	}
	if err := checkRequestID(req.GetRequestId()); err != nil {
		return nil, err
	}
	return &privatecapb.FetchCaCertsResponse{
		CaCerts: []*privatecapb.FetchCaCertsResponse_CertChain{{Certificates: s.ca.chain()}},
	}, nil
}

// GetCaPool returns the pool the fake serves, with its tier; any other
// name is NotFound.
func (s *Server) GetCaPool(ctx context.Context, req *privatecapb.GetCaPoolRequest) (*privatecapb.CaPool, error) {
	if err := s.enter(ctx, MethodGetCaPool); err != nil {
		return nil, err
	}
	if err := s.checkPool(req.GetName()); err != nil {
		return nil, err
	}
	return &privatecapb.CaPool{Name: s.pool, Tier: s.tier, IssuancePolicy: s.policy}, nil
}

// GetCertificateTemplate returns a template of Config.Templates, with its
// predefined_values; any other name is NotFound (a malformed one is
// InvalidArgument).
func (s *Server) GetCertificateTemplate(ctx context.Context, req *privatecapb.GetCertificateTemplateRequest) (*privatecapb.CertificateTemplate, error) {
	if err := s.enter(ctx, MethodGetCertificateTemplate); err != nil {
		return nil, err
	}
	if err := s.checkTemplate(req.GetName()); err != nil {
		return nil, err
	}
	if req.GetName() == "" {
		return nil, status.Error(codes.InvalidArgument, "name is required")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return &privatecapb.CertificateTemplate{
		Name:             req.GetName(),
		PredefinedValues: proto.Clone(s.templateValues[req.GetName()]).(*privatecapb.X509Parameters),
	}, nil
}

func clone(c *privatecapb.Certificate) *privatecapb.Certificate {
	return proto.Clone(c).(*privatecapb.Certificate)
}
