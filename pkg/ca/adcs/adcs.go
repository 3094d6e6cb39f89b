// Package adcs implements ca.Issuer with Microsoft Active Directory
// Certificate Services through its Web Enrollment pages (certsrv) over
// HTTPS, authenticated with Kerberos (SPNEGO) or NTLMv2, as a domain
// account that may enroll in one certificate template.
//
// AD CS signs a CSR and nothing else: a template set to "Supply in the
// request" copies the subject and subjectAltName from it. So Issue refuses
// a CSR whose names, subject or key differ from what acmera decided
// (DESIGN.md, "The RA owns the certificate's contents") before sending it,
// sends no attributes but the template, and ca.CheckIssued checks what
// comes back.
//
// The enrolment (POST certsrv/certfnsh.asp) answers at once with one of
// three pages: issued (a link to certnew.cer?ReqID=N), pending ("Certificate
// Pending", for templates that need a certificate manager's approval), or
// denied ("The disposition message is ..."). AD CS has no idempotency key,
// so the request ID is handed to IssueRequest.Submitted as soon as AD CS
// names it; Find collects the certificate of a recorded request ID
// (certnew.cer), reports a request still pending as ca.ErrPending (a
// ca.ErrTransient), a denied one as *ca.RejectedError with the CA's
// disposition message, and one pending past the approval deadline as
// *ca.RejectedError too.
//
// Revocation: Web Enrollment cannot revoke. With Revocation "dcom" Revoke
// calls MS-CSRA ICertAdminD::RevokeCertificate over DCOM (packet privacy),
// which needs the CA officer right; with "none" it refuses clearly.
package adcs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/acmera/acmera/pkg/ca"
)

var (
	_ ca.Issuer = (*Issuer)(nil)
	_ ca.Finder = (*Issuer)(nil)
)

// UserAgent is sent with every request: IIS serves the Web Enrollment
// pages' full forms only to browsers it recognises.
const UserAgent = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; Trident/7.0; rv:11.0) like Gecko acmera"

// Revocation modes.
const (
	RevocationNone = "none"
	RevocationDCOM = "dcom"
)

// Config configures one Issuer, bound to one AD CS enterprise CA.
type Config struct {
	// BaseURL is the CA's Web Enrollment, https://HOST[:PORT][/certsrv];
	// the pages are under /certsrv.
	BaseURL string
	// Template is the certificate template's name (not its display name)
	// used when IssueRequest.Template is empty.
	Template string
	// Auth signs every request in: Kerberos or NTLM.
	Auth Auth
	// RootCAs verifies IIS's TLS certificate; nil means the system roots.
	RootCAs *x509.CertPool
	// ApprovalDeadline bounds how long a pending request may wait for a
	// certificate manager, from IssueRequest.RequestedAt; zero means 24 h.
	ApprovalDeadline time.Duration
	// Revocation is "dcom" or "none" (the default).
	Revocation string
	// DCOM configures revocation with Revocation "dcom".
	DCOM DCOMConfig
	// CallTimeout bounds each HTTP exchange (authentication included);
	// zero means 30 s.
	CallTimeout time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Issuer enrols through one CA's Web Enrollment pages. It holds one HTTP
// client for its whole life.
type Issuer struct {
	base        *url.URL // .../certsrv
	template    string
	client      *http.Client
	auth        Auth
	deadline    time.Duration
	revocation  string
	dcom        DCOMConfig
	callTimeout time.Duration
	now         func() time.Time
}

// New validates cfg and builds the client; it makes no call (Check does).
func New(cfg Config) (*Issuer, error) {
	u, err := url.Parse(cfg.BaseURL)
	switch {
	case err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "":
		return nil, fmt.Errorf("adcs.New: BaseURL %q is not https://HOST[/certsrv]", cfg.BaseURL)
	case u.Scheme != "https":
		return nil, fmt.Errorf("adcs.New: BaseURL %q must be https: the Web Enrollment pages carry CSRs and credentials", cfg.BaseURL)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	if !strings.HasSuffix(u.Path, "/certsrv") {
		u.Path += "/certsrv"
	}
	if err := checkTemplate(cfg.Template); cfg.Template != "" && err != nil {
		return nil, fmt.Errorf("adcs.New: Template: %w", err)
	}
	if cfg.Auth == nil {
		return nil, errors.New("adcs.New: Auth is required (Kerberos or NTLM)")
	}
	switch cfg.Revocation {
	case "":
		cfg.Revocation = RevocationNone
	case RevocationNone:
	case RevocationDCOM:
		if err := cfg.DCOM.check(); err != nil {
			return nil, fmt.Errorf("adcs.New: DCOM: %w", err)
		}
	default:
		return nil, fmt.Errorf("adcs.New: Revocation %q must be %q or %q", cfg.Revocation, RevocationDCOM, RevocationNone)
	}
	if cfg.ApprovalDeadline <= 0 {
		cfg.ApprovalDeadline = 24 * time.Hour
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	base := http.DefaultTransport.(*http.Transport).Clone()
	base.TLSClientConfig = &tls.Config{RootCAs: cfg.RootCAs, MinVersion: tls.VersionTLS12}
	rt, err := cfg.Auth.transport(base)
	if err != nil {
		return nil, fmt.Errorf("adcs.New: %w", err)
	}
	return &Issuer{
		base: u, template: cfg.Template, auth: cfg.Auth,
		// Redirects are not followed: certsrv answers in place, and a
		// redirect elsewhere would carry the CSR and credentials there.
		client: &http.Client{Transport: rt, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}},
		deadline: cfg.ApprovalDeadline, revocation: cfg.Revocation, dcom: cfg.DCOM,
		callTimeout: cfg.CallTimeout, now: cfg.Now,
	}, nil
}

// checkTemplate refuses a template name that could add a second request
// attribute (CertAttrib is "Name:Value" lines).
func checkTemplate(t string) error {
	switch {
	case t == "":
		return errors.New("no certificate template is configured (set the backend's template or the profile's caTemplate)")
	case strings.ContainsAny(t, "\r\n:"), strings.ContainsFunc(t, func(r rune) bool { return r < 0x20 }):
		return fmt.Errorf("certificate template %q holds a line break, colon or control character", t)
	}
	return nil
}

// Check verifies at start that the Web Enrollment pages answer and accept
// acmera's credentials, and that the CA chain can be read: refused
// credentials, a missing certsrv or an unreadable chain are
// ca.ErrMisconfigured; an unreachable server or KDC is ca.ErrTransient.
func (i *Issuer) Check(ctx context.Context) error {
	if _, err := i.caChain(ctx); err != nil {
		return fmt.Errorf("%s: %w", i.base, err)
	}
	return nil
}

// Roots returns the self-signed certificates of the CA's chain.
func (i *Issuer) Roots(ctx context.Context) ([][]byte, error) {
	certs, err := i.caChain(ctx)
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for _, c := range certs {
		if ca.SelfSigned(c) {
			out = append(out, c.Raw)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("adcs: certnew.p7b: %w: the CA chain holds no self-signed root", ca.ErrMisconfigured)
	}
	return out, nil
}
