package va

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/acmera/acmera/pkg/caa"
)

// maxCNAMEHops bounds how many CNAMEs a lookup follows (RFC 8555 §8.4 says
// to follow CNAMEs; a loop must not hang the validator).
const maxCNAMEHops = 8

// resolver looks up the records validation needs. Errors are *dnsError.
type resolver interface {
	// lookupTXT returns the TXT strings at name (each record's character
	// strings concatenated), following CNAMEs. No records is not an error.
	lookupTXT(ctx context.Context, name string) ([]string, error)
	// lookupAddrs returns name's IPv6 then IPv4 addresses, following CNAMEs.
	// No addresses is an error.
	lookupAddrs(ctx context.Context, name string) ([]netip.Addr, error)
	// lookupCAA returns the CAA records at name, following CNAMEs. No
	// records, NXDOMAIN included, is not an error (RFC 8659 §3).
	lookupCAA(ctx context.Context, name string) ([]caa.Record, error)
}

// dnsError is a failed lookup, in terms safe to show to a client.
type dnsError struct {
	qtype     string // "TXT", "A", "AAAA", "CAA"
	name      string // the name asked about
	what      string // "NXDOMAIN", "SERVFAIL", "timeout", ...
	transient bool
}

func (e *dnsError) Error() string {
	return "DNS " + e.qtype + " lookup for " + e.name + ": " + e.what
}

// dnsResolver queries the configured servers with github.com/miekg/dns, so
// private and split-horizon DNS answer validation lookups.
type dnsResolver struct {
	servers []string
	timeout time.Duration
}

// exchange sends one query to the servers in turn until one answers with
// NOERROR or NXDOMAIN. A truncated UDP answer is retried over TCP.
func (r *dnsResolver) exchange(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.RecursionDesired = true
	m.SetEdns0(1232, false)
	per := r.timeout / time.Duration(len(r.servers))
	last := &dnsError{qtype: dns.TypeToString[qtype], name: name, what: "no resolver answered", transient: true}
	for _, server := range r.servers {
		resp, err := r.exchangeOne(ctx, m, server, per)
		if err != nil {
			kind, transient := netKind(err)
			last = &dnsError{qtype: last.qtype, name: name, what: kind, transient: transient}
			if ctx.Err() != nil {
				break
			}
			continue
		}
		switch resp.Rcode {
		case dns.RcodeSuccess, dns.RcodeNameError:
			return resp, nil
		case dns.RcodeServerFailure:
			last = &dnsError{qtype: last.qtype, name: name, what: "SERVFAIL", transient: true}
		default:
			last = &dnsError{qtype: last.qtype, name: name, what: rcodeName(resp.Rcode)}
		}
	}
	return nil, last
}

// exchangeOne queries one server over UDP, then TCP if the answer was truncated.
func (r *dnsResolver) exchangeOne(ctx context.Context, m *dns.Msg, server string, timeout time.Duration) (*dns.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c := &dns.Client{Net: "udp", Timeout: timeout}
	resp, _, err := c.ExchangeContext(ctx, m, server)
	if err == nil && resp.Truncated {
		c.Net = "tcp"
		resp, _, err = c.ExchangeContext(ctx, m, server)
	}
	return resp, err
}

// query asks for qtype at name and follows CNAMEs, both within one answer
// (as recursive resolvers send them) and by asking again for the target.
// A chain longer than maxCNAMEHops, or one that comes back to a name it has
// already passed, fails. Details name the name asked about, never a CNAME
// target.
func (r *dnsResolver) query(ctx context.Context, name string, qtype uint16) ([]dns.RR, error) {
	cur := dns.Fqdn(name)
	chain := cnameChain{seen: map[string]bool{strings.ToLower(cur): true}}
	for {
		resp, err := r.exchange(ctx, cur, qtype)
		if err != nil {
			return nil, err
		}
		rrs, final, what := chain.follow(resp.Answer, cur, qtype)
		if what != "" {
			return nil, &dnsError{qtype: dns.TypeToString[qtype], name: name, what: what}
		}
		if resp.Rcode == dns.RcodeNameError {
			what := "NXDOMAIN"
			if chain.hops > 0 {
				what += " at the end of a CNAME chain"
			}
			return nil, &dnsError{qtype: dns.TypeToString[qtype], name: name, what: what}
		}
		if len(rrs) > 0 || final == cur {
			return rrs, nil
		}
		cur = final
	}
}

// cnameChain is the state of one lookup's CNAME chain across answers.
type cnameChain struct {
	seen map[string]bool // lower-case FQDNs passed, the query name included
	hops int
}

// follow walks CNAMEs in answer starting at name and returns the qtype
// records at the end of the chain and the name the chain ends at, or, as
// what, why the chain is refused: a loop or too many hops.
func (c *cnameChain) follow(answer []dns.RR, name string, qtype uint16) (rrs []dns.RR, final, what string) {
	for {
		var next string
		rrs, next = match(answer, name, qtype)
		if len(rrs) > 0 || next == "" {
			return rrs, name, ""
		}
		key := strings.ToLower(dns.Fqdn(next))
		if c.seen[key] {
			return nil, name, "CNAME loop"
		}
		c.seen[key] = true
		if c.hops++; c.hops > maxCNAMEHops {
			return nil, name, fmt.Sprintf("CNAME chain longer than %d", maxCNAMEHops)
		}
		name = next
	}
}

// match returns the qtype records for name in answer, and the target of
// name's CNAME when it has no such records.
func match(answer []dns.RR, name string, qtype uint16) ([]dns.RR, string) {
	var (
		rrs  []dns.RR
		next string
	)
	for _, rr := range answer {
		h := rr.Header()
		if !strings.EqualFold(h.Name, name) {
			continue
		}
		if h.Rrtype == qtype {
			rrs = append(rrs, rr)
		} else if c, ok := rr.(*dns.CNAME); ok && next == "" {
			next = c.Target
		}
	}
	return rrs, next
}

func (r *dnsResolver) lookupTXT(ctx context.Context, name string) ([]string, error) {
	rrs, err := r.query(ctx, name, dns.TypeTXT)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, rr := range rrs {
		if t, ok := rr.(*dns.TXT); ok {
			out = append(out, strings.Join(t.Txt, ""))
		}
	}
	return out, nil
}

func (r *dnsResolver) lookupAddrs(ctx context.Context, name string) ([]netip.Addr, error) {
	v4, err4 := r.query(ctx, name, dns.TypeA)
	var de *dnsError
	if errors.As(err4, &de) && strings.HasPrefix(de.what, "NXDOMAIN") {
		return nil, err4
	}
	v6, err6 := r.query(ctx, name, dns.TypeAAAA)
	var addrs []netip.Addr
	for _, rr := range append(v6, v4...) {
		switch rr := rr.(type) {
		case *dns.A:
			if a, ok := netip.AddrFromSlice(rr.A.To4()); ok {
				addrs = append(addrs, a)
			}
		case *dns.AAAA:
			if a, ok := netip.AddrFromSlice(rr.AAAA.To16()); ok {
				addrs = append(addrs, a)
			}
		}
	}
	switch {
	case len(addrs) > 0:
		return addrs, nil
	case err4 != nil:
		return nil, err4
	case err6 != nil:
		return nil, err6
	}
	return nil, &dnsError{qtype: "A/AAAA", name: name, what: "no A or AAAA records"}
}

// rcodeName is the mnemonic of a DNS response code.
func rcodeName(rcode int) string {
	if s, ok := dns.RcodeToString[rcode]; ok {
		return s
	}
	return "rcode " + strconv.Itoa(rcode)
}

// systemResolver uses the host's resolver when no servers are configured.
type systemResolver struct {
	r       *net.Resolver
	conf    string        // resolv.conf, for CAA lookups
	timeout time.Duration // per CAA lookup
}

func (s *systemResolver) lookupTXT(ctx context.Context, name string) ([]string, error) {
	txt, err := s.r.LookupTXT(ctx, name)
	var de *net.DNSError
	if errors.As(err, &de) && de.IsNotFound {
		return nil, nil
	}
	if err != nil {
		return nil, sysDNSError("TXT", name, err)
	}
	return txt, nil
}

func (s *systemResolver) lookupAddrs(ctx context.Context, name string) ([]netip.Addr, error) {
	ips, err := s.r.LookupNetIP(ctx, "ip", name)
	if err != nil {
		return nil, sysDNSError("A/AAAA", name, err)
	}
	out := make([]netip.Addr, 0, len(ips))
	for _, ip := range ips {
		out = append(out, ip.Unmap())
	}
	if len(out) == 0 {
		return nil, &dnsError{qtype: "A/AAAA", name: name, what: "no A or AAAA records"}
	}
	return out, nil
}

// sysDNSError maps the system resolver's errors to kinds.
func sysDNSError(qtype, name string, err error) *dnsError {
	e := &dnsError{qtype: qtype, name: name, what: "lookup failed"}
	var de *net.DNSError
	if errors.As(err, &de) {
		switch {
		case de.IsNotFound:
			e.what = "NXDOMAIN"
		case de.IsTimeout:
			e.what, e.transient = "timeout", true
		case de.IsTemporary:
			e.what, e.transient = "SERVFAIL", true
		}
		return e
	}
	e.what, e.transient = netKind(err)
	return e
}
