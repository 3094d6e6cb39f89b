// Package testdns is a tiny DNS server for end-to-end tests on loopback. It
// is authoritative for every name: A queries get one fixed address
// (127.0.0.1 unless configured), AAAA queries an empty NOERROR answer, TXT
// and CAA (RFC 8659) queries the records held in memory, and configured
// CNAMEs are answered and followed. Records are changed from Go (SetTXT,
// AddTXT, ClearTXT, SetCNAME, AddCAA, ClearCAA) or over a small HTTP control
// API (see Handler), so ACME clients' hook scripts can publish dns-01
// records (RFC 8555 §8.4) with curl.
package testdns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// maxCNAMEChain bounds how many CNAMEs one answer follows.
const maxCNAMEChain = 8

// ttl is the TTL of every answer: short, so resolvers never serve stale
// challenge records.
const ttl = 1

// Config says where the server listens and what it answers.
type Config struct {
	// Addr is the DNS listen address, UDP and TCP on the same port
	// (default 127.0.0.1:0, a random free port).
	Addr string
	// ControlAddr is the HTTP control API's listen address; empty
	// disables the API (Go tests use the methods instead).
	ControlAddr string
	// A is the address every A query is answered with (default 127.0.0.1).
	A net.IP
}

// Server is a running test DNS server. Its methods are safe for concurrent
// use.
type Server struct {
	a       net.IP
	udp     *dns.Server
	tcp     *dns.Server
	control *http.Server
	ctlAddr string

	closeOnce sync.Once
	closeErr  error

	mu    sync.Mutex
	txt   map[string][]string
	cname map[string]string
	caa   map[string][]CAA
}

// CAA is one CAA record's data (RFC 8659 §4.1): flags, property tag and
// property value, the value as it is in the record (no quotes).
type CAA struct {
	Flag  uint8  `json:"flag"`
	Tag   string `json:"tag"`
	Value string `json:"value"`
}

// Start listens on cfg.Addr (UDP and TCP) and, if set, cfg.ControlAddr,
// and serves until Close or until ctx is done.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	s := &Server{a: cfg.A.To4(), txt: map[string][]string{}, cname: map[string]string{},
		caa: map[string][]CAA{}}
	if s.a == nil {
		s.a = net.IPv4(127, 0, 0, 1).To4()
	}
	addr := cfg.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	pc, ln, err := listenBoth(addr)
	if err != nil {
		return nil, err
	}
	h := dns.HandlerFunc(s.serveDNS)
	s.udp = &dns.Server{PacketConn: pc, Handler: h}
	s.tcp = &dns.Server{Listener: ln, Handler: h}
	if err := startDNS(s.udp, s.tcp); err != nil {
		_ = pc.Close()
		_ = ln.Close()
		return nil, err
	}
	if cfg.ControlAddr != "" {
		cl, err := net.Listen("tcp", cfg.ControlAddr)
		if err != nil {
			_ = s.Close()
			return nil, fmt.Errorf("net.Listen control %s: %w", cfg.ControlAddr, err)
		}
		s.ctlAddr = cl.Addr().String()
		s.control = &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = s.control.Serve(cl) }()
	}
	go func() {
		<-ctx.Done()
		_ = s.Close()
	}()
	return s, nil
}

// listenBoth opens UDP and TCP on the same port. With port 0 the kernel
// picks the UDP port; if that port is taken for TCP it tries again, a
// bounded number of times.
func listenBoth(addr string) (net.PacketConn, net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, fmt.Errorf("net.SplitHostPort %q: %w", addr, err)
	}
	var lastErr error
	for range 20 {
		pc, err := net.ListenPacket("udp", net.JoinHostPort(host, port))
		if err != nil {
			return nil, nil, fmt.Errorf("net.ListenPacket udp %s: %w", addr, err)
		}
		_, got, _ := net.SplitHostPort(pc.LocalAddr().String())
		ln, err := net.Listen("tcp", net.JoinHostPort(host, got))
		if err == nil {
			return pc, ln, nil
		}
		_ = pc.Close()
		lastErr = err
		if port != "0" {
			break
		}
	}
	return nil, nil, fmt.Errorf("net.Listen tcp %s: %w", addr, lastErr)
}

// startDNS starts both servers and waits, bounded, until they serve.
func startDNS(servers ...*dns.Server) error {
	started := make(chan struct{}, len(servers))
	errc := make(chan error, len(servers))
	for _, srv := range servers {
		srv.NotifyStartedFunc = func() { started <- struct{}{} }
		go func() { errc <- srv.ActivateAndServe() }()
	}
	timeout := time.After(5 * time.Second)
	for range servers {
		select {
		case <-started:
		case err := <-errc:
			return fmt.Errorf("dns.Server.ActivateAndServe: %w", err)
		case <-timeout:
			return errors.New("dns.Server.ActivateAndServe: not started after 5s")
		}
	}
	return nil
}

// Addr is the DNS address (host:port), the same for UDP and TCP; pass it
// as a resolver to the server under test.
func (s *Server) Addr() string { return s.udp.PacketConn.LocalAddr().String() }

// ControlURL is the base URL of the HTTP control API, or "" if disabled.
func (s *Server) ControlURL() string {
	if s.ctlAddr == "" {
		return ""
	}
	return "http://" + s.ctlAddr
}

// Close stops the DNS listeners and the control API. Calling it again
// returns the first call's result.
func (s *Server) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.close() })
	return s.closeErr
}

func (s *Server) close() error {
	var errs []error
	for _, srv := range []*dns.Server{s.udp, s.tcp} {
		if err := srv.Shutdown(); err != nil {
			errs = append(errs, fmt.Errorf("dns.Server.Shutdown: %w", err))
		}
	}
	if s.control != nil {
		if err := s.control.Close(); err != nil {
			errs = append(errs, fmt.Errorf("http.Server.Close: %w", err))
		}
	}
	return errors.Join(errs...)
}

// key normalises a name: lower case, fully qualified.
func key(name string) string { return dns.Fqdn(strings.ToLower(strings.TrimSpace(name))) }

// SetTXT replaces the TXT values of name (no values clears it).
func (s *Server) SetTXT(name string, values ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(values) == 0 {
		delete(s.txt, key(name))
		return
	}
	s.txt[key(name)] = slices.Clone(values)
}

// AddTXT adds one TXT value to name, keeping the others (a wildcard and
// its apex publish two values at the same name).
func (s *Server) AddTXT(name, value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := key(name)
	if !slices.Contains(s.txt[k], value) {
		s.txt[k] = append(s.txt[k], value)
	}
}

// RemoveTXT removes one TXT value from name.
func (s *Server) RemoveTXT(name, value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := key(name)
	s.txt[k] = slices.DeleteFunc(s.txt[k], func(v string) bool { return v == value })
	if len(s.txt[k]) == 0 {
		delete(s.txt, k)
	}
}

// ClearTXT removes every TXT value of name.
func (s *Server) ClearTXT(name string) { s.SetTXT(name) }

// TXT returns the TXT values of name.
func (s *Server) TXT(name string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.txt[key(name)])
}

// SetCNAME makes name an alias of target; an empty target removes it.
func (s *Server) SetCNAME(name, target string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if target == "" {
		delete(s.cname, key(name))
		return
	}
	s.cname[key(name)] = key(target)
}

// AddCAA adds one CAA record to name, keeping the others (a duplicate is
// kept once).
func (s *Server) AddCAA(name string, rec CAA) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := key(name)
	if !slices.Contains(s.caa[k], rec) {
		s.caa[k] = append(s.caa[k], rec)
	}
}

// ClearCAA removes every CAA record of name.
func (s *Server) ClearCAA(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.caa, key(name))
}

// CAARecords returns the CAA records of name.
func (s *Server) CAARecords(name string) []CAA {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.caa[key(name)])
}

// serveDNS answers one query (RFC 1035 §4.1): authoritative, NOERROR,
// following configured CNAMEs up to maxCNAMEChain links.
func (s *Server) serveDNS(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	if len(req.Question) != 1 {
		m.Rcode = dns.RcodeFormatError
		_ = w.WriteMsg(m)
		return
	}
	q := req.Question[0]
	m.Answer = s.answer(q.Name, q.Qtype)
	_ = w.WriteMsg(m)
}

// answer builds the answer section for one question.
func (s *Server) answer(qname string, qtype uint16) []dns.RR {
	s.mu.Lock()
	defer s.mu.Unlock()
	var rrs []dns.RR
	name := key(qname)
	for range maxCNAMEChain {
		target, ok := s.cname[name]
		if !ok {
			break
		}
		rrs = append(rrs, &dns.CNAME{Hdr: hdr(name, dns.TypeCNAME), Target: target})
		if qtype == dns.TypeCNAME {
			return rrs
		}
		name = target
	}
	switch qtype {
	case dns.TypeA:
		rrs = append(rrs, &dns.A{Hdr: hdr(name, dns.TypeA), A: s.a})
	case dns.TypeTXT:
		for _, v := range s.txt[name] {
			rrs = append(rrs, &dns.TXT{Hdr: hdr(name, dns.TypeTXT), Txt: []string{v}})
		}
	case dns.TypeCAA:
		for _, c := range s.caa[name] {
			rrs = append(rrs, &dns.CAA{Hdr: hdr(name, dns.TypeCAA), Flag: c.Flag, Tag: c.Tag, Value: c.Value})
		}
	}
	return rrs
}

func hdr(name string, t uint16) dns.RR_Header {
	return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: ttl}
}
