// Package va is the validation authority: pure validators that check one ACME
// challenge for one identifier and return nil (valid) or the RFC 8555 §6.7
// problem document explaining why the challenge failed.
//
// It implements http-01 (RFC 8555 §8.3), dns-01 (RFC 8555 §8.4) and
// tls-alpn-01 (RFC 8737), with IP identifiers (RFC 8738) for http-01 and
// tls-alpn-01. A failed validation is a result, never a Go error: Validate
// returns a *problem.Problem and nothing else. The validator touches no
// store; the caller records the result.
//
// Ports and DNS resolvers come from Config so that tests (and private
// deployments with split-horizon DNS) can point the validator anywhere.
//
// The validator is not a probe of the network it runs in: every address it
// dials passes the network policy of netpolicy.go (loopback, link-local and
// the metadata server, unspecified, multicast and broadcast are denied
// unless Config.AllowNetworks reopens them), and problem details never
// quote what it fetched or where a redirect pointed.
package va

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/acmera/acmera/pkg/acme"
	"github.com/acmera/acmera/pkg/problem"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultHTTP01Port    = 80
	DefaultTLSALPN01Port = 443
	DefaultTimeout       = 10 * time.Second
	DefaultStepTimeout   = 5 * time.Second
	DefaultTotalTimeout  = 30 * time.Second
	DefaultAttempts      = 3
	DefaultRetryDelay    = time.Second
)

// Config configures a Validator. Zero fields take the defaults above.
type Config struct {
	// Resolvers are DNS servers ("host:port") used for dns-01 TXT lookups and
	// for resolving names for http-01 and tls-alpn-01. They are tried in
	// order. Empty means the system resolver.
	Resolvers []string
	// HTTP01Port is the port http-01 connects to (RFC 8555 §8.3 says 80).
	// Redirects may go to ports 80 and 443, to HTTP01Port and to
	// TLSALPN01Port (the configured equivalents of 80 and 443).
	HTTP01Port int
	// TLSALPN01Port is the port tls-alpn-01 connects to (RFC 8737 §3 says 443).
	TLSALPN01Port int
	// AllowNetworks reopens parts of the ranges the validator otherwise never
	// dials (DeniedNetworks: loopback, link-local and the metadata server,
	// unspecified, multicast, broadcast). Only an entry here reopens a
	// denied range; addresses outside every denied range are always
	// allowed, so an entry there changes nothing. Entries must be masked
	// (no host bits) and not IPv4-mapped. The embedded default reopens
	// loopback; tests on loopback reopen 127.0.0.0/8.
	AllowNetworks []netip.Prefix
	// Timeout bounds one attempt (DNS lookups, connection, redirects and
	// reading the response together).
	Timeout time.Duration
	// StepTimeout bounds each network step of an attempt: a TCP connection,
	// a TLS handshake, the wait for HTTP response headers. It is at most
	// Timeout.
	StepTimeout time.Duration
	// TotalTimeout bounds a whole validation: every attempt and the pauses
	// between them.
	TotalTimeout time.Duration
	// Attempts is how many times a transient network failure (timeout,
	// connection refused or reset, SERVFAIL) is tried before giving up.
	Attempts int
	// RetryDelay is the pause between attempts.
	RetryDelay time.Duration
	// Logger receives why validations failed and what the network policy
	// refused (hosts and addresses; never tokens, key authorizations or
	// response bodies). Nil discards.
	Logger *slog.Logger
}

// Request is one challenge to validate.
type Request struct {
	// Identifier is a dns or ip identifier. For a wildcard authorization it
	// is the base name, without "*.".
	Identifier acme.Identifier
	// Type is acme.ChallengeHTTP01, acme.ChallengeDNS01 or acme.ChallengeTLSALPN01.
	Type string
	// Token is the challenge token (RFC 8555 §8.1), base64url.
	Token string
	// KeyAuthorization is token "." base64url(JWK thumbprint) (RFC 8555 §8.1).
	KeyAuthorization string
	// CAA, when set with identities, checks CAA after the challenge
	// succeeds (caa.go); nil checks nothing and makes no CAA lookup.
	CAA *CAA
}

// Validator runs challenge validations. It is safe for concurrent use.
type Validator struct {
	cfg      Config
	resolver resolver
	dialer   net.Dialer
	http     httpFetcher
	log      *slog.Logger
}

// New returns a Validator for cfg, or an error when cfg is invalid.
func New(cfg Config) (*Validator, error) {
	cfg, err := withDefaults(cfg)
	if err != nil {
		return nil, err
	}
	v := &Validator{cfg: cfg, dialer: net.Dialer{Timeout: cfg.StepTimeout}, log: cfg.Logger}
	if v.log == nil {
		v.log = slog.New(slog.DiscardHandler)
	}
	if len(cfg.Resolvers) > 0 {
		v.resolver = &dnsResolver{servers: cfg.Resolvers, timeout: cfg.Timeout}
	} else {
		v.resolver = &systemResolver{r: &net.Resolver{}, conf: resolvConf, timeout: cfg.Timeout}
	}
	v.http = newHTTPFetcher(v)
	return v, nil
}

// withDefaults fills zero fields and rejects impossible values.
func withDefaults(cfg Config) (Config, error) {
	for _, r := range cfg.Resolvers {
		if _, _, err := net.SplitHostPort(r); err != nil {
			return cfg, fmt.Errorf("va.New: resolver %q is not host:port: %w", r, err)
		}
	}
	cfg.Resolvers = append([]string(nil), cfg.Resolvers...)
	if err := checkPrefixes(cfg.AllowNetworks); err != nil {
		return cfg, err
	}
	cfg.AllowNetworks = append([]netip.Prefix(nil), cfg.AllowNetworks...)
	if cfg.HTTP01Port == 0 {
		cfg.HTTP01Port = DefaultHTTP01Port
	}
	if cfg.TLSALPN01Port == 0 {
		cfg.TLSALPN01Port = DefaultTLSALPN01Port
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.StepTimeout == 0 {
		cfg.StepTimeout = DefaultStepTimeout
	}
	if cfg.StepTimeout > cfg.Timeout {
		cfg.StepTimeout = cfg.Timeout
	}
	if cfg.TotalTimeout == 0 {
		cfg.TotalTimeout = DefaultTotalTimeout
	}
	if cfg.Attempts == 0 {
		cfg.Attempts = DefaultAttempts
	}
	if cfg.RetryDelay == 0 {
		cfg.RetryDelay = DefaultRetryDelay
	}
	switch {
	case cfg.HTTP01Port < 0 || cfg.HTTP01Port > 65535:
		return cfg, fmt.Errorf("va.New: HTTP01Port %d out of range", cfg.HTTP01Port)
	case cfg.TLSALPN01Port < 0 || cfg.TLSALPN01Port > 65535:
		return cfg, fmt.Errorf("va.New: TLSALPN01Port %d out of range", cfg.TLSALPN01Port)
	case cfg.Timeout < 0 || cfg.StepTimeout < 0 || cfg.TotalTimeout < 0 || cfg.RetryDelay < 0:
		return cfg, fmt.Errorf("va.New: negative Timeout, StepTimeout, TotalTimeout or RetryDelay")
	case cfg.Attempts < 0:
		return cfg, fmt.Errorf("va.New: negative Attempts %d", cfg.Attempts)
	}
	return cfg, nil
}

// Validate checks one challenge and returns nil when it is valid, or the
// problem saying why it is not. It never returns an internal error: a
// request the validator cannot act on is reported as malformed. The whole
// validation is bounded by cfg.TotalTimeout, and so is the CAA check that
// follows a successful challenge when req.CAA asks for it.
func (v *Validator) Validate(ctx context.Context, req Request) *problem.Problem {
	target, p := checkRequest(req)
	if p != nil {
		return p
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, v.cfg.TotalTimeout)
	defer cancel()
	var attempt func(context.Context) *failure
	switch req.Type {
	case acme.ChallengeHTTP01:
		attempt = func(ctx context.Context) *failure { return v.http01(ctx, target, req) }
	case acme.ChallengeDNS01:
		attempt = func(ctx context.Context) *failure { return v.dns01(ctx, target, req) }
	default: // acme.ChallengeTLSALPN01, checked by checkRequest
		attempt = func(ctx context.Context) *failure { return v.tlsALPN01(ctx, target, req) }
	}
	f, n, seen := v.withRetries(ctx, attempt)
	if f == nil {
		return v.checkCAA(parent, target, req) // with a TotalTimeout of its own
	}
	v.logFailure(ctx, req, f, n)
	return f.problem(n, seen)
}

// target is a checked identifier: a lower-case DNS name or an IP address.
type target struct {
	name string     // DNS name, when the identifier is dns
	ip   netip.Addr // address, when the identifier is ip
}

// isIP reports whether the identifier is an IP address (RFC 8738).
func (t target) isIP() bool { return t.ip.IsValid() }

// String is the identifier's value as it appears in URLs and details.
func (t target) String() string {
	if t.isIP() {
		return t.ip.String()
	}
	return t.name
}

// checkRequest rejects requests no validator can act on: unknown identifier
// or challenge types, dns-01 for an IP (RFC 8738 §7), and tokens or key
// authorizations that are not of the RFC 8555 §8.1 form.
func checkRequest(req Request) (target, *problem.Problem) {
	var t target
	switch req.Identifier.Type {
	case acme.IdentifierDNS:
		name := strings.TrimSuffix(strings.ToLower(req.Identifier.Value), ".")
		if name == "" || strings.HasPrefix(name, "*.") || strings.ContainsAny(name, "/:@ \t\r\n[]") {
			return t, problem.Malformedf("invalid DNS identifier %q for validation", req.Identifier.Value)
		}
		t.name = name
	case acme.IdentifierIP:
		ip, err := netip.ParseAddr(req.Identifier.Value)
		if err != nil || ip.Zone() != "" {
			return t, problem.Malformedf("invalid IP identifier %q", req.Identifier.Value)
		}
		t.ip = ip.Unmap()
	default:
		return t, problem.New(problem.UnsupportedIdentifier, "identifier type %q is not supported", req.Identifier.Type)
	}
	switch req.Type {
	case acme.ChallengeHTTP01, acme.ChallengeTLSALPN01:
	case acme.ChallengeDNS01:
		if t.isIP() {
			return t, problem.Malformedf("dns-01 cannot validate IP identifier %s (RFC 8738 §7)", t)
		}
	default:
		return t, problem.Malformedf("unknown challenge type %q", req.Type)
	}
	if !isBase64URL(req.Token) {
		return t, problem.Malformedf("challenge token is not base64url")
	}
	if !strings.HasPrefix(req.KeyAuthorization, req.Token+".") || !isBase64URL(req.KeyAuthorization[len(req.Token)+1:]) {
		return t, problem.Malformedf("key authorization is not of the form token.thumbprint")
	}
	return t, nil
}

// isBase64URL reports whether s is non-empty unpadded base64url (RFC 8555 §8.1).
func isBase64URL(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}

// keyAuthDigest is SHA-256 of the key authorization, used by dns-01
// (RFC 8555 §8.4) and tls-alpn-01 (RFC 8737 §3).
func keyAuthDigest(keyAuth string) [sha256.Size]byte {
	return sha256.Sum256([]byte(keyAuth))
}

// dns01Value is the TXT record value dns-01 expects (RFC 8555 §8.4).
func dns01Value(keyAuth string) string {
	d := keyAuthDigest(keyAuth)
	return base64.RawURLEncoding.EncodeToString(d[:])
}
