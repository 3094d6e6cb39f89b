package policy

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/acmera/acmera/pkg/acme"
	"github.com/acmera/acmera/pkg/core"
	"github.com/acmera/acmera/pkg/problem"
)

// Narrowing is what an external account binding key (RFC 8555 §7.3.4)
// adds to a profile for the accounts it bound: the identifiers they may
// order, the challenge types offered, and the longest lifetime. The zero
// and the nil Narrowing narrow nothing.
type Narrowing struct {
	// KID names the key, for problem details.
	KID string
	// MaxLifetime caps the certificate lifetime; zero for no cap.
	MaxLifetime time.Duration

	any        bool // no allow list: whatever the profile allows
	names      []string
	zones      []string
	ranges     []netip.Prefix
	challenges []string
}

// ParseAllow checks and normalizes an EAB key's allow list, as stored in
// core.EABKey.Allow. Each entry is one of
//   - an exact DNS name ("host.example"): that identifier only;
//   - "*.zone": every name below zone, wildcard identifiers below it
//     included ("*.zone" itself, "*.x.zone"), but not zone itself;
//   - an IP address or a CIDR range: IP identifiers inside it.
func ParseAllow(entries []string) ([]string, error) {
	out := make([]string, 0, len(entries))
	for _, e := range entries {
		e = strings.TrimSpace(e)
		if pfx, err := netip.ParsePrefix(e); err == nil {
			out = append(out, pfx.Masked().String())
			continue
		}
		if addr, err := netip.ParseAddr(e); err == nil {
			out = append(out, addr.String())
			continue
		}
		name := LowerASCII(strings.TrimSuffix(e, "."))
		zone, wild := strings.CutPrefix(name, "*.")
		if p := checkDNSName(zone); p != nil {
			return nil, fmt.Errorf("allow entry %q is neither a DNS name, \"*.zone\", an IP address nor a CIDR range: %s", e, p.Detail)
		}
		if wild {
			out = append(out, "*."+zone)
		} else {
			out = append(out, zone)
		}
	}
	return out, nil
}

// ParseChallenges checks an EAB key's challenge types.
func ParseChallenges(types []string) ([]string, error) {
	for _, c := range types {
		switch c {
		case acme.ChallengeHTTP01, acme.ChallengeDNS01, acme.ChallengeTLSALPN01:
		default:
			return nil, fmt.Errorf("unknown challenge type %q: use http-01, dns-01 or tls-alpn-01", c)
		}
	}
	return slices.Clone(types), nil
}

// NewNarrowing returns the narrowing of a stored key.
func NewNarrowing(k *core.EABKey) (*Narrowing, error) {
	allow, err := ParseAllow(k.Allow)
	if err != nil {
		return nil, fmt.Errorf("EAB key %q: %w", k.KID, err)
	}
	chs, err := ParseChallenges(k.Challenges)
	if err != nil {
		return nil, fmt.Errorf("EAB key %q: %w", k.KID, err)
	}
	n := &Narrowing{KID: k.KID, MaxLifetime: k.MaxLifetime, any: len(allow) == 0, challenges: chs}
	for _, e := range allow {
		if zone, ok := strings.CutPrefix(e, "*."); ok {
			n.zones = append(n.zones, zone)
			continue
		}
		if pfx, err := netip.ParsePrefix(e); err == nil {
			n.ranges = append(n.ranges, pfx)
			continue
		}
		if addr, err := netip.ParseAddr(e); err == nil {
			n.ranges = append(n.ranges, netip.PrefixFrom(addr, addr.BitLen()))
			continue
		}
		n.names = append(n.names, e)
	}
	return n, nil
}

// CheckIdentifier reports whether the key allows a normalized identifier
// (wildcards as "*.name"): nil if so, else rejectedIdentifier naming it.
func (n *Narrowing) CheckIdentifier(id acme.Identifier) *problem.Problem {
	if n == nil || n.any {
		return nil
	}
	switch id.Type {
	case acme.IdentifierDNS:
		if slices.Contains(n.names, id.Value) {
			return nil
		}
		for _, z := range n.zones {
			if strings.HasSuffix(id.Value, "."+z) {
				return nil
			}
		}
		return problem.New(problem.RejectedIdentifier, "%q is not allowed by EAB key %q", id.Value, n.KID).WithIdentifier(id)
	case acme.IdentifierIP:
		if addr, err := netip.ParseAddr(id.Value); err == nil {
			for _, r := range n.ranges {
				if r.Contains(addr) {
					return nil
				}
			}
		}
		return problem.New(problem.RejectedIdentifier, "IP address %s is not allowed by EAB key %q", id.Value, n.KID).WithIdentifier(id)
	}
	return problem.New(problem.RejectedIdentifier, "identifier type %q is not allowed by EAB key %q", id.Type, n.KID).WithIdentifier(id)
}

// Challenges returns the challenge types of offered that the key allows.
func (n *Narrowing) Challenges(offered []string) []string {
	if n == nil || len(n.challenges) == 0 {
		return offered
	}
	var out []string
	for _, c := range offered {
		if slices.Contains(n.challenges, c) {
			out = append(out, c)
		}
	}
	return out
}

// CheckLifetime refuses a requested lifetime above the key's maximum:
// malformed, naming the limit.
func (n *Narrowing) CheckLifetime(d time.Duration) *problem.Problem {
	if n == nil || n.MaxLifetime <= 0 || d <= n.MaxLifetime {
		return nil
	}
	return problem.Malformedf("the requested lifetime %v exceeds the maximum of %v set by EAB key %q",
		d.Round(time.Second), n.MaxLifetime, n.KID)
}
