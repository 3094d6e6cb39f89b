package va

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
)

// The network policy (DESIGN.md, "Security rules"): validation never
// becomes a probe of the network the validator runs in. Every address it
// dials — the first http-01 request, each redirect hop, tls-alpn-01, every
// address a name resolves to — is checked here before the dial, and the dial
// goes to the very address that was checked, so a name cannot resolve to one
// address for the check and another for the connection (DNS rebinding).
//
// The deny list is always on. Only an entry of Config.AllowNetworks reopens
// (part of) a denied range; every address outside the denied ranges is
// allowed whatever the allow list says, because validating private networks
// is the point of a private ACME server.
//
// The configured DNS resolvers are not subject to the policy: they are the
// operator's choice, not the client's, and on Google Cloud the VPC resolver
// is the metadata server itself (169.254.169.254:53).

// deniedNetworks are the ranges the validator never dials unless
// Config.AllowNetworks reopens them. IPv4-mapped IPv6 addresses
// (::ffff:a.b.c.d) are unmapped before the check, so they are covered by
// the IPv4 entries.
var deniedNetworks = []netip.Prefix{
	netip.MustParsePrefix("127.0.0.0/8"),        // loopback (RFC 1122 §3.2.1.3)
	netip.MustParsePrefix("::1/128"),            // loopback (RFC 4291 §2.5.3)
	netip.MustParsePrefix("169.254.0.0/16"),     // link-local (RFC 3927), incl. the metadata server 169.254.169.254
	netip.MustParsePrefix("fe80::/10"),          // link-local (RFC 4291 §2.5.6)
	netip.MustParsePrefix("fd20:ce::254/128"),   // Google Cloud's metadata server over IPv6
	netip.MustParsePrefix("0.0.0.0/8"),          // "this network" (RFC 1122); Linux connects 0.0.0.0 to the local host
	netip.MustParsePrefix("::/128"),             // unspecified (RFC 4291 §2.5.2)
	netip.MustParsePrefix("224.0.0.0/4"),        // multicast (RFC 5771)
	netip.MustParsePrefix("ff00::/8"),           // multicast (RFC 4291 §2.7)
	netip.MustParsePrefix("255.255.255.255/32"), // limited broadcast (RFC 919)
}

// deniedNames are host names refused before any lookup: the metadata
// server's names on Google Cloud. (Their addresses are denied too; refusing
// the names as well means they are never even resolved.)
var deniedNames = []string{"metadata.google.internal", "metadata"}

// DeniedNetworks returns the ranges the validator never dials unless
// Config.AllowNetworks reopens them.
func DeniedNetworks() []netip.Prefix {
	return append([]netip.Prefix(nil), deniedNetworks...)
}

// Reopened returns the entries of allow that reopen part of a denied range,
// for the warning an entry point logs at start. Entries that overlap no
// denied range change nothing and are not returned.
func Reopened(allow []netip.Prefix) []netip.Prefix {
	var out []netip.Prefix
	for _, a := range allow {
		for _, d := range deniedNetworks {
			if a.Overlaps(d) {
				out = append(out, a)
				break
			}
		}
	}
	return out
}

// checkPrefixes rejects allow-list entries the policy could not apply as
// written: invalid, with host bits set, or IPv4-mapped (addresses are
// unmapped before the check, so such an entry would never match).
func checkPrefixes(allow []netip.Prefix) error {
	for _, p := range allow {
		switch {
		case !p.IsValid():
			return fmt.Errorf("va.New: AllowNetworks: invalid prefix %v", p)
		case p.Addr().Is4In6():
			return fmt.Errorf("va.New: AllowNetworks: %s is IPv4-mapped; write the IPv4 range instead", p)
		case p != p.Masked():
			return fmt.Errorf("va.New: AllowNetworks: %s has host bits set (the range is %s)", p, p.Masked())
		}
	}
	return nil
}

// allowed reports whether the policy lets the validator dial ip. Scoped
// (zoned) addresses are never dialled.
func (v *Validator) allowed(ip netip.Addr) bool {
	if !ip.IsValid() || ip.Zone() != "" {
		return false
	}
	ip = ip.Unmap()
	denied := false
	for _, p := range deniedNetworks {
		if p.Contains(ip) {
			denied = true
			break
		}
	}
	if !denied {
		return true
	}
	for _, p := range v.cfg.AllowNetworks {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// deniedName reports whether host is a name refused before any lookup.
func deniedName(host string) bool {
	h := strings.TrimSuffix(strings.ToLower(host), ".")
	for _, n := range deniedNames {
		if h == n {
			return true
		}
	}
	return false
}

// refusal is a dial the network policy refused. Its fields are for the
// log; the client is told only the class of refusal.
type refusal struct {
	host   string       // the host as named: a name or an address literal
	denied []netip.Addr // the denied addresses; none when the name itself is denied
}

func (e *refusal) Error() string {
	return "refused by the validation network policy: " + e.host
}

// seen is the detail for a client that named host itself (the
// identifier): it may be told which kind of refusal it was.
func (e *refusal) seen() string {
	switch {
	case len(e.denied) == 0:
		return e.host + " is a name the validator may not reach"
	case e.isLiteral():
		return e.host + " is an address the validator may not reach"
	}
	return e.host + " resolves only to addresses the validator may not reach"
}

func (e *refusal) isLiteral() bool {
	_, err := netip.ParseAddr(e.host)
	return err == nil
}

// attrs are the log fields of a refusal.
func (e *refusal) attrs() []slog.Attr {
	return []slog.Attr{slog.String("host", e.host), slog.Any("denied", addrStrings(e.denied)), slog.Bool("refused", true)}
}

// checkHost applies the policy to a host that needs no lookup: an address
// literal, or a denied name. It returns nil for any other name; those are
// checked address by address once resolved (resolveChecked).
func (v *Validator) checkHost(host string) *refusal {
	if ip, err := netip.ParseAddr(host); err == nil {
		if !v.allowed(ip) {
			return &refusal{host: host, denied: []netip.Addr{ip}}
		}
		return nil
	}
	if deniedName(host) {
		return &refusal{host: host}
	}
	return nil
}

// resolveChecked resolves host once (unless it is an address literal) and
// returns only the addresses the policy allows, unmapped, ready to dial.
// When none is allowed the error is a *refusal; lookup errors are *dnsError.
func (v *Validator) resolveChecked(ctx context.Context, host string) ([]netip.Addr, error) {
	if r := v.checkHost(host); r != nil {
		return nil, r
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{ip.Unmap()}, nil
	}
	addrs, err := v.resolver.lookupAddrs(ctx, host)
	if err != nil {
		return nil, err
	}
	var ok, denied []netip.Addr
	for _, a := range addrs {
		if v.allowed(a) {
			ok = append(ok, a.Unmap())
		} else {
			denied = append(denied, a)
		}
	}
	if len(ok) == 0 {
		return nil, &refusal{host: host, denied: denied}
	}
	if len(denied) > 0 {
		v.log.WarnContext(ctx, "validation skips addresses the network policy denies",
			"host", host, "denied", addrStrings(denied), "allowed", addrStrings(ok))
	}
	return ok, nil
}

func addrStrings(addrs []netip.Addr) []string {
	out := make([]string, len(addrs))
	for i, a := range addrs {
		out[i] = a.String()
	}
	return out
}
