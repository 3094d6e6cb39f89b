// Package pcafake is a wire-level fake of AWS Private CA (acm-pca) for
// tests and local runs. It serves both protocols the real Go SDK speaks:
// Smithy RPC v2 CBOR (the default of service/acmpca v1.57.0) and AWS JSON
// 1.1 (earlier releases, or a client forced to it), and checks every
// request's SigV4 signature by recomputing it against the credentials it
// knows (static test keys, or those the STS fake issued).
//
// One fake serves one certificate authority, backed by an in-memory EC
// P-256 root and subordinate (or the root alone, Config.RootCA).
// Implemented: IssueCertificate, GetCertificate, RevokeCertificate,
// GetCertificateAuthorityCertificate and DescribeCertificateAuthority; any
// other operation answers UnknownOperationException. Behaviour follows
// the API reference: the IdempotencyToken window of 5 minutes, the
// SigningAlgorithm family check, the Validity types, ValidityNotBefore,
// the EndEntity templates (subject and subjectAltName copied from the
// CSR, notBefore 60 minutes before issuance), RequestInProgressException
// while a certificate is being issued, RequestAlreadyProcessedException on
// a repeated revocation. Where the reference names no error type or
// message, the fake picks one and says so.
package pcafake

import (
	"crypto/rand"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"sync"
	"time"

	"github.com/acmera/acmera/scripts/fakeaws/sigv4"
)

// Operation names accepted by FailNext and reported by Calls.
const (
	OpIssueCertificate                   = "IssueCertificate"
	OpGetCertificate                     = "GetCertificate"
	OpRevokeCertificate                  = "RevokeCertificate"
	OpGetCertificateAuthorityCertificate = "GetCertificateAuthorityCertificate"
	OpDescribeCertificateAuthority       = "DescribeCertificateAuthority"
)

// IdempotencyWindow is how long IssueCertificate remembers a token.
const IdempotencyWindow = 5 * time.Minute

// Config describes the fake's one CA. The zero value is an ACTIVE
// subordinate CA in us-east-1 of account 111122223333 that accepts no
// credentials (set Credentials).
type Config struct {
	// Region is the region the CA lives in and requests are signed for;
	// empty means us-east-1.
	Region string
	// Account is the 12-digit account ID in ARNs; empty means 111122223333.
	Account string
	// Credentials are the access keys whose signatures are accepted.
	Credentials sigv4.Store
	// RootCA makes the CA a self-signed root that signs leaves itself;
	// otherwise it is a subordinate under a root the fake also holds.
	RootCA bool
	// InProgressGets is how many GetCertificate calls of each new
	// certificate answer RequestInProgressException before it is issued.
	InProgressGets int
	// CALifetime is the CA certificate's validity; zero means one year.
	CALifetime time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Rand is the randomness for keys, serials and IDs; nil means
	// crypto/rand.
	Rand io.Reader
}

// Revocation is one revoked certificate, as the CA's CRL would list it.
type Revocation struct {
	Serial *big.Int
	// Reason is the RevocationReason enum value as received, e.g.
	// KEY_COMPROMISE.
	Reason string
	At     time.Time
}

// Server is the fake. It is safe for concurrent use.
type Server struct {
	region, account, arn string
	verify               *sigv4.Verifier
	now                  func() time.Time
	rand                 io.Reader
	ca                   *authority

	mu         sync.Mutex
	status     string
	inProgress int
	certs      map[string]*issued // by certificate ARN
	tokens     map[string]token   // by idempotency token
	bySerial   map[string]*issued // by serial, lowercase hex
	calls      map[string]int     // by operation
	faults     map[string][]fault // by operation
	revoked    []Revocation
	requests   []map[string]any // IssueCertificate inputs, as decoded
	protocols  map[string]int   // requests per protocol
}

type issued struct {
	arn     string
	der     []byte
	serial  *big.Int
	pending int
	revoked bool
}

type token struct {
	arn string
	at  time.Time
}

type fault struct {
	code   string
	status int
}

// New generates the CA's keys and certificates.
func New(cfg Config) (*Server, error) {
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.Account == "" {
		cfg.Account = "111122223333"
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
	if cfg.Credentials == nil {
		cfg.Credentials = sigv4.Static{}
	}
	ca, err := newAuthority(cfg.Rand, cfg.Now(), cfg.CALifetime, cfg.RootCA)
	if err != nil {
		return nil, fmt.Errorf("pcafake: %w", err)
	}
	id, err := uuid(cfg.Rand)
	if err != nil {
		return nil, err
	}
	return &Server{
		region:  cfg.Region,
		account: cfg.Account,
		arn:     fmt.Sprintf("arn:aws:acm-pca:%s:%s:certificate-authority/%s", cfg.Region, cfg.Account, id),
		verify:  &sigv4.Verifier{Region: cfg.Region, Service: "acm-pca", Store: cfg.Credentials, Now: cfg.Now},
		now:     cfg.Now, rand: cfg.Rand, ca: ca,
		status: "ACTIVE", inProgress: cfg.InProgressGets,
		certs: map[string]*issued{}, tokens: map[string]token{}, bySerial: map[string]*issued{},
		calls: map[string]int{}, faults: map[string][]fault{}, protocols: map[string]int{},
	}, nil
}

func uuid(r io.Reader) (string, error) {
	b := make([]byte, 16)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", fmt.Errorf("pcafake: random: %w", err)
	}
	b[6], b[8] = b[6]&0x0f|0x40, b[8]&0x3f|0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[:4], b[4:6], b[6:8], b[8:10], b[10:]), nil
}

// CAArn is the certificate authority's ARN.
func (s *Server) CAArn() string { return s.arn }

// Region is the CA's region.
func (s *Server) Region() string { return s.region }

// RootPEM is the root certificate, PEM.
func (s *Server) RootPEM() []byte { return s.ca.rootPEM }

// CACertificate is the CA's own certificate (the subordinate, or the root).
func (s *Server) CACertificate() []byte { return s.ca.signer.Raw }

// SetStatus sets the CA's status (ACTIVE, DISABLED, …).
func (s *Server) SetStatus(status string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status = status
}

// SetInProgressGets changes Config.InProgressGets for certificates issued
// from now on.
func (s *Server) SetInProgressGets(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inProgress = n
}

// FailNext makes the next n calls of op answer the error type code (e.g.
// ThrottlingException, ResourceNotFoundException) with HTTP status
// (400 when zero, as AWS sends client and throttling faults).
func (s *Server) FailNext(op string, n int, code string, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if status == 0 {
		status = http.StatusBadRequest
	}
	for range n {
		s.faults[op] = append(s.faults[op], fault{code: code, status: status})
	}
}

// Calls is the number of signed requests per operation so far.
func (s *Server) Calls() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.calls))
	for k, v := range s.calls {
		out[k] = v
	}
	return out
}

// Protocols is the number of requests per wire protocol so far
// ("rpc-v2-cbor", "awsJson1_1").
func (s *Server) Protocols() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.protocols))
	for k, v := range s.protocols {
		out[k] = v
	}
	return out
}

// Minted is the number of certificates issued so far.
func (s *Server) Minted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.certs)
}

// Revoked lists the revocations so far, in order: what the CA's next CRL
// would hold.
func (s *Server) Revoked() []Revocation {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Revocation(nil), s.revoked...)
}

// IssueRequests returns the decoded IssueCertificate inputs so far.
func (s *Server) IssueRequests() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]map[string]any(nil), s.requests...)
}

// maxBody bounds a request body; a CSR is a few KiB.
const maxBody = 1 << 20

// ServeHTTP answers one API call.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	proto, op, err := route(r)
	if err != nil {
		// Neither protocol: answer in JSON, as AWS does for what it cannot
		// route.
		writeError(w, awsJSON11, http.StatusNotFound, "UnknownOperationException", err.Error())
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil || len(body) > maxBody {
		writeError(w, proto, http.StatusBadRequest, "SerializationException", "request body unreadable or too large")
		return
	}
	if _, err := s.verify.Verify(r, body); err != nil {
		code, msg := "InvalidSignatureException", err.Error()
		if e, ok := err.(*sigv4.Error); ok {
			code, msg = e.Code, e.Message
		}
		status := http.StatusBadRequest
		if code == "MissingAuthenticationTokenException" {
			status = http.StatusForbidden
		}
		writeError(w, proto, status, code, msg)
		return
	}
	in, err := decode(proto, body)
	if err != nil {
		writeError(w, proto, http.StatusBadRequest, "SerializationException", err.Error())
		return
	}
	handler, ok := map[string]func(input) (map[string]any, *apiError){
		OpIssueCertificate:                   s.issueCertificate,
		OpGetCertificate:                     s.getCertificate,
		OpRevokeCertificate:                  s.revokeCertificate,
		OpGetCertificateAuthorityCertificate: s.getCACertificate,
		OpDescribeCertificateAuthority:       s.describe,
	}[op]
	if !ok {
		writeError(w, proto, http.StatusBadRequest, "UnknownOperationException", "operation "+op+" is not implemented by pcafake")
		return
	}
	if f, ok := s.count(proto, op); ok {
		writeError(w, proto, f.status, f.code, "injected by pcafake")
		return
	}
	out, aerr := handler(in)
	if aerr != nil {
		writeError(w, proto, http.StatusBadRequest, aerr.code, aerr.msg)
		return
	}
	writeOutput(w, proto, out)
}

// count records a call and pops an injected fault of op, if any.
func (s *Server) count(p protocol, op string) (fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[op]++
	s.protocols[p.String()]++
	if fs := s.faults[op]; len(fs) > 0 {
		s.faults[op] = fs[1:]
		return fs[0], true
	}
	return fault{}, false
}
