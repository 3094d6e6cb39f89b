package policy

import (
	"net/netip"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"

	"github.com/acmera/acmera/pkg/acme"
	"github.com/acmera/acmera/pkg/problem"
)

// Normalize checks an identifier's syntax and returns its canonical form:
// DNS names lower-cased, IP addresses in RFC 5952 / dotted-quad form
// (RFC 8738 §3). The problem names the identifier and what is wrong.
func Normalize(id acme.Identifier) (acme.Identifier, *problem.Problem) {
	switch id.Type {
	case acme.IdentifierDNS:
		if !utf8.ValidString(id.Value) { // before ToLower, which would hide it
			return id, problem.Malformedf("DNS name %q is not valid UTF-8", id.Value).WithIdentifier(id)
		}
		// ASCII only: strings.ToLower would map some non-ASCII letters to
		// ASCII ones (U+212A KELVIN SIGN to "k", U+0130 to "i"), accepting
		// a name other than the one requested. IDNs come as A-labels.
		name := LowerASCII(id.Value)
		base := strings.TrimPrefix(name, "*.")
		if p := checkDNSName(base); p != nil {
			return id, p.WithIdentifier(id)
		}
		if len(name) > 253 {
			// The wildcard label counts (RFC 1035 §2.3.4 bounds the whole name).
			return id, problem.New(problem.RejectedIdentifier, "DNS name is longer than 253 characters").WithIdentifier(id)
		}
		if _, err := netip.ParseAddr(base); err == nil {
			return id, problem.New(problem.Malformed, "%q is an IP address; use an identifier of type \"ip\"", id.Value).WithIdentifier(id)
		}
		return acme.Identifier{Type: acme.IdentifierDNS, Value: name}, nil
	case acme.IdentifierIP:
		addr, err := netip.ParseAddr(id.Value)
		if err != nil || addr.Zone() != "" {
			return id, problem.New(problem.Malformed, "%q is not an IP address", id.Value).WithIdentifier(id)
		}
		return acme.Identifier{Type: acme.IdentifierIP, Value: addr.Unmap().String()}, nil
	default:
		return id, problem.New(problem.UnsupportedIdentifier, "identifier type %q is not supported; use \"dns\" or \"ip\"", id.Type).WithIdentifier(id)
	}
}

// LowerASCII lower-cases the ASCII letters of s and nothing else:
// strings.ToLower would map some non-ASCII letters to ASCII ones.
func LowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// checkDNSName checks RFC 1035 / RFC 5890 LDH syntax of a lower-case name
// without a wildcard label.
func checkDNSName(name string) *problem.Problem {
	if name == "" {
		return problem.Malformedf("empty DNS name")
	}
	if len(name) > 253 {
		return problem.New(problem.RejectedIdentifier, "DNS name is longer than 253 characters")
	}
	if strings.HasSuffix(name, ".") {
		return problem.Malformedf("DNS name %q ends in a dot", name)
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 {
			return problem.Malformedf("DNS name %q has an empty label or one longer than 63 characters", name)
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return problem.Malformedf("DNS name %q has a label that starts or ends with a hyphen", name)
		}
		if p := checkLabelChars(name, label); p != nil {
			return p
		}
		if p := checkALabel(name, label); p != nil {
			return p
		}
	}
	return nil
}

// checkALabel refuses an "xn--" label that is not a valid A-label: one
// that does not decode as Punycode to a valid IDNA2008 U-label, or that
// is not how that U-label encodes (RFC 5890 §2.3.2.1, RFC 5891 §5.4).
func checkALabel(name, label string) *problem.Problem {
	if !strings.HasPrefix(label, "xn--") {
		return nil
	}
	u, err := idna.Lookup.ToUnicode(label)
	if err == nil && u != "" && u != label {
		var back string
		back, err = idna.Lookup.ToASCII(u)
		if err == nil && back == label {
			return nil
		}
	}
	return problem.Malformedf("DNS name %q has a label %q that is not a valid internationalized A-label (Punycode)", name, label)
}

// checkLabelChars refuses any character but a-z, 0-9 and '-' in a label
// of name, quoting it as a character (a rune, not its first UTF-8 byte). A
// non-ASCII one means an internationalized name sent as a U-label: ACME
// takes the A-label (RFC 8555 §7.1.4, RFC 5891).
func checkLabelChars(name, label string) *problem.Problem {
	for _, r := range label {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-':
		case r >= utf8.RuneSelf:
			return problem.Malformedf("DNS name %q contains the non-ASCII character %q; send an internationalized name in its A-label (\"xn--\") form", name, r)
		default:
			return problem.Malformedf("DNS name %q contains the invalid character %q", name, r)
		}
	}
	return nil
}

// CheckIdentifier reports whether the profile may issue for a normalized
// identifier: rejectedIdentifier when policy forbids it.
func (pr *Profile) CheckIdentifier(id acme.Identifier) *problem.Problem {
	switch id.Type {
	case acme.IdentifierDNS:
		base, wildcard := strings.CutPrefix(id.Value, "*.")
		if wildcard && !pr.AllowWildcards {
			return problem.New(problem.RejectedIdentifier, "wildcard names are not allowed by this profile: %q", id.Value).WithIdentifier(id)
		}
		if wildcard && !pr.AllowsChallenge(acme.ChallengeDNS01) {
			return problem.New(problem.RejectedIdentifier, "wildcard %q needs dns-01, which this profile does not offer", id.Value).WithIdentifier(id)
		}
		if pr.AllowAnyName {
			return nil
		}
		for _, s := range pr.DNSSuffixes {
			if base == s || strings.HasSuffix(base, "."+s) {
				return nil
			}
		}
		return problem.New(problem.RejectedIdentifier, "%q is not in a DNS zone this profile allows", id.Value).WithIdentifier(id)
	case acme.IdentifierIP:
		if !pr.AllowsChallenge(acme.ChallengeHTTP01) && !pr.AllowsChallenge(acme.ChallengeTLSALPN01) {
			return problem.New(problem.RejectedIdentifier, "IP identifiers need http-01 or tls-alpn-01, which this profile does not offer").WithIdentifier(id)
		}
		if pr.AllowAnyName {
			return nil
		}
		addr, err := netip.ParseAddr(id.Value)
		if err == nil {
			for _, r := range pr.ranges {
				if r.Contains(addr) {
					return nil
				}
			}
		}
		return problem.New(problem.RejectedIdentifier, "IP address %s is not in a range this profile allows", id.Value).WithIdentifier(id)
	}
	return problem.New(problem.UnsupportedIdentifier, "identifier type %q is not supported", id.Type).WithIdentifier(id)
}

// ChallengesFor returns the challenge types to offer for an identifier:
// wildcards get dns-01 only (RFC 8555 §7.1.3); IP addresses never get dns-01
// (RFC 8738 §7).
func (pr *Profile) ChallengesFor(id acme.Identifier, wildcard bool) []string {
	var out []string
	for _, c := range pr.Challenges {
		switch {
		case wildcard && c != acme.ChallengeDNS01:
		case id.Type == acme.IdentifierIP && c == acme.ChallengeDNS01:
		default:
			out = append(out, c)
		}
	}
	return out
}
