package va

import (
	"context"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// testDNS is a real DNS server on 127.0.0.1 (UDP and TCP on the same port)
// answering from an in-memory zone.
type testDNS struct {
	addr    string
	flatten bool // follow CNAMEs inside one answer, like a recursive resolver

	mu       sync.Mutex
	records  map[string][]dns.RR // by lower-case FQDN
	servfail map[string]bool     // names answered with SERVFAIL
	truncate map[string]bool     // names answered truncated over UDP
	rebind   map[string][]string // names whose n-th A query gets the n-th address (the last one from then on)
	queries  map[string]int      // "name/TYPE/proto" -> count
	sources  map[string][]string // "name/TYPE/proto" -> the clients' addresses, in order
}

// startDNS starts a test DNS server; it is shut down when the test ends.
func startDNS(t *testing.T, flatten bool) *testDNS {
	t.Helper()
	d := &testDNS{
		flatten:  flatten,
		records:  map[string][]dns.RR{},
		servfail: map[string]bool{},
		truncate: map[string]bool{},
		rebind:   map[string][]string{},
		queries:  map[string]int{},
		sources:  map[string][]string{},
	}
	pc, l := listenSamePort(t)
	d.addr = pc.LocalAddr().String()
	var wg sync.WaitGroup
	t.Cleanup(func() { // runs after the shutdowns registered below
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("test DNS server goroutines did not exit within 10s")
		}
	})
	for _, srv := range []*dns.Server{{PacketConn: pc, Handler: d}, {Listener: l, Handler: d}} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = srv.ActivateAndServe()
		}()
		select {
		case <-started:
		case <-time.After(5 * time.Second):
			t.Fatal("test DNS server did not start")
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = srv.ShutdownContext(ctx)
			// Closing the sockets too makes ActivateAndServe return even
			// if the shutdown above timed out under load.
			if srv.PacketConn != nil {
				_ = srv.PacketConn.Close()
			}
			if srv.Listener != nil {
				_ = srv.Listener.Close()
			}
		})
	}
	return d
}

// listenSamePort opens UDP and TCP listeners on one loopback port.
func listenSamePort(t *testing.T) (net.PacketConn, net.Listener) {
	t.Helper()
	for range 20 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("net.ListenPacket: %v", err)
		}
		l, err := net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			return pc, l
		}
		pc.Close()
	}
	t.Fatal("no loopback port free for both UDP and TCP")
	return nil, nil
}

// add puts records, in zone-file syntax, into the zone.
func (d *testDNS) add(t *testing.T, lines ...string) {
	t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, line := range lines {
		rr, err := dns.NewRR(line)
		if err != nil {
			t.Fatalf("dns.NewRR(%q): %v", line, err)
		}
		name := strings.ToLower(rr.Header().Name)
		d.records[name] = append(d.records[name], rr)
	}
}

// count is how many queries for name (FQDN) and type arrived over proto.
func (d *testDNS) count(name, qtype, proto string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.queries[strings.ToLower(name)+"/"+qtype+"/"+proto]
}

// from is the client addresses the queries for name (FQDN) and type came
// from over proto, in order.
func (d *testDNS) from(name, qtype, proto string) []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.sources[strings.ToLower(name)+"/"+qtype+"/"+proto])
}

// ServeDNS answers from the zone.
func (d *testDNS) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	q := r.Question[0]
	name := strings.ToLower(q.Name)
	proto := "udp"
	if _, ok := w.RemoteAddr().(*net.TCPAddr); ok {
		proto = "tcp"
	}
	d.mu.Lock()
	key := name + "/" + dns.TypeToString[q.Qtype] + "/" + proto
	d.queries[key]++
	d.sources[key] = append(d.sources[key], w.RemoteAddr().String())
	switch addrs := d.rebind[name]; {
	case len(addrs) > 0:
		if q.Qtype == dns.TypeA {
			a := addrs[min(d.queries[key], len(addrs))-1]
			m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 0}, A: net.ParseIP(a)}}
		}
	case d.servfail[name]:
		m.Rcode = dns.RcodeServerFailure
	case d.truncate[name] && proto == "udp":
		m.Truncated = true
	default:
		m.Answer, m.Rcode = d.answer(name, q.Qtype)
	}
	d.mu.Unlock()
	if proto == "udp" {
		size := dns.MinMsgSize
		if opt := r.IsEdns0(); opt != nil {
			size = int(opt.UDPSize())
		}
		m.Truncate(size) // sets TC when the answer does not fit, as servers do
	}
	_ = w.WriteMsg(m)
}

// answer builds the answer section for name and qtype; d.mu is held.
func (d *testDNS) answer(name string, qtype uint16) ([]dns.RR, int) {
	var out []dns.RR
	seen := map[string]bool{}
	for range 20 {
		if seen[name] { // a CNAME loop: stop, as a recursive resolver would
			return out, dns.RcodeSuccess
		}
		seen[name] = true
		rrs, ok := d.records[name]
		if !ok {
			return out, dns.RcodeNameError
		}
		var cname *dns.CNAME
		found := false
		for _, rr := range rrs {
			if rr.Header().Rrtype == qtype {
				out, found = append(out, rr), true
			} else if c, ok := rr.(*dns.CNAME); ok {
				cname = c
			}
		}
		if found || cname == nil || qtype == dns.TypeCNAME {
			return out, dns.RcodeSuccess
		}
		out = append(out, cname)
		if !d.flatten {
			return out, dns.RcodeSuccess
		}
		name = strings.ToLower(cname.Target)
	}
	return out, dns.RcodeSuccess
}

// port is the numeric port of a "host:port" address.
func port(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("net.SplitHostPort(%q): %v", addr, err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatalf("strconv.Atoi(%q): %v", p, err)
	}
	return n
}
