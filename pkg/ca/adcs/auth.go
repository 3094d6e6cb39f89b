package adcs

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"

	ntlmssp "github.com/Azure/go-ntlmssp"
	krbclient "github.com/jcmturner/gokrb5/v8/client"
	krbconfig "github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/spnego"
)

// Auth signs acmera in at IIS: Kerberos or NTLM. Neither ever logs a
// credential; errors name files and principals, never their contents.
type Auth interface {
	// transport wraps base with the authentication of every request.
	transport(base http.RoundTripper) (http.RoundTripper, error)
	// principal names the account, for messages.
	principal() string
}

// Kerberos authenticates with SPNEGO (HTTP Negotiate, RFC 4559) and a
// Kerberos service ticket for SPN, from a keytab or a password.
type Kerberos struct {
	// Realm is the Kerberos realm (the AD domain in capitals).
	Realm string
	// KDCs are the KDCs' host:port (the domain controllers, port 88).
	KDCs []string
	// Username is the account's name, without the realm.
	Username string
	// KeytabFile holds the account's keys; or PasswordFile its password.
	KeytabFile   string
	PasswordFile string
	// SPN is the web server's service principal, HTTP/<host of BaseURL>.
	SPN string
}

func (k Kerberos) principal() string { return k.Username + "@" + k.Realm }

// krb5Conf is the gokrb5 configuration of k: no DNS lookups, the KDCs
// given, TCP first (AD tickets with a PAC rarely fit in UDP).
func (k Kerberos) krb5Conf() (*krbconfig.Config, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "[libdefaults]\n default_realm = %s\n dns_lookup_kdc = false\n dns_lookup_realm = false\n udp_preference_limit = 1\n", k.Realm)
	fmt.Fprintf(&b, "[realms]\n %s = {\n", k.Realm)
	for _, kdc := range k.KDCs {
		fmt.Fprintf(&b, "  kdc = %s\n", kdc)
	}
	b.WriteString(" }\n")
	cfg, err := krbconfig.NewFromString(b.String())
	if err != nil {
		return nil, fmt.Errorf("krb5 config: %w", err)
	}
	return cfg, nil
}

func (k Kerberos) check() error {
	switch {
	case k.Realm == "" || k.Username == "":
		return errors.New("kerberos: realm and username are required")
	case len(k.KDCs) == 0:
		return errors.New("kerberos: at least one KDC (host:port) is required")
	case (k.KeytabFile == "") == (k.PasswordFile == ""):
		return errors.New("kerberos: set exactly one of keytabFile and passwordFile")
	case !strings.HasPrefix(k.SPN, "HTTP/"):
		return fmt.Errorf("kerberos: SPN %q must be HTTP/<web server host>", k.SPN)
	}
	return nil
}

func (k Kerberos) transport(base http.RoundTripper) (http.RoundTripper, error) {
	if err := k.check(); err != nil {
		return nil, err
	}
	cfg, err := k.krb5Conf()
	if err != nil {
		return nil, err
	}
	settings := []func(*krbclient.Settings){krbclient.DisablePAFXFAST(true)}
	var cl *krbclient.Client
	if k.KeytabFile != "" {
		kt, err := keytab.Load(k.KeytabFile)
		if err != nil {
			return nil, fmt.Errorf("kerberos: keytab.Load(%s): %w", k.KeytabFile, err)
		}
		cl = krbclient.NewWithKeytab(k.Username, k.Realm, kt, cfg, settings...)
	} else {
		pw, err := readSecret(k.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("kerberos: %w", err)
		}
		cl = krbclient.NewWithPassword(k.Username, k.Realm, pw, cfg, settings...)
	}
	return &kerberosTransport{next: base, client: cl, spn: k.SPN}, nil
}

// kerberosTransport adds a fresh SPNEGO token (a new authenticator for a
// cached service ticket) to every request.
type kerberosTransport struct {
	next   http.RoundTripper
	spn    string
	mu     sync.Mutex // serialises gokrb5's session and ticket cache use
	client *krbclient.Client
}

func (t *kerberosTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	t.mu.Lock()
	err := spnego.SetSPNEGOHeader(t.client, req, t.spn)
	t.mu.Unlock()
	if err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, &authError{err: fmt.Errorf("kerberos ticket for %s: %w", t.spn, err), refused: kdcRefused(err)}
	}
	return t.next.RoundTrip(req)
}

// kdcRefused reports whether a gokrb5 error is the KDC's refusal (an
// unknown principal, a wrong password or key: KDC_ERR_*), not a KDC that
// could not be reached. gokrb5 flattens its errors into text.
func kdcRefused(err error) bool {
	s := err.Error()
	return strings.Contains(s, "KDC_ERR_") || strings.Contains(s, "KRB_AP_ERR_") || strings.Contains(s, "keytab")
}

// NTLM authenticates with NTLMv2 (HTTP NTLM or Negotiate, MS-NLMP) as
// Domain\Username.
type NTLM struct {
	Domain       string
	Username     string
	PasswordFile string
}

func (n NTLM) principal() string { return n.Domain + `\` + n.Username }

func (n NTLM) transport(base http.RoundTripper) (http.RoundTripper, error) {
	if n.Domain == "" || n.Username == "" || n.PasswordFile == "" {
		return nil, errors.New("ntlm: domain, username and passwordFile are required")
	}
	pw, err := readSecret(n.PasswordFile)
	if err != nil {
		return nil, fmt.Errorf("ntlm: %w", err)
	}
	return &ntlmTransport{next: ntlmssp.Negotiator{RoundTripper: base}, user: n.principal(), password: pw}, nil
}

// ntlmTransport hands the credentials to go-ntlmssp's Negotiator, which
// runs the NTLM handshake on the connection when IIS asks for it.
type ntlmTransport struct {
	next     http.RoundTripper
	user     string
	password string
}

func (t *ntlmTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.SetBasicAuth(t.user, t.password)
	return t.next.RoundTrip(req)
}

// readSecret reads a password from a file (a mounted secret), without its
// trailing line break.
func readSecret(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("password file: %w", err)
	}
	s := strings.TrimRight(string(b), "\r\n")
	if s == "" {
		return "", fmt.Errorf("password file %s is empty", path)
	}
	return s, nil
}

// authError is a failure to authenticate before the request was sent.
type authError struct {
	err     error
	refused bool // the KDC refused the credentials (misconfigured), else unreachable
}

func (e *authError) Error() string { return e.err.Error() }
func (e *authError) Unwrap() error { return e.err }
