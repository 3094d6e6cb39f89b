// Package certsrv is a wire-faithful stand-in for Microsoft AD CS Web
// Enrollment (the IIS certsrv application) for tests: certfnsh.asp answers
// issued, pending or denied pages as certsrv writes them, per template;
// certnew.cer, certnew.p7b and certcarc.asp serve the certificate, the CA
// chain (PKCS #7) and the renewal count with certsrv's content types. It
// authenticates like IIS with Windows authentication: NTLMv2, verified
// here against known passwords (connection-based, as IIS does), and
// Kerberos through SPNEGO with a service keytab from a real KDC (MIT in
// tests; PAC decoding is off, since MIT's PAC lacks AD's logon info).
//
// Like a template set to "Supply in the request", it copies the subject
// and subjectAltName from the CSR, and backdates notBefore by ten minutes
// (AD CS's default clock skew).
package certsrv

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"log"
	"math/big"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jcmturner/goidentity/v6"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/service"
	"github.com/jcmturner/gokrb5/v8/spnego"
)

// Mode is how a template's requests are answered.
type Mode string

const (
	Issue   Mode = "issue"   // issued at once
	Pending Mode = "pending" // CA certificate manager approval required
	Deny    Mode = "deny"    // denied by the policy module
)

// Config configures a Server.
type Config struct {
	// Templates maps each template the CA offers to its mode; a request
	// for any other is denied as AD CS denies it (0x80094800).
	Templates map[string]Mode
	// Users maps DOMAIN\user (case-insensitive) to the NTLM password.
	Users map[string]string
	// Keytab and SPN accept Kerberos (SPNEGO) for the service principal
	// SPN (HTTP/host); nil Keytab means NTLM only.
	Keytab *keytab.Keytab
	SPN    string
	// Validity is the templates' validity period; zero means 24 h.
	Validity time.Duration
	// EKU is the templates' extended key usage; nil means serverAuth.
	EKU []x509.ExtKeyUsage
	// OnPending, when set, is called with the ID of each request left
	// pending (a test approves or denies it with Approve or DenyRequest).
	OnPending func(id int)
}

// Request is one request the CA holds.
type Request struct {
	ID          int
	Template    string
	Attributes  []string // CertAttrib lines
	Form        map[string][]string
	Status      Mode // Issue (issued), Pending, Deny (denied)
	Disposition string
	Cert        *x509.Certificate
	DNSNames    []string // the CSR's
	csr         *x509.CertificateRequest
}

// Server is the fake. Use it as an http.Handler behind TLS with
// ConnContext set (NTLM is per connection), or through StartTLS.
type Server struct {
	cfg          Config
	rootKey      *ecdsa.PrivateKey
	root, issuer *x509.Certificate
	issuerKey    *ecdsa.PrivateKey
	krb          http.Handler

	mu     sync.Mutex
	next   int
	reqs   map[int]*Request
	logins []string
}

// New makes the CA (a root and an issuing CA, ECDSA P-256).
func New(cfg Config) (*Server, error) {
	if cfg.Validity <= 0 {
		cfg.Validity = 24 * time.Hour
	}
	if cfg.EKU == nil {
		cfg.EKU = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	s := &Server{cfg: cfg, next: 100, reqs: map[int]*Request{}}
	var err error
	if s.rootKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		return nil, err
	}
	if s.issuerKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		return nil, err
	}
	now := time.Now()
	rootT := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Fake Corp Root CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(10 * 365 * 24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	der, err := x509.CreateCertificate(rand.Reader, rootT, rootT, &s.rootKey.PublicKey, s.rootKey)
	if err != nil {
		return nil, fmt.Errorf("x509.CreateCertificate root: %w", err)
	}
	s.root, _ = x509.ParseCertificate(der)
	issT := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "Fake Corp Issuing CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(5 * 365 * 24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		MaxPathLenZero: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	der, err = x509.CreateCertificate(rand.Reader, issT, s.root, &s.issuerKey.PublicKey, s.rootKey)
	if err != nil {
		return nil, fmt.Errorf("x509.CreateCertificate issuing CA: %w", err)
	}
	s.issuer, _ = x509.ParseCertificate(der)
	if cfg.Keytab != nil {
		s.krb = spnego.SPNEGOKRB5Authenticate(http.HandlerFunc(s.serveKerberos), cfg.Keytab,
			service.DecodePAC(false), service.KeytabPrincipal(cfg.SPN), service.Logger(log.New(discard{}, "", 0)))
	}
	return s, nil
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// Root is the CA's root certificate.
func (s *Server) Root() *x509.Certificate { return s.root }

// RootPEM is the root, PEM.
func (s *Server) RootPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.root.Raw})
}

// Requests returns copies of the requests, by ID.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Request
	for _, r := range s.reqs {
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b Request) int { return a.ID - b.ID })
	return out
}

// Logins lists who authenticated, "ntlm:DOMAIN\user" or "kerberos:user@REALM".
func (s *Server) Logins() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.logins)
}

// Approve issues a pending request, as a certificate manager does.
func (s *Server) Approve(id int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.reqs[id]
	if !ok || r.Status != Pending {
		return fmt.Errorf("certsrv: request %d is not pending", id)
	}
	return s.issueLocked(r)
}

// DenyRequest denies a pending request with the certsrv.msc message.
func (s *Server) DenyRequest(id int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.reqs[id]
	if !ok || r.Status != Pending {
		return fmt.Errorf("certsrv: request %d is not pending", id)
	}
	r.Status, r.Disposition = Deny, "Denied by FAKECORP\\certmanager"
	return nil
}

var oidCertificateTemplateName = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 20, 2} // szOID_ENROLL_CERTTYPE_EXTENSION

// issueLocked signs r's CSR: the subject and SANs copied from it (Supply
// in the request), the template's usages and validity.
func (s *Server) issueLocked(r *Request) error {
	now := time.Now()
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return err
	}
	name, _ := asn1.Marshal(asn1.RawValue{Tag: asn1.TagBMPString, Bytes: bmp(r.Template)})
	t := &x509.Certificate{
		SerialNumber: serial.Add(serial, big.NewInt(1)), Subject: r.csr.Subject,
		DNSNames: r.csr.DNSNames, IPAddresses: r.csr.IPAddresses, EmailAddresses: r.csr.EmailAddresses, URIs: r.csr.URIs,
		NotBefore: now.Add(-10 * time.Minute), NotAfter: now.Add(s.cfg.Validity),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: s.cfg.EKU, BasicConstraintsValid: true,
		ExtraExtensions: []pkix.Extension{{Id: oidCertificateTemplateName, Value: name}},
	}
	der, err := x509.CreateCertificate(rand.Reader, t, s.issuer, r.csr.PublicKey, s.issuerKey)
	if err != nil {
		return fmt.Errorf("x509.CreateCertificate: %w", err)
	}
	r.Cert, _ = x509.ParseCertificate(der)
	r.Status, r.Disposition = Issue, "Issued"
	return nil
}

func bmp(s string) []byte {
	var b []byte
	for _, r := range s {
		b = append(b, byte(r>>8), byte(r))
	}
	return b
}

// ServeHTTP authenticates, then serves the pages.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	cs, _ := r.Context().Value(connKey{}).(*connState)
	if cs == nil {
		http.Error(w, "certsrv fake: serve it with ConnContext (StartTLS does)", http.StatusInternalServerError)
		return
	}
	if cs.user != "" { // NTLM authenticates the connection
		s.pages(w, r)
		return
	}
	scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	raw, _ := base64.StdEncoding.DecodeString(strings.TrimSpace(token))
	switch {
	case (strings.EqualFold(scheme, "NTLM") || strings.EqualFold(scheme, "Negotiate")) && len(raw) >= 8 && string(raw[:8]) == string(ntlmSignature):
		s.ntlm(w, r, cs, scheme, raw)
	case strings.EqualFold(scheme, "Negotiate") && s.krb != nil:
		s.krb.ServeHTTP(w, r)
	default:
		unauthorized(w, s.krb != nil)
	}
}

func unauthorized(w http.ResponseWriter, kerberos bool) {
	if kerberos {
		w.Header().Add("WWW-Authenticate", "Negotiate")
	}
	w.Header().Add("WWW-Authenticate", "NTLM")
	w.Header().Set("Content-Type", "text/html")
	w.WriteHeader(http.StatusUnauthorized)
	fmt.Fprint(w, "<html><head><title>401 - Unauthorized: Access is denied due to invalid credentials.</title></head></html>")
}

func (s *Server) serveKerberos(w http.ResponseWriter, r *http.Request) {
	id := goidentity.FromHTTPRequestContext(r)
	if id == nil || !id.Authenticated() {
		unauthorized(w, true)
		return
	}
	s.mu.Lock()
	s.logins = append(s.logins, "kerberos:"+id.UserName()+"@"+id.Domain())
	s.mu.Unlock()
	s.pages(w, r)
}

// ntlm runs one step of the handshake on the connection.
func (s *Server) ntlm(w http.ResponseWriter, r *http.Request, cs *connState, scheme string, msg []byte) {
	switch msg[8] {
	case 1: // NEGOTIATE: answer a challenge
		c, err := newChallenge("FAKECORP", "CA01", time.Now())
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		cs.challenge = c
		w.Header().Set("WWW-Authenticate", scheme+" "+base64.StdEncoding.EncodeToString(c.msg))
		w.WriteHeader(http.StatusUnauthorized)
	case 3: // AUTHENTICATE: verify against the challenge of this connection
		c := cs.challenge
		cs.challenge = nil
		a, err := parseAuthenticate(msg)
		if c == nil || err != nil {
			unauthorized(w, s.krb != nil)
			return
		}
		who := a.domain + `\` + a.user
		pw, ok := s.password(who)
		if !ok || verifyNTLMv2(c, a, pw, time.Now(), 5*time.Minute) != nil {
			unauthorized(w, s.krb != nil)
			return
		}
		cs.user = who
		s.mu.Lock()
		s.logins = append(s.logins, "ntlm:"+who)
		s.mu.Unlock()
		s.pages(w, r)
	default:
		unauthorized(w, s.krb != nil)
	}
}

func (s *Server) password(who string) (string, bool) {
	for u, pw := range s.cfg.Users {
		if strings.EqualFold(u, who) {
			return pw, true
		}
	}
	return "", false
}

// connKey holds the connection's authentication state in its context.
type connKey struct{}

type connState struct {
	challenge *challenge // the NTLM challenge sent on this connection
	user      string     // NTLM-authenticated user
}

// ConnContext gives every connection its own authentication state; set it
// as the http.Server's ConnContext.
func ConnContext(ctx context.Context, _ net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, new(connState))
}

// errNoRequest is certnew.cer's answer for an unknown request ID.
var errNoRequest = errors.New("no such request")

func atoiReq(s string) (int, error) {
	id, err := strconv.Atoi(s)
	if err != nil {
		return 0, errNoRequest
	}
	return id, nil
}
