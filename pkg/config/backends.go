package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Backend is one CA backend of the profiles file's "backends" object:
//
//	"backends": {
//	  "onprem": {"vault": {"address": "https://vault.corp:8200", "mount": "pki_int", "role": "acmera",
//	                       "auth": {"method": "jwt", "role": "acmera", "audience": "vault"}}},
//	  "eu":     {"cas": {"pool": "projects/p/locations/europe-west1/caPools/eu"}}
//	}
//
// Each entry holds exactly one of cas, vault (and, as they land, the other
// backends); a profile names its backend in "backend". The deployment's
// own backend is always there under a reserved name: "local" (the embedded
// default's local CA) or "cas" (ACMERA_CAS_POOL in the cloud), the default
// of profiles that name none.
type Backend struct {
	Name   string
	Type   string // "cas", "vault", "awspca" or "adcs"
	CAS    *CASBackend
	Vault  *VaultBackend
	AWSPCA *AWSPCABackend
	ADCS   *ADCSBackend
}

// ADCSBackend is a Microsoft AD CS enterprise CA, reached through its Web
// Enrollment pages (certsrv) as a domain account:
//
//	"corp": {"adcs": {"baseURL": "https://ca01.corp.example/certsrv", "template": "AcmeraWebServer",
//	                  "auth": {"method": "kerberos", "realm": "CORP.EXAMPLE", "kdc": ["dc01.corp.example:88"],
//	                           "username": "svc-acmera", "keytabFile": "/secrets/acmera.keytab"},
//	                  "caBundleFile": "/etc/acmera/corp-roots.pem", "approvalDeadline": "24h"}}
type ADCSBackend struct {
	// BaseURL is https://HOST[/certsrv].
	BaseURL string `json:"baseURL"`
	// Template is the certificate template's name for profiles without
	// a caTemplate.
	Template string   `json:"template,omitempty"`
	Auth     ADCSAuth `json:"auth"`
	// CABundleFile holds the PEM roots of IIS's TLS certificate when the
	// system's do not.
	CABundleFile string `json:"caBundleFile,omitempty"`
	// Revocation is "none" (the default: Web Enrollment cannot revoke) or
	// "dcom" (MS-CSRA ICertAdminD::RevokeCertificate; needs the officer
	// right and caName).
	Revocation string `json:"revocation,omitempty"`
	// CAName is the CA's name, as in certutil -config HOST\NAME (dcom).
	CAName string `json:"caName,omitempty"`
	// ApprovalDeadline bounds how long a request may wait for a certificate
	// manager's approval (a Go duration; default 24h).
	ApprovalDeadline string `json:"approvalDeadline,omitempty"`
}

// ADCSAuth says how acmera signs in at IIS.
type ADCSAuth struct {
	// Method is "kerberos" or "ntlm".
	Method string `json:"method"`
	// Realm, KDC (host:port list) and SPN (default HTTP/<baseURL host>)
	// are Kerberos's.
	Realm string   `json:"realm,omitempty"`
	KDC   []string `json:"kdc,omitempty"`
	SPN   string   `json:"spn,omitempty"`
	// Username is the account; Domain its NetBIOS domain (NTLM).
	Username string `json:"username"`
	Domain   string `json:"domain,omitempty"`
	// KeytabFile (Kerberos) or PasswordFile (either) hold the secret.
	KeytabFile   string `json:"keytabFile,omitempty"`
	PasswordFile string `json:"passwordFile,omitempty"`
}

func checkADCSBackend(a *ADCSBackend) error {
	u, err := url.Parse(a.BaseURL)
	switch {
	case err != nil || u.Host == "" || u.Scheme != "https":
		return fmt.Errorf("adcs.baseURL %q: must be https://HOST[/certsrv]", a.BaseURL)
	case strings.ContainsAny(a.Template, "\r\n:"):
		return fmt.Errorf("adcs.template %q: must be a template name (no colon or line break)", a.Template)
	}
	if a.ApprovalDeadline != "" {
		if d, err := time.ParseDuration(a.ApprovalDeadline); err != nil || d <= 0 {
			return fmt.Errorf("adcs.approvalDeadline %q: must be a positive duration such as 24h", a.ApprovalDeadline)
		}
	}
	switch a.Revocation {
	case "", "none":
	case "dcom":
		if a.CAName == "" {
			return fmt.Errorf("adcs.caName is required with revocation dcom (the CA's name, as in certutil -config HOST\\NAME)")
		}
	default:
		return fmt.Errorf("adcs.revocation %q: must be dcom or none", a.Revocation)
	}
	au := &a.Auth
	if au.Username == "" {
		return fmt.Errorf("adcs.auth.username is required")
	}
	switch au.Method {
	case "kerberos":
		switch {
		case au.Realm == "":
			return fmt.Errorf("adcs.auth.realm is required with method kerberos")
		case len(au.KDC) == 0:
			return fmt.Errorf("adcs.auth.kdc is required with method kerberos (host:port of the KDCs)")
		case (au.KeytabFile == "") == (au.PasswordFile == ""):
			return fmt.Errorf("adcs.auth: method kerberos needs exactly one of keytabFile and passwordFile")
		case au.SPN != "" && !strings.HasPrefix(au.SPN, "HTTP/"):
			return fmt.Errorf("adcs.auth.spn %q: must be HTTP/<web server host>", au.SPN)
		}
	case "ntlm":
		switch {
		case au.Domain == "":
			return fmt.Errorf("adcs.auth.domain is required with method ntlm")
		case au.PasswordFile == "":
			return fmt.Errorf("adcs.auth.passwordFile is required with method ntlm")
		case au.KeytabFile != "":
			return fmt.Errorf("adcs.auth.keytabFile is for method kerberos")
		}
	default:
		return fmt.Errorf("adcs.auth.method %q: must be kerberos or ntlm", au.Method)
	}
	return nil
}

// AWSPCABackend is an AWS Private CA, reached with the workload's Google
// ID token exchanged for an IAM role (STS AssumeRoleWithWebIdentity): no
// AWS keys anywhere.
type AWSPCABackend struct {
	// CAArn is arn:aws:acm-pca:REGION:ACCOUNT:certificate-authority/ID.
	CAArn string `json:"caArn"`
	// Region defaults to the ARN's.
	Region string `json:"region,omitempty"`
	// TemplateArn is the certificate template; empty picks the base
	// end-entity template matching the profile's key usages.
	TemplateArn string `json:"templateArn,omitempty"`
	// SigningAlgorithm (e.g. SHA256WITHECDSA) defaults to the CA key's.
	SigningAlgorithm string `json:"signingAlgorithm,omitempty"`
	// RoleArn is the IAM role acmera assumes; Audience the ID token's aud,
	// as the role's trust policy expects (accounts.google.com:oaud).
	RoleArn  string `json:"roleArn"`
	Audience string `json:"audience"`
	// Endpoint, STSEndpoint and MetadataURL override the services (tests).
	Endpoint    string `json:"endpoint,omitempty"`
	STSEndpoint string `json:"stsEndpoint,omitempty"`
	MetadataURL string `json:"metadataURL,omitempty"`
}

var caArn = regexp.MustCompile(`^arn:aws[a-z-]*:acm-pca:[a-z0-9-]+:[0-9]{12}:certificate-authority/[A-Za-z0-9-]+$`)

func checkAWSPCABackend(a *AWSPCABackend) error {
	switch {
	case !caArn.MatchString(a.CAArn):
		return fmt.Errorf("awspca.caArn %q: must be arn:aws:acm-pca:REGION:ACCOUNT:certificate-authority/ID", a.CAArn)
	case !strings.HasPrefix(a.RoleArn, "arn:aws") || !strings.Contains(a.RoleArn, ":role/"):
		return fmt.Errorf("awspca.roleArn %q: must be an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)", a.RoleArn)
	case a.Audience == "":
		return fmt.Errorf("awspca.audience is required: the ID token audience the role's trust policy names")
	}
	return nil
}

// CASBackend is a Google CAS pool other than ACMERA_CAS_POOL's.
type CASBackend struct {
	// Pool is projects/P/locations/L/caPools/X.
	Pool string `json:"pool"`
	// Endpoint overrides the service endpoint (tests and fakes).
	Endpoint string `json:"endpoint,omitempty"`
}

// VaultBackend is a HashiCorp Vault PKI mount and role.
type VaultBackend struct {
	// Address is Vault's URL, https://host:8200 (http only to loopback).
	Address string `json:"address"`
	// Mount is the PKI secrets engine's path, Role the role that signs.
	Mount string `json:"mount"`
	Role  string `json:"role"`
	// Namespace is the Vault Enterprise namespace.
	Namespace string `json:"namespace,omitempty"`
	// CACertFile holds the PEM roots of Vault's TLS certificate when the
	// system's do not.
	CACertFile string    `json:"caCertFile,omitempty"`
	Auth       VaultAuth `json:"auth"`
}

// VaultAuth says how acmera logs in to Vault.
type VaultAuth struct {
	// Method is "jwt" (the workload's Google ID token; the default),
	// "approle" or "token".
	Method string `json:"method,omitempty"`
	// Path is the auth method's mount (default "jwt" or "approle").
	Path string `json:"path,omitempty"`
	// Role is the JWT auth role.
	Role string `json:"role,omitempty"`
	// Audience is the ID token's audience, as the JWT role's
	// bound_audiences expects.
	Audience string `json:"audience,omitempty"`
	// MetadataURL overrides the metadata server (tests).
	MetadataURL string `json:"metadataURL,omitempty"`
	// RoleID and SecretIDFile are AppRole's (the secret from a file, e.g. a
	// Secret Manager volume).
	RoleID       string `json:"roleID,omitempty"`
	SecretIDFile string `json:"secretIDFile,omitempty"`
	// TokenFile holds a Vault token (method "token").
	TokenFile string `json:"tokenFile,omitempty"`
}

var backendName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// Reserved backend names: the deployment's own CA.
const (
	BackendLocal = "local"
	BackendCAS   = "cas"
)

// parseBackends reads the raw "backends" object; src names the setting
// for errors.
func parseBackends(src string, raw map[string]json.RawMessage) ([]Backend, error) {
	var out []Backend
	for name, msg := range raw {
		where := fmt.Sprintf("%s: backends.%s", src, name)
		if !backendName.MatchString(name) {
			return nil, fmt.Errorf("%s: a backend name must match %s", where, backendName)
		}
		if name == BackendLocal || name == BackendCAS {
			return nil, fmt.Errorf("%s: %q is reserved for the deployment's own CA (the local CA, or ACMERA_CAS_POOL)", where, name)
		}
		var kinds map[string]json.RawMessage
		if err := json.Unmarshal(msg, &kinds); err != nil || len(kinds) != 1 {
			return nil, fmt.Errorf("%s: must be an object with exactly one of \"cas\", \"vault\", \"awspca\" or \"adcs\"", where)
		}
		b := Backend{Name: name}
		for typ, body := range kinds {
			b.Type = typ
			var err error
			switch typ {
			case "cas":
				b.CAS = new(CASBackend)
				err = strict(body, b.CAS)
				if err == nil {
					err = checkCASBackend(b.CAS)
				}
			case "vault":
				b.Vault = new(VaultBackend)
				err = strict(body, b.Vault)
				if err == nil {
					err = checkVaultBackend(b.Vault)
				}
			case "awspca":
				b.AWSPCA = new(AWSPCABackend)
				err = strict(body, b.AWSPCA)
				if err == nil {
					err = checkAWSPCABackend(b.AWSPCA)
				}
			case "adcs":
				b.ADCS = new(ADCSBackend)
				err = strict(body, b.ADCS)
				if err == nil {
					err = checkADCSBackend(b.ADCS)
				}
			default:
				err = fmt.Errorf("unknown backend type %q (want cas, vault, awspca or adcs)", typ)
			}
			if err != nil {
				return nil, fmt.Errorf("%s: %w", where, err)
			}
		}
		out = append(out, b)
	}
	slices.SortFunc(out, func(a, b Backend) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func strict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%T: %w", v, err)
	}
	return nil
}

func checkCASBackend(c *CASBackend) error {
	if !poolName.MatchString(c.Pool) {
		return fmt.Errorf("cas.pool %q: must be projects/P/locations/L/caPools/X", c.Pool)
	}
	return nil
}

func checkVaultBackend(v *VaultBackend) error {
	u, err := url.Parse(v.Address)
	switch {
	case err != nil || u.Host == "" || (u.Path != "" && u.Path != "/"):
		return fmt.Errorf("vault.address %q: must be a URL such as https://vault.example:8200", v.Address)
	case u.Scheme == "http" && !loopbackHost(u.Hostname()):
		return fmt.Errorf("vault.address %q: must be https (plain http only to loopback, for tests)", v.Address)
	case u.Scheme != "https" && u.Scheme != "http":
		return fmt.Errorf("vault.address %q: must be https", v.Address)
	case v.Mount == "" || v.Role == "":
		return fmt.Errorf("vault.mount and vault.role are required")
	}
	a := &v.Auth
	switch a.Method {
	case "", "jwt":
		a.Method = "jwt"
		if a.Role == "" || a.Audience == "" {
			return fmt.Errorf("vault.auth: method jwt needs role (the Vault JWT role) and audience (its bound_audiences)")
		}
	case "approle":
		if a.RoleID == "" || a.SecretIDFile == "" {
			return fmt.Errorf("vault.auth: method approle needs roleID and secretIDFile")
		}
	case "token":
		if a.TokenFile == "" {
			return fmt.Errorf("vault.auth: method token needs tokenFile")
		}
	default:
		return fmt.Errorf("vault.auth.method %q: must be jwt, approle or token", a.Method)
	}
	return nil
}

func loopbackHost(h string) bool {
	return h == "localhost" || strings.HasPrefix(h, "127.") || h == "::1"
}

// resolveBackends parses the policy's backends and checks that every
// profile names one that exists, own being the deployment's reserved one.
func (c *Common) resolveBackends(src, own string) error {
	bs, err := parseBackends(src, c.Policy.Backends)
	if err != nil {
		return err
	}
	c.Backends, c.DefaultBackend = bs, own
	known := []string{own}
	for _, b := range bs {
		known = append(known, b.Name)
	}
	for _, name := range c.Policy.Names() {
		if be := c.Policy.Profile(name).Backend; be != "" && !slices.Contains(known, be) {
			return fmt.Errorf("%s: profile %q: backend %q is not defined (defined: %s)", src, name, be, strings.Join(known, ", "))
		}
	}
	return nil
}
