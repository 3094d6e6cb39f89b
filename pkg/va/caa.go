package va

import (
	"context"
	"errors"
	"net"
	"strings"

	"github.com/miekg/dns"

	"github.com/acmera/acmera/pkg/caa"
	"github.com/acmera/acmera/pkg/problem"
)

// resolvConf is where the system's DNS servers are listed when no resolver
// is configured: CAA needs a DNS client, which net.Resolver is not.
const resolvConf = "/etc/resolv.conf"

// CAA asks Validate to check CAA (RFC 8659, RFC 8657) once the challenge
// has succeeded, for a profile that turns the check on.
type CAA struct {
	// Identities are the CA's issuer domain names (the profile's
	// caaIdentities); empty means no check.
	Identities []string
	// Wildcard is set when the authorization is for "*." + the identifier:
	// issuewild applies.
	Wildcard bool
	// AccountURL is the account URL the client signs with (RFC 8657 §3);
	// empty when unknown, and then a record with accounturi never
	// authorizes.
	AccountURL string
}

// checkCAA runs the CAA check for a validated challenge, bounded by
// cfg.TotalTimeout of its own. IP identifiers have no CAA (RFC 8738 §7
// leaves them out): nothing is looked up.
func (v *Validator) checkCAA(ctx context.Context, t target, req Request) *problem.Problem {
	if req.CAA == nil || len(req.CAA.Identities) == 0 || t.isIP() {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, v.cfg.TotalTimeout)
	defer cancel()
	p := caa.Check(ctx, caaResolver{v}, caa.Request{Name: t.name, Wildcard: req.CAA.Wildcard,
		Identities: req.CAA.Identities, AccountURL: req.CAA.AccountURL, Method: req.Type})
	if p != nil {
		v.log.InfoContext(ctx, "validation refused by CAA", "challenge", req.Type, "identifier", t.name,
			"wildcard", req.CAA.Wildcard, "problem", string(p.Type), "detail", p.Detail)
	}
	return p
}

// caaResolver is caa.Resolver over the validator's resolver, with its
// attempts, per-attempt timeout and retry delay for transient failures.
type caaResolver struct{ v *Validator }

func (c caaResolver) LookupCAA(ctx context.Context, name string) ([]caa.Record, error) {
	var last error
	for n := 1; n <= c.v.cfg.Attempts; n++ {
		actx, cancel := context.WithTimeout(ctx, c.v.cfg.Timeout)
		rrs, err := c.v.resolver.lookupCAA(actx, name)
		cancel()
		var de *dnsError
		if err == nil || !errors.As(err, &de) || !de.transient {
			return rrs, err
		}
		last = err
		if n < c.v.cfg.Attempts && !sleep(ctx, c.v.cfg.RetryDelay) {
			break
		}
	}
	return nil, last
}

// lookupCAA returns the CAA records at name, CNAMEs followed. NXDOMAIN,
// at the name or at the end of its CNAME chain, is no records.
func (r *dnsResolver) lookupCAA(ctx context.Context, name string) ([]caa.Record, error) {
	rrs, err := r.query(ctx, name, dns.TypeCAA)
	var de *dnsError
	if errors.As(err, &de) {
		if strings.HasPrefix(de.what, "NXDOMAIN") {
			return nil, nil
		}
		return nil, &dnsError{qtype: "CAA", name: name, what: de.what, transient: de.transient}
	}
	if err != nil {
		return nil, err
	}
	var out []caa.Record
	for _, rr := range rrs {
		if c, ok := rr.(*dns.CAA); ok {
			out = append(out, caa.Record{Flag: c.Flag, Tag: c.Tag, Value: c.Value})
		}
	}
	return out, nil
}

// lookupCAA asks the servers the system's resolv.conf lists, read at each
// lookup so that it follows the host's configuration.
func (s *systemResolver) lookupCAA(ctx context.Context, name string) ([]caa.Record, error) {
	cc, err := dns.ClientConfigFromFile(s.conf)
	if err != nil || len(cc.Servers) == 0 {
		return nil, &dnsError{qtype: "CAA", name: name, what: "no DNS server configured (set ACMERA_RESOLVERS)"}
	}
	servers := make([]string, len(cc.Servers))
	for i, sv := range cc.Servers {
		servers[i] = net.JoinHostPort(sv, cc.Port)
	}
	d := &dnsResolver{servers: servers, timeout: s.timeout}
	return d.lookupCAA(ctx, name)
}
