// Package stsfake is a wire-level fake of AWS STS AssumeRoleWithWebIdentity
// for tests: the unsigned form POST (awsQuery, Version 2011-06-15) the
// real SDK sends, answered in STS's XML. It verifies the web identity
// token as a JWT (RS256) against a JWKS the test supplies, with issuer,
// audience and expiry checks standing in for the role's trust policy
// (Principal Federated accounts.google.com, a condition on the audience),
// and issues temporary credentials that pcafake accepts through Lookup.
package stsfake

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/acmera/acmera/scripts/fakeaws/sigv4"
)

const xmlns = "https://sts.amazonaws.com/doc/2011-06-15/"

// Config is what the role's trust policy would say.
type Config struct {
	// Keys verify the tokens (the identity provider's JWKS).
	Keys *jose.JSONWebKeySet
	// Issuers are the accepted iss values; empty means accounts.google.com
	// in both spellings Google uses.
	Issuers []string
	// Audiences are the accepted aud values (the trust policy's condition).
	Audiences []string
	// Roles are the role ARNs that may be assumed; empty allows any.
	Roles []string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Rand is the randomness of the credentials; nil means crypto/rand.
	Rand io.Reader
}

// Server is the fake. It is safe for concurrent use.
type Server struct {
	cfg Config

	mu     sync.Mutex
	creds  map[string]sigv4.Credential
	calls  int
	issued []Session
}

// Session is one successful AssumeRoleWithWebIdentity.
type Session struct {
	AccessKeyID string
	RoleArn     string
	SessionName string
	Subject     string
	Audience    string
	Expires     time.Time
}

// New builds the fake.
func New(cfg Config) *Server {
	if len(cfg.Issuers) == 0 {
		cfg.Issuers = []string{"https://accounts.google.com", "accounts.google.com"}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	return &Server{cfg: cfg, creds: map[string]sigv4.Credential{}}
}

// Lookup implements sigv4.Store with the credentials issued so far.
func (s *Server) Lookup(id string) (sigv4.Credential, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.creds[id]
	return c, ok
}

// Sessions lists the sessions issued so far.
func (s *Server) Sessions() []Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Session(nil), s.issued...)
}

// Calls is the number of requests answered so far.
func (s *Server) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

type stsError struct {
	status        int
	code, message string
}

// ServeHTTP answers POST / Action=AssumeRoleWithWebIdentity.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.calls++
	s.mu.Unlock()
	if r.Method != http.MethodPost || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		writeError(w, &stsError{http.StatusBadRequest, "InvalidAction", "Could not find operation for this request"})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		writeError(w, &stsError{http.StatusBadRequest, "MalformedInput", "form body unreadable"})
		return
	}
	f := r.PostForm
	if f.Get("Action") != "AssumeRoleWithWebIdentity" || f.Get("Version") != "2011-06-15" {
		writeError(w, &stsError{http.StatusBadRequest, "InvalidAction", "Could not find operation " + f.Get("Action") + " for version " + f.Get("Version")})
		return
	}
	sess, cred, serr := s.assume(f.Get("RoleArn"), f.Get("RoleSessionName"), f.Get("WebIdentityToken"), f.Get("DurationSeconds"))
	if serr != nil {
		writeError(w, serr)
		return
	}
	writeResult(w, sess, cred)
}

func (s *Server) assume(role, session, token, duration string) (Session, sigv4.Credential, *stsError) {
	if role == "" || session == "" || token == "" {
		return Session{}, sigv4.Credential{}, &stsError{http.StatusBadRequest, "ValidationError", "RoleArn, RoleSessionName and WebIdentityToken are required"}
	}
	d := time.Hour
	if duration != "" {
		n, err := strconv.Atoi(duration)
		if err != nil || n < 900 || n > 43200 {
			return Session{}, sigv4.Credential{}, &stsError{http.StatusBadRequest, "ValidationError", "DurationSeconds must be between 900 and 43200"}
		}
		d = time.Duration(n) * time.Second
	}
	now := s.cfg.Now()
	claims, serr := s.verify(token, now)
	if serr != nil {
		return Session{}, sigv4.Credential{}, serr
	}
	aud := ""
	for _, a := range claims.Audience {
		if slices.Contains(s.cfg.Audiences, a) {
			aud = a
		}
	}
	if aud == "" || (len(s.cfg.Roles) > 0 && !slices.Contains(s.cfg.Roles, role)) {
		// What a trust-policy condition that does not match answers.
		return Session{}, sigv4.Credential{}, &stsError{http.StatusForbidden, "AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity"}
	}
	id, err := randomText(s.cfg.Rand, 16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
	if err != nil {
		return Session{}, sigv4.Credential{}, &stsError{http.StatusInternalServerError, "InternalFailure", err.Error()}
	}
	secret := make([]byte, 30)
	tok := make([]byte, 96)
	if _, err := io.ReadFull(s.cfg.Rand, secret); err != nil {
		return Session{}, sigv4.Credential{}, &stsError{http.StatusInternalServerError, "InternalFailure", err.Error()}
	}
	if _, err := io.ReadFull(s.cfg.Rand, tok); err != nil {
		return Session{}, sigv4.Credential{}, &stsError{http.StatusInternalServerError, "InternalFailure", err.Error()}
	}
	cred := sigv4.Credential{
		Secret:       base64.StdEncoding.EncodeToString(secret),
		SessionToken: base64.StdEncoding.EncodeToString(tok),
		Expires:      now.Add(d).Truncate(time.Second),
	}
	sess := Session{AccessKeyID: "ASIA" + id, RoleArn: role, SessionName: session, Subject: claims.Subject, Audience: aud, Expires: cred.Expires}
	s.mu.Lock()
	s.creds[sess.AccessKeyID] = cred
	s.issued = append(s.issued, sess)
	s.mu.Unlock()
	return sess, cred, nil
}

// verify checks the token's RS256 signature against the JWKS, its issuer
// and its validity period. Failures are InvalidIdentityToken or
// ExpiredTokenException, as STS answers them.
func (s *Server) verify(token string, now time.Time) (*jwt.Claims, *stsError) {
	invalid := func(msg string) *stsError {
		return &stsError{http.StatusBadRequest, "InvalidIdentityToken", msg}
	}
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return nil, invalid("The web identity token is not a valid signed JWT")
	}
	if s.cfg.Keys == nil {
		return nil, invalid("No OpenIDConnect provider keys are configured")
	}
	var claims jwt.Claims
	if err := tok.Claims(s.cfg.Keys, &claims); err != nil {
		return nil, invalid("Token signature invalid")
	}
	if !slices.Contains(s.cfg.Issuers, claims.Issuer) {
		return nil, invalid("No OpenIDConnect provider found in your account for " + claims.Issuer)
	}
	if claims.Expiry == nil || !now.Before(claims.Expiry.Time()) {
		return nil, &stsError{http.StatusBadRequest, "ExpiredTokenException", "Token expired: current date/time must be before the expiration date/time"}
	}
	if claims.NotBefore != nil && now.Add(time.Minute).Before(claims.NotBefore.Time()) {
		return nil, invalid("Token is not yet valid")
	}
	return &claims, nil
}

func randomText(r io.Reader, n int, alphabet string) (string, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", fmt.Errorf("random: %w", err)
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b), nil
}

type result struct {
	XMLName xml.Name `xml:"AssumeRoleWithWebIdentityResponse"`
	Xmlns   string   `xml:"xmlns,attr"`
	Result  struct {
		SubjectFromWebIdentityToken string
		Audience                    string
		AssumedRoleUser             struct {
			Arn           string
			AssumedRoleId string
		}
		Credentials struct {
			AccessKeyId     string
			SecretAccessKey string
			SessionToken    string
			Expiration      string
		}
		Provider string
	} `xml:"AssumeRoleWithWebIdentityResult"`
	RequestID string `xml:"ResponseMetadata>RequestId"`
}

func writeResult(w http.ResponseWriter, sess Session, cred sigv4.Credential) {
	var out result
	out.Xmlns = xmlns
	res := &out.Result
	res.SubjectFromWebIdentityToken = sess.Subject
	res.Audience = sess.Audience
	res.Provider = "accounts.google.com"
	account, roleName := roleParts(sess.RoleArn)
	res.AssumedRoleUser.Arn = fmt.Sprintf("arn:aws:sts::%s:assumed-role/%s/%s", account, roleName, sess.SessionName)
	res.AssumedRoleUser.AssumedRoleId = "AROA" + sess.AccessKeyID[4:] + ":" + sess.SessionName
	res.Credentials.AccessKeyId = sess.AccessKeyID
	res.Credentials.SecretAccessKey = cred.Secret
	res.Credentials.SessionToken = cred.SessionToken
	res.Credentials.Expiration = cred.Expires.UTC().Format(time.RFC3339)
	out.RequestID = "00000000-0000-4000-8000-" + strings.ToLower(sess.AccessKeyID[4:16])
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, xml.Header)
	xml.NewEncoder(w).Encode(out)
}

// roleParts splits arn:aws:iam::ACCOUNT:role/NAME.
func roleParts(arn string) (account, name string) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 {
		return "000000000000", "role"
	}
	_, name, _ = strings.Cut(parts[5], "/")
	return parts[4], name
}

type errorResponse struct {
	XMLName xml.Name `xml:"ErrorResponse"`
	Xmlns   string   `xml:"xmlns,attr"`
	Error   struct {
		Type    string
		Code    string
		Message string
	}
	RequestID string `xml:"RequestId"`
}

func writeError(w http.ResponseWriter, e *stsError) {
	var out errorResponse
	out.Xmlns = xmlns
	out.Error.Type = "Sender"
	if e.status >= 500 {
		out.Error.Type = "Receiver"
	}
	out.Error.Code, out.Error.Message = e.code, e.message
	out.RequestID = "00000000-0000-4000-8000-000000000000"
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(e.status)
	io.WriteString(w, xml.Header)
	xml.NewEncoder(w).Encode(out)
}
