// Package casfake is a wire-level fake of Google Certificate Authority
// Service (privateca v1) for tests and local end-to-end runs. It serves the
// real generated gRPC service (privatecapb.CertificateAuthorityServiceServer),
// so the real cloud.google.com/go/security/privateca/apiv1 client talks to it
// unchanged. One fake serves one CA pool backed by an in-memory ECDSA root
// and intermediate generated at start.
//
// Implemented: CreateCertificate (config or pem_csr, with templates'
// predefined_values applied on top), GetCertificate, RevokeCertificate,
// FetchCaCerts and GetCertificateTemplate; every other method answers
// Unimplemented. Behaviour follows the documented API: request_id
// idempotency (AIP-155), certificate_id uniqueness, the pool's issuance
// policy (allowed key types, maximum lifetime), certificate templates,
// lifetime truncation at the issuing CA's expiry, and the tier rule that a
// DevOps pool stores no certificates and so cannot describe or revoke them.
//
// Where the public documentation does not name a status code, the fake
// picks one and says so on the method.
package casfake

import (
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"sync"
	"time"

	"cloud.google.com/go/security/privateca/apiv1/privatecapb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
)

// Method names accepted by FailNext and reported by Stats.
const (
	MethodCreateCertificate = "CreateCertificate"
	MethodGetCertificate    = "GetCertificate"
	MethodRevokeCertificate = "RevokeCertificate"
	MethodFetchCaCerts      = "FetchCaCerts"
	// MethodGetCertificateTemplate is GetCertificateTemplate.
	MethodGetCertificateTemplate = "GetCertificateTemplate"
	// MethodGetCaPool is GetCaPool.
	MethodGetCaPool = "GetCaPool"
)

// DefaultPool is the pool served when Config.Pool is empty.
const DefaultPool = "projects/acmera-test/locations/us-central1/caPools/acmera"

// poolPattern is the CaPool resource name format.
var poolPattern = regexp.MustCompile(`^projects/([^/]+)/locations/([^/]+)/caPools/([a-zA-Z0-9_-]{1,63})$`)

// Config describes the single CA pool the fake serves. The zero value is
// an Enterprise-tier pool named DefaultPool with no issuance policy.
type Config struct {
	// Pool is the CaPool resource name, projects/P/locations/L/caPools/X.
	Pool string
	// Tier is the pool's tier; zero (TIER_UNSPECIFIED) means ENTERPRISE.
	Tier privatecapb.CaPool_Tier
	// Policy is the pool's issuance policy; nil allows every key type and
	// lifetime. AllowedKeyTypes, MaximumLifetime and
	// AllowRequesterSpecifiedNotBeforeTime are enforced; other fields are
	// ignored.
	Policy *privatecapb.CaPool_IssuancePolicy
	// Templates lists the certificate templates that exist, as full
	// resource names projects/P/locations/L/certificateTemplates/T.
	Templates []string
	// TemplateValues holds, per template name, the template's
	// predefined_values: X.509 parameters applied on top of every
	// certificate issued with it, replacing what the request asked.
	TemplateValues map[string]*privatecapb.X509Parameters
	// CALifetime is the validity of the issuing (intermediate) CA from
	// start; zero means one year. Leaf lifetimes are truncated to it.
	CALifetime time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Rand is the randomness for keys, serials and IDs; nil means
	// crypto/rand.
	Rand io.Reader
}

// Server is the fake service. It is safe for concurrent use.
type Server struct {
	privatecapb.UnimplementedCertificateAuthorityServiceServer

	pool      string
	project   string
	location  string
	tier      privatecapb.CaPool_Tier
	policy    *privatecapb.CaPool_IssuancePolicy
	templates map[string]bool
	// templateValues are the templates' predefined_values.
	templateValues map[string]*privatecapb.X509Parameters
	now            func() time.Time
	rand           io.Reader
	ca             *authority

	mu      sync.Mutex
	certs   map[string]*privatecapb.Certificate // by resource name
	reqs    map[string]*idempotent              // by request_id
	calls   map[string]int
	faults  map[string]fault
	latency time.Duration
	minted  int
	holds   int // CreateCertificate answers still to hold (HoldAnswers)
	configs int // CreateCertificate requests carrying a config
	pemCSRs int // CreateCertificate requests carrying a pem_csr
}

// idempotent remembers a completed request and its answer (AIP-155).
type idempotent struct {
	method string
	req    any // a proto.Message clone
	resp   *privatecapb.Certificate
}

// fault is a pending injected failure.
type fault struct {
	n    int
	code codes.Code
}

// New builds a fake with a fresh root and intermediate.
func New(cfg Config) (*Server, error) {
	if cfg.Pool == "" {
		cfg.Pool = DefaultPool
	}
	m := poolPattern.FindStringSubmatch(cfg.Pool)
	if m == nil {
		return nil, fmt.Errorf("casfake.New: pool %q is not projects/P/locations/L/caPools/X", cfg.Pool)
	}
	if cfg.Tier == privatecapb.CaPool_TIER_UNSPECIFIED {
		cfg.Tier = privatecapb.CaPool_ENTERPRISE
	}
	if cfg.CALifetime <= 0 {
		cfg.CALifetime = 365 * 24 * time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	ca, err := newAuthority(cfg.Rand, cfg.Now(), cfg.CALifetime)
	if err != nil {
		return nil, fmt.Errorf("casfake.New: %w", err)
	}
	s := &Server{
		pool: cfg.Pool, project: m[1], location: m[2], tier: cfg.Tier,
		policy: cfg.Policy, templates: map[string]bool{}, templateValues: cfg.TemplateValues,
		now: cfg.Now, rand: cfg.Rand, ca: ca,
		certs: map[string]*privatecapb.Certificate{}, reqs: map[string]*idempotent{},
		calls: map[string]int{}, faults: map[string]fault{},
	}
	for _, t := range cfg.Templates {
		s.templates[t] = true
	}
	return s, nil
}

// Pool returns the CaPool resource name the fake serves.
func (s *Server) Pool() string { return s.pool }

// Register adds the fake to a gRPC server.
func (s *Server) Register(g *grpc.Server) {
	privatecapb.RegisterCertificateAuthorityServiceServer(g, s)
}

// Serve runs a plaintext gRPC server with the fake on lis until lis is
// closed or the returned server is stopped; it returns at once.
func (s *Server) Serve(lis net.Listener) *grpc.Server {
	g := grpc.NewServer()
	s.Register(g)
	go func() { _ = g.Serve(lis) }()
	return g
}

// RootPEM returns the PEM of the fake's root certificate.
func (s *Server) RootPEM() []byte { return []byte(s.ca.rootPEM) }

// Handler serves GET /root.pem with the root certificate, for clients that
// need a trust anchor (certbot's REQUESTS_CA_BUNDLE, curl --cacert).
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /root.pem", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/x-pem-file")
		_, _ = w.Write(s.RootPEM())
	})
	return mux
}

// FailNext makes the next n calls of method (MethodCreateCertificate, …)
// fail with code before doing anything, as a dropped or refused request.
// n <= 0 clears the fault.
func (s *Server) FailNext(method string, n int, code codes.Code) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n <= 0 {
		delete(s.faults, method)
		return
	}
	s.faults[method] = fault{n: n, code: code}
}

// SetLatency delays every call by d before it is handled (0 disables).
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// Stats returns a snapshot of RPCs received per method name. Every call
// counts, including ones failed by FailNext, rejected ones, and request_id
// replays.
func (s *Server) Stats() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.calls))
	for k, v := range s.calls {
		out[k] = v
	}
	return out
}

// Minted returns how many certificates the fake has actually signed
// (request_id replays and AlreadyExists answers mint nothing).
func (s *Server) Minted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.minted
}

// HoldAnswers makes the next n CreateCertificate calls mint (and remember
// their request_id) but then hold the answer until the caller's context
// ends: a CA that signed while its caller died before hearing back.
func (s *Server) HoldAnswers(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.holds = max(n, 0)
}

// Requests returns how many CreateCertificate requests carried a
// certificate.config and how many a certificate.pem_csr.
func (s *Server) Requests() (configs, pemCSRs int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.configs, s.pemCSRs
}

// Revocation reports the CAS revocation reason recorded for a certificate
// resource name, and whether it is revoked.
func (s *Server) Revocation(name string) (privatecapb.RevocationReason, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.certs[name]
	if !ok || c.GetRevocationDetails() == nil {
		return 0, false
	}
	return c.GetRevocationDetails().GetRevocationState(), true
}

// ExpireRequestIDs forgets every remembered request_id, as the real
// service does after its (at least) 60-minute window, so tests can reach
// the certificate_id AlreadyExists path.
func (s *Server) ExpireRequestIDs() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reqs = map[string]*idempotent{}
}
