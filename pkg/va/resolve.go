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

// newQuery is the query for qtype at name, with a fresh random ID.
func newQuery(name string, qtype uint16) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.RecursionDesired = true
	m.SetEdns0(udpSize, false)
	return m
}

// udpSize is the EDNS0 UDP payload size advertised and read.
const udpSize = 1232

// perServer is the timeout of one server's answer.
func (r *dnsResolver) perServer() time.Duration {
	return r.timeout / time.Duration(len(r.servers))
}

// exchange sends one query to the servers in turn until one answers with
// NOERROR or NXDOMAIN. A truncated UDP answer is retried over TCP.
func (r *dnsResolver) exchange(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
	last := &dnsError{qtype: dns.TypeToString[qtype], name: name, what: "no resolver answered", transient: true}
	return r.exchangeFrom(ctx, name, qtype, r.servers, last)
}

// exchangeFrom is exchange over servers, failing with last if none of
// them answers.
func (r *dnsResolver) exchangeFrom(ctx context.Context, name string, qtype uint16, servers []string, last *dnsError) (*dns.Msg, error) {
	m := newQuery(name, qtype)
	per := r.perServer()
	for _, server := range servers {
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

// exchangePair asks the first server for name's A and AAAA records over
// one UDP socket with both queries in flight at once: one socket, connect
// and close instead of two, and one round trip. For each type it returns
// an answer that exchange would have accepted from that server (NOERROR
// or NXDOMAIN, not truncated), or finishes that type the ordinary way:
// from the other servers after a network error or timeout, from every
// server (TCP included) after any other answer.
func (r *dnsResolver) exchangePair(ctx context.Context, name string) (a, aaaa *dns.Msg, errA, errAAAA error) {
	qs := [2]*dns.Msg{newQuery(name, dns.TypeA), newQuery(name, dns.TypeAAAA)}
	got, netErr := r.pairOne(ctx, qs, r.servers[0])
	var out [2]*dns.Msg
	var errs [2]error
	for i, q := range qs {
		qtype := q.Question[0].Qtype
		resp := got[i]
		switch {
		case resp != nil && !resp.Truncated && (resp.Rcode == dns.RcodeSuccess || resp.Rcode == dns.RcodeNameError):
			out[i] = resp
		case resp == nil && netErr != nil:
			kind, transient := netKind(netErr)
			last := &dnsError{qtype: dns.TypeToString[qtype], name: name, what: kind, transient: transient}
			if ctx.Err() != nil {
				errs[i] = last
				continue
			}
			out[i], errs[i] = r.exchangeFrom(ctx, name, qtype, r.servers[1:], last)
		default:
			out[i], errs[i] = r.exchange(ctx, name, qtype)
		}
	}
	return out[0], out[1], errs[0], errs[1]
}

// pairOne sends both queries to server over one UDP socket and reads
// until each has its answer (matched by ID and question) or the server's
// timeout ends; answers to neither are dropped. netErr is the error that
// ended the exchange with an answer missing.
func (r *dnsResolver) pairOne(ctx context.Context, qs [2]*dns.Msg, server string) (got [2]*dns.Msg, netErr error) {
	timeout := r.perServer()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c := &dns.Client{Net: "udp", Timeout: timeout}
	co, err := c.DialContext(ctx, server)
	if err != nil {
		return got, err
	}
	defer co.Close()
	co.UDPSize = udpSize
	deadline, _ := ctx.Deadline()
	if err := co.SetDeadline(deadline); err != nil {
		return got, err
	}
	stop := context.AfterFunc(ctx, func() { _ = co.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	for _, q := range qs {
		if err := co.WriteMsg(q); err != nil {
			return got, err
		}
	}
	// Each read either fills an answer or drops a stray datagram; the
	// deadline bounds the loop, and so does this count.
	for range 16 {
		resp, err := co.ReadMsg()
		if err != nil && resp != nil {
			continue // a datagram that does not unpack: not an answer
		}
		if err != nil {
			if ctx.Err() != nil {
				err = ctx.Err()
			}
			return got, err
		}
		for i, q := range qs {
			if got[i] == nil && answers(resp, q) {
				got[i] = resp
			}
		}
		if got[0] != nil && got[1] != nil {
			return got, nil
		}
	}
	return got, errors.New("too many stray answers")
}

// answers reports whether resp answers q: the same ID and question.
func answers(resp, q *dns.Msg) bool {
	if resp.Id != q.Id || !resp.Response || len(resp.Question) != 1 {
		return false
	}
	a, b := resp.Question[0], q.Question[0]
	return a.Qtype == b.Qtype && a.Qclass == b.Qclass && strings.EqualFold(a.Name, b.Name)
}

// query asks for qtype at name and follows CNAMEs, both within one answer
// (as recursive resolvers send them) and by asking again for the target.
// A chain longer than maxCNAMEHops, or one that comes back to a name it has
// already passed, fails. Details name the name asked about, never a CNAME
// target.
func (r *dnsResolver) query(ctx context.Context, name string, qtype uint16) ([]dns.RR, error) {
	return r.queryFrom(ctx, name, qtype, nil, nil)
}

// queryFrom is query with the answer for name already asked (first, or
// its error firstErr) when either is set.
func (r *dnsResolver) queryFrom(ctx context.Context, name string, qtype uint16, first *dns.Msg, firstErr error) ([]dns.RR, error) {
	cur := dns.Fqdn(name)
	chain := cnameChain{seen: map[string]bool{strings.ToLower(cur): true}}
	for {
		resp, err := first, firstErr
		if resp == nil && err == nil {
			resp, err = r.exchange(ctx, cur, qtype)
		}
		first, firstErr = nil, nil
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
	a, aaaa, errA, errAAAA := r.exchangePair(ctx, name)
	v4, err4 := r.queryFrom(ctx, name, dns.TypeA, a, errA)
	var de *dnsError
	if errors.As(err4, &de) && strings.HasPrefix(de.what, "NXDOMAIN") {
		return nil, err4
	}
	v6, err6 := r.queryFrom(ctx, name, dns.TypeAAAA, aaaa, errAAAA)
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
