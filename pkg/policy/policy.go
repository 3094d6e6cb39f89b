// Package policy decides which identifiers, challenge types and certificate
// lifetimes each ACME profile allows (DESIGN.md "Profiles and policy"). A
// profile is served at /acme/{profile}/directory and maps to a CA template.
package policy

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/acmera/acmera/pkg/acme"
	"github.com/acmera/acmera/pkg/core"
)

// DefaultProfile is the profile served at /acme/acme/directory.
const DefaultProfile = "acme"

// MaxIdentifiersLimit bounds a profile's maxIdentifiers: each identifier
// is an authorization to store, validate and poll, and a certificate's
// SAN list grows with them; 100 is also what public CAs allow.
const MaxIdentifiersLimit = 100

// Defaults of a profile's rate limits (README "Rate limits").
const (
	DefaultMaxOrdersPerHour            = 3000
	DefaultMaxPendingAuthorizations    = 1000
	DefaultMaxFailedValidationsPerHour = 30
)

// Duration is a time.Duration that reads and writes as a Go duration string
// ("24h") in JSON.
type Duration time.Duration

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string like \"24h\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("time.ParseDuration(%q): %w", s, err)
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// Profile is one issuance policy.
type Profile struct {
	// Description is shown in the directory's meta.profiles.
	Description string `json:"description,omitempty"`
	// Backend names the CA backend that issues the profile's
	// certificates: one of the configuration's "backends", or the
	// deployment's default ("local" embedded, "cas" in the cloud) when
	// empty.
	Backend string `json:"backend,omitempty"`
	// CATemplate names the CA-side template (a CAS certificate template).
	CATemplate string `json:"caTemplate,omitempty"`
	// AllowAnyName allows every syntactically valid DNS name and IP
	// address. For development and the embedded default only.
	AllowAnyName bool `json:"allowAnyName,omitempty"`
	// DNSSuffixes lists the allowed DNS zones: "example.com" allows
	// example.com and every name below it.
	DNSSuffixes []string `json:"dnsSuffixes,omitempty"`
	// IPRanges lists the allowed IP prefixes in CIDR form.
	IPRanges []string `json:"ipRanges,omitempty"`
	// AllowWildcards allows "*.name" identifiers (validated by dns-01 only).
	AllowWildcards bool `json:"allowWildcards,omitempty"`
	// ClientAuth adds the clientAuth extended key usage to the certificates
	// (for mutual TLS); without it they are serverAuth only.
	ClientAuth bool `json:"clientAuth,omitempty"`
	// Challenges lists the allowed challenge types; empty means all three.
	Challenges []string `json:"challenges,omitempty"`
	// DefaultLifetime is the certificate lifetime when the order names
	// none; default 24 h.
	DefaultLifetime Duration `json:"defaultLifetime,omitempty"`
	// MaxLifetime caps the lifetime an order may ask for; default 7 days.
	MaxLifetime Duration `json:"maxLifetime,omitempty"`
	// PendingLifetime is how long a new order and its authorizations stay
	// pending; default 4 h.
	PendingLifetime Duration `json:"pendingLifetime,omitempty"`
	// AuthzLifetime is how long a valid authorization may be reused;
	// default 24 h.
	AuthzLifetime Duration `json:"authzLifetime,omitempty"`
	// RequireEAB requires an external account binding on newAccount
	// (RFC 8555 §7.3.4): the directory says so in
	// meta.externalAccountRequired, and only bound accounts may order.
	RequireEAB bool `json:"requireEAB,omitempty"`
	// MaxIdentifiers caps the identifiers of one order; default and
	// at most MaxIdentifiersLimit.
	MaxIdentifiers int `json:"maxIdentifiers,omitempty"`
	// MaxOrdersPerHour caps the new orders of one account per hour,
	// counted in the store across all instances (README "Rate limits");
	// default 3000, negative for no limit.
	MaxOrdersPerHour int `json:"maxOrdersPerHour,omitempty"`
	// CAAIdentities are this CA's issuer domain names for CAA (RFC 8659
	// §4.2, RFC 8555 §7.1.1 meta.caaIdentities). Non-empty turns CAA
	// checking on for the profile (caa.go).
	CAAIdentities []string `json:"caaIdentities,omitempty"`
	// MaxPendingAuthorizations caps the authorizations one account may
	// hold pending (and unexpired) at once; an order that would exceed it
	// is refused. Default 1000, negative for no limit.
	MaxPendingAuthorizations int `json:"maxPendingAuthorizations,omitempty"`
	// MaxFailedValidationsPerHour caps the failed validations of one
	// identifier per hour, across accounts; a new order naming an
	// identifier over it is refused. Default 30, negative for no limit.
	MaxFailedValidationsPerHour int `json:"maxFailedValidationsPerHour,omitempty"`

	ranges []netip.Prefix
}

// Policy is the set of profiles.
type Policy struct {
	Profiles map[string]*Profile `json:"profiles"`
	// Backends is the configuration's "backends" object, kept raw: the
	// CA backends are pkg/config's to parse, as they name settings
	// policy has no use for.
	Backends map[string]json.RawMessage `json:"backends,omitempty"`
}

// AllowAny returns the development policy: one default profile that allows
// any name. The embedded default and ACMERA_PROFILES_ALLOW_ANY use it.
func AllowAny() *Policy {
	p := &Policy{Profiles: map[string]*Profile{DefaultProfile: {
		Description:    "development: any DNS name or IP address",
		AllowAnyName:   true,
		AllowWildcards: true,
	}}}
	if err := p.init(); err != nil {
		panic(err) // static input
	}
	return p
}

// Parse reads a policy from JSON and checks it.
func Parse(b []byte) (*Policy, error) {
	var p Policy
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("policy: parse: %w", err)
	}
	if err := p.init(); err != nil {
		return nil, err
	}
	return &p, nil
}

var profileName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

func (p *Policy) init() error {
	if len(p.Profiles) == 0 {
		return fmt.Errorf("policy: no profiles")
	}
	if _, ok := p.Profiles[DefaultProfile]; !ok {
		return fmt.Errorf("policy: the default profile %q is missing", DefaultProfile)
	}
	for name, pr := range p.Profiles {
		if !profileName.MatchString(name) {
			return fmt.Errorf("policy: profile name %q must match %s", name, profileName)
		}
		if err := pr.init(); err != nil {
			return fmt.Errorf("policy: profile %q: %w", name, err)
		}
	}
	return nil
}

func (pr *Profile) init() error {
	setDefault := func(d *Duration, v time.Duration) {
		if *d <= 0 {
			*d = Duration(v)
		}
	}
	setDefault(&pr.DefaultLifetime, 24*time.Hour)
	setDefault(&pr.MaxLifetime, 7*24*time.Hour)
	setDefault(&pr.PendingLifetime, 4*time.Hour)
	setDefault(&pr.AuthzLifetime, 24*time.Hour)
	if pr.MaxIdentifiers <= 0 {
		pr.MaxIdentifiers = MaxIdentifiersLimit
	}
	if pr.MaxIdentifiers > MaxIdentifiersLimit {
		return fmt.Errorf("maxIdentifiers %d exceeds the limit of %d identifiers per order", pr.MaxIdentifiers, MaxIdentifiersLimit)
	}
	setLimit := func(n *int, v int) {
		if *n == 0 {
			*n = v
		}
	}
	setLimit(&pr.MaxOrdersPerHour, DefaultMaxOrdersPerHour)
	setLimit(&pr.MaxPendingAuthorizations, DefaultMaxPendingAuthorizations)
	setLimit(&pr.MaxFailedValidationsPerHour, DefaultMaxFailedValidationsPerHour)
	if err := pr.initCAA(); err != nil {
		return err
	}
	if pr.DefaultLifetime > pr.MaxLifetime {
		return fmt.Errorf("defaultLifetime %v exceeds maxLifetime %v", time.Duration(pr.DefaultLifetime), time.Duration(pr.MaxLifetime))
	}
	if len(pr.Challenges) == 0 {
		pr.Challenges = []string{acme.ChallengeHTTP01, acme.ChallengeDNS01, acme.ChallengeTLSALPN01}
	}
	for _, c := range pr.Challenges {
		switch c {
		case acme.ChallengeHTTP01, acme.ChallengeDNS01, acme.ChallengeTLSALPN01:
		default:
			return fmt.Errorf("unknown challenge type %q", c)
		}
	}
	for i, s := range pr.DNSSuffixes {
		s = LowerASCII(strings.TrimSuffix(strings.TrimPrefix(s, "."), "."))
		if err := checkDNSName(s); err != nil {
			return fmt.Errorf("dnsSuffixes[%d]: %s", i, err.Detail)
		}
		pr.DNSSuffixes[i] = s
	}
	pr.ranges = pr.ranges[:0]
	for _, s := range pr.IPRanges {
		pfx, err := netip.ParsePrefix(s)
		if err != nil {
			return fmt.Errorf("ipRanges: %w", err)
		}
		pr.ranges = append(pr.ranges, pfx.Masked())
	}
	if !pr.AllowAnyName && len(pr.DNSSuffixes) == 0 && len(pr.ranges) == 0 {
		return fmt.Errorf("allows no identifiers: set dnsSuffixes, ipRanges or allowAnyName")
	}
	return nil
}

// Profile returns the named profile, or nil.
func (p *Policy) Profile(name string) *Profile { return p.Profiles[name] }

// Names returns the profile names, sorted.
func (p *Policy) Names() []string {
	names := make([]string, 0, len(p.Profiles))
	for n := range p.Profiles {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// AllowedFor reports whether an account may use the profile (place orders
// under it). The rule: an account may use every profile the directory
// lists in meta.profiles, whichever it was created under, except a
// profile that requires external account binding (RFC 8555 §7.3.4),
// which only accounts bound with an EAB key may use. What a bound
// account may order is further narrowed by its key (Narrowing); this is
// the one place the profile rule lives.
func (pr *Profile) AllowedFor(a *core.Account) bool {
	return !pr.RequireEAB || a.EABKeyID != ""
}

// AllowsChallenge reports whether the profile offers challenge type typ.
func (pr *Profile) AllowsChallenge(typ string) bool { return slices.Contains(pr.Challenges, typ) }
