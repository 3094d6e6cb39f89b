// Package vault implements ca.Issuer with a HashiCorp Vault PKI secrets
// engine, over Vault's HTTP API.
//
// What acmera sends: POST /v1/<mount>/sign/<role> with the checked CSR and
// the names acmera decided (common_name, alt_names, ip_sans, all set
// explicitly) and a ttl, never sign-verbatim (which checks no names) and
// never not_after (which Vault 1.21 lets bypass the role's max_ttl). The
// role stays a second line of defence; ca.CheckIssued checks what comes
// back, so a role that caps the ttl below what the order asked is
// reported, not hidden.
//
// Idempotency: Vault takes no request ID. A retried finalize first asks
// Find, which looks among the certificates the mount stored since the
// request began for one with the request's key and names; only a role with
// no_store=true defeats that, and then a retry after an instance died
// mid-call can mint a second certificate (never served: the order records
// one).
//
// Revocation: POST /v1/<mount>/revoke with the certificate's PEM (which
// works for no_store roles too). Vault takes no reason code; acmera keeps
// the ACME reason in its own record and audit event.
//
// Authentication, without static secrets in production: JWT auth with the
// workload's Google ID token (auth/<path>/login {"role","jwt"}); AppRole
// and a token (or token file) as alternatives. The token is renewed by
// logging in again before a third of its TTL is left, and once more when
// Vault says it is no longer valid.
package vault

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/acmera/acmera/pkg/ca"
)

var (
	_ ca.Issuer = (*Issuer)(nil)
	_ ca.Finder = (*Issuer)(nil)
)

var pathPart = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)*$`)

// Config configures one Issuer, bound to one mount and role.
type Config struct {
	// Address is Vault's base URL, e.g. https://vault.corp.example:8200.
	Address string
	// Mount is the PKI secrets engine's path, e.g. "pki_int".
	Mount string
	// Role is the PKI role that signs, e.g. "acmera".
	Role string
	// Namespace is the Vault Enterprise namespace; empty for none.
	Namespace string
	// Auth logs in to Vault.
	Auth Auth
	// HTTPClient makes the calls; nil means one with CACertPEM's roots (or
	// the system's) and no proxy surprises beyond the environment's.
	HTTPClient *http.Client
	// CACertPEM holds the roots that sign Vault's TLS certificate, when
	// they are not the system's.
	CACertPEM []byte
	// CallTimeout bounds each HTTP call; zero means 30 s.
	CallTimeout time.Duration
	// FindLimit bounds how many stored serials Find reads; zero means 5000.
	FindLimit int
}

// Issuer signs and revokes through one Vault PKI mount and role.
type Issuer struct {
	c         *client
	mount     string
	role      string
	findLimit int

	mu      sync.Mutex
	noStore bool // the role keeps no certificates (learnt by Check)
}

// New validates cfg and returns an Issuer; it does not call Vault (Check
// does, at start).
func New(cfg Config) (*Issuer, error) {
	u, err := url.Parse(cfg.Address)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return nil, fmt.Errorf("vault: address %q must be an http(s) URL with no path, like https://vault.example:8200", cfg.Address)
	}
	if !pathPart.MatchString(cfg.Mount) {
		return nil, fmt.Errorf("vault: mount %q is not a Vault path such as pki_int", cfg.Mount)
	}
	if !pathPart.MatchString(cfg.Role) || strings.Contains(cfg.Role, "/") {
		return nil, fmt.Errorf("vault: role %q is not a PKI role name", cfg.Role)
	}
	if cfg.Auth == nil {
		return nil, errors.New("vault: no auth method configured")
	}
	hc := cfg.HTTPClient
	if hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		if len(cfg.CACertPEM) > 0 {
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(cfg.CACertPEM) {
				return nil, errors.New("vault: the CA certificate for Vault's TLS holds no PEM certificate")
			}
			tr.TLSClientConfig.RootCAs = pool
		}
		hc = &http.Client{Transport: tr}
	}
	timeout := cfg.CallTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	limit := cfg.FindLimit
	if limit <= 0 {
		limit = 5000
	}
	return &Issuer{
		c:     &client{base: strings.TrimSuffix(cfg.Address, "/"), namespace: cfg.Namespace, hc: hc, timeout: timeout, auth: cfg.Auth},
		mount: cfg.Mount, role: cfg.Role, findLimit: limit,
	}, nil
}

// Role is what Check read of the PKI role.
type Role struct {
	// ServerFlag and ClientFlag are the role's serverAuth and clientAuth
	// extended key usages.
	ServerFlag, ClientFlag bool
	// NoStore says the role keeps no certificates (Find cannot work).
	NoStore bool
	// MaxTTL is the role's max_ttl (zero: the mount's).
	MaxTTL time.Duration
}

// Check logs in, reads the role and the mount's CA chain, and returns the
// role, failing with an error naming what is wrong: the address, the
// auth, the mount or the role. A role acmera may not read (no "read" on
// <mount>/roles/<role>) is not an error: its zero Role is returned with
// readable false.
func (i *Issuer) Check(ctx context.Context) (role Role, readable bool, err error) {
	if _, err := i.c.token(ctx); err != nil {
		return Role{}, false, err
	}
	if _, err := i.Roots(ctx); err != nil {
		return Role{}, false, fmt.Errorf("vault: mount %q: %w", i.mount, err)
	}
	var out struct {
		Data struct {
			ServerFlag bool   `json:"server_flag"`
			ClientFlag bool   `json:"client_flag"`
			NoStore    bool   `json:"no_store"`
			MaxTTL     any    `json:"max_ttl"`
			KeyType    string `json:"key_type"`
		} `json:"data"`
	}
	err = i.c.call(ctx, http.MethodGet, i.mount+"/roles/"+i.role, nil, &out)
	var ve *apiError
	switch {
	case errors.As(err, &ve) && ve.status == http.StatusForbidden:
		return Role{}, false, nil
	case errors.As(err, &ve) && ve.status == http.StatusNotFound:
		return Role{}, false, fmt.Errorf("vault: role %q does not exist on mount %q: %w", i.role, i.mount, ca.ErrMisconfigured)
	case err != nil:
		return Role{}, false, fmt.Errorf("vault: read role %q: %w", i.role, err)
	}
	role = Role{ServerFlag: out.Data.ServerFlag, ClientFlag: out.Data.ClientFlag, NoStore: out.Data.NoStore, MaxTTL: seconds(out.Data.MaxTTL)}
	i.mu.Lock()
	i.noStore = role.NoStore
	i.mu.Unlock()
	return role, true, nil
}

// seconds reads a Vault duration field (a number of seconds or a string).
func seconds(v any) time.Duration {
	switch x := v.(type) {
	case float64:
		return time.Duration(x) * time.Second
	case string:
		if d, err := time.ParseDuration(x); err == nil {
			return d
		}
	}
	return 0
}

// signResponse is the data of sign/<role>.
type signResponse struct {
	Data struct {
		Certificate  string   `json:"certificate"`
		IssuingCA    string   `json:"issuing_ca"`
		CAChain      []string `json:"ca_chain"`
		SerialNumber string   `json:"serial_number"`
	} `json:"data"`
	Warnings []string `json:"warnings"`
}

// Issue implements ca.Issuer: sign/<role> with the CSR, the order's names
// set explicitly and a ttl (the time left to req.NotAfter, computed now,
// or req.Lifetime).
func (i *Issuer) Issue(ctx context.Context, req ca.IssueRequest) (*ca.Issued, error) {
	if req.CSR == nil {
		return nil, errors.New("vault: IssueRequest.CSR is nil: Vault signs CSRs")
	}
	ttl := req.Lifetime
	if !req.NotAfter.IsZero() {
		if ttl = time.Until(req.NotAfter).Truncate(time.Second); ttl <= 0 {
			return nil, &ca.RejectedError{Detail: "the order's notAfter has passed"}
		}
	}
	if ttl < time.Second {
		return nil, fmt.Errorf("vault: IssueRequest.Lifetime %s is not positive", ttl)
	}
	body := map[string]any{
		"csr":                  string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: req.CSR.Raw})),
		"ttl":                  fmt.Sprintf("%ds", int64(ttl/time.Second)),
		"format":               "pem",
		"exclude_cn_from_sans": false,
	}
	if req.CommonName != "" {
		body["common_name"] = req.CommonName
	}
	if len(req.DNSNames) > 0 {
		body["alt_names"] = strings.Join(req.DNSNames, ",")
	}
	if len(req.IPAddresses) > 0 {
		ips := make([]string, len(req.IPAddresses))
		for k, ip := range req.IPAddresses {
			ips[k] = ip.String()
		}
		body["ip_sans"] = strings.Join(ips, ",")
	}
	var out signResponse
	if err := i.c.call(ctx, http.MethodPost, i.mount+"/sign/"+i.role, body, &out); err != nil {
		return nil, classify("sign", err)
	}
	return chainFrom(out.Data.Certificate, out.Data.CAChain, out.Data.IssuingCA)
}

// chainFrom builds leaf-first DER from Vault's PEM fields, leaving out
// self-signed roots (clients hold them) and repeats.
func chainFrom(leafPEM string, chain []string, issuing string) (*ca.Issued, error) {
	leaf, err := ca.ParsePEMCertificates(leafPEM)
	if err != nil || len(leaf) != 1 {
		return nil, fmt.Errorf("vault: the certificate field is not one PEM certificate (%v)", err)
	}
	out := &ca.Issued{Chain: [][]byte{leaf[0].Raw}, Resource: serialText(leaf[0])}
	if len(chain) == 0 && issuing != "" {
		chain = []string{issuing}
	}
	seen := map[string]bool{string(leaf[0].Raw): true}
	for _, p := range chain {
		certs, err := ca.ParsePEMCertificates(p)
		if err != nil {
			return nil, fmt.Errorf("vault: ca_chain: %w", err)
		}
		for _, c := range certs {
			if seen[string(c.Raw)] || ca.SelfSigned(c) {
				continue
			}
			seen[string(c.Raw)] = true
			out.Chain = append(out.Chain, c.Raw)
		}
	}
	return out, nil
}

// serialText is Vault's spelling of a serial: colon-separated hex pairs.
func serialText(c *x509.Certificate) string {
	b := c.SerialNumber.Bytes()
	parts := make([]string, len(b))
	for k, x := range b {
		parts[k] = fmt.Sprintf("%02x", x)
	}
	return strings.Join(parts, ":")
}

// Revoke implements ca.Issuer: revoke by PEM. Vault records no reason;
// revoking twice succeeds at Vault (acmera's own record says alreadyRevoked).
func (i *Issuer) Revoke(ctx context.Context, req ca.RevokeRequest) error {
	if req.Cert == nil {
		return errors.New("vault: RevokeRequest.Cert is nil")
	}
	body := map[string]any{"certificate": string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: req.Cert.Raw}))}
	if err := i.c.call(ctx, http.MethodPost, i.mount+"/revoke", body, nil); err != nil {
		return classify("revoke", err)
	}
	return nil
}

// Roots implements ca.Issuer: the self-signed certificates of the mount's
// CA chain, or its topmost certificate when the chain stops below the root.
func (i *Issuer) Roots(ctx context.Context) ([][]byte, error) {
	b, err := i.c.raw(ctx, i.mount+"/ca_chain")
	if err != nil {
		return nil, classify("ca_chain", err)
	}
	certs, err := ca.ParsePEMCertificates(string(b))
	if err != nil {
		return nil, fmt.Errorf("vault: %s/ca_chain: %w (is the mount's issuer set?)", i.mount, err)
	}
	var roots [][]byte
	for _, c := range certs {
		if ca.SelfSigned(c) {
			roots = append(roots, c.Raw)
		}
	}
	if len(roots) == 0 {
		roots = append(roots, certs[len(certs)-1].Raw)
	}
	return roots, nil
}

// Find implements ca.Finder: among the certificates the mount stored, one
// with the request's key and exactly its names, valid from no earlier than
// a minute before the request began (Vault backdates 30 s). ErrNotIssued
// only when every stored serial was read; a no_store role cannot say.
func (i *Issuer) Find(ctx context.Context, req ca.IssueRequest) (*ca.Issued, error) {
	i.mu.Lock()
	noStore := i.noStore
	i.mu.Unlock()
	if noStore {
		return nil, errors.New("vault: the role has no_store set: Vault keeps no certificates to find")
	}
	var list struct {
		Data struct {
			Keys []string `json:"keys"`
		} `json:"data"`
	}
	err := i.c.call(ctx, "LIST", i.mount+"/certs", nil, &list)
	var ve *apiError
	if errors.As(err, &ve) && ve.status == http.StatusNotFound {
		return nil, ca.ErrNotIssued // no certificates at all
	}
	if err != nil {
		return nil, classify("list certs", err)
	}
	if len(list.Data.Keys) > i.findLimit {
		return nil, fmt.Errorf("vault: the mount stores %d certificates, more than the %d Find reads", len(list.Data.Keys), i.findLimit)
	}
	from := req.RequestedAt.Add(-time.Minute)
	for _, serial := range list.Data.Keys {
		c, err := i.readCert(ctx, serial)
		if err != nil {
			return nil, err
		}
		if c == nil || c.IsCA || c.NotBefore.Before(from) || !matches(c, req) {
			continue
		}
		return i.chainFor(ctx, c)
	}
	return nil, ca.ErrNotIssued
}

// readCert reads one stored certificate; nil if it does not parse.
func (i *Issuer) readCert(ctx context.Context, serial string) (*x509.Certificate, error) {
	var out struct {
		Data struct {
			Certificate string `json:"certificate"`
		} `json:"data"`
	}
	if err := i.c.call(ctx, http.MethodGet, i.mount+"/cert/"+url.PathEscape(serial), nil, &out); err != nil {
		return nil, classify("read cert "+serial, err)
	}
	certs, err := ca.ParsePEMCertificates(out.Data.Certificate)
	if err != nil {
		return nil, nil
	}
	return certs[0], nil
}

// chainFor completes a found leaf with the mount's chain below the root.
func (i *Issuer) chainFor(ctx context.Context, leaf *x509.Certificate) (*ca.Issued, error) {
	b, err := i.c.raw(ctx, i.mount+"/ca_chain")
	if err != nil {
		return nil, classify("ca_chain", err)
	}
	return chainFrom(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw})), []string{string(b)}, "")
}

// matches reports whether c has req's key and exactly its names.
func matches(c *x509.Certificate, req ca.IssueRequest) bool {
	k, ok := c.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !k.Equal(req.PublicKey) {
		return false
	}
	a, b := slices.Clone(c.DNSNames), slices.Clone(req.DNSNames)
	slices.Sort(a)
	slices.Sort(b)
	if !slices.Equal(a, b) {
		return false
	}
	ips := func(in []net.IP) []string {
		out := make([]string, len(in))
		for k, ip := range in {
			out[k] = ip.String()
		}
		slices.Sort(out)
		return out
	}
	return slices.Equal(ips(c.IPAddresses), ips(req.IPAddresses))
}
