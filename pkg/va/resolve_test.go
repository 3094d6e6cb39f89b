package va

import (
	"context"
	"errors"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestLookupAddrsAsksBothOnOneSocket: A and AAAA go to the server once
// each, over UDP, from the same client socket, and both answers are used.
func TestLookupAddrsAsksBothOnOneSocket(t *testing.T) {
	d := startDNS(t, false)
	d.add(t, "web.test. 60 IN A 127.0.0.7", "web.test. 60 IN AAAA ::1")
	r := &dnsResolver{servers: []string{d.addr}, timeout: 5 * time.Second}
	addrs, err := r.lookupAddrs(t.Context(), "web.test")
	if err != nil {
		t.Fatalf("lookupAddrs: %v", err)
	}
	if got, want := addrStrings(addrs), []string{"::1", "127.0.0.7"}; !slices.Equal(got, want) {
		t.Errorf("addresses %v, want %v (IPv6 first)", got, want)
	}
	a, aaaa := d.from("web.test.", "A", "udp"), d.from("web.test.", "AAAA", "udp")
	if len(a) != 1 || len(aaaa) != 1 {
		t.Fatalf("queries over UDP: A from %v, AAAA from %v; want one each", a, aaaa)
	}
	if a[0] != aaaa[0] {
		t.Errorf("A came from %s and AAAA from %s: two sockets", a[0], aaaa[0])
	}
	if n := d.count("web.test.", "A", "tcp") + d.count("web.test.", "AAAA", "tcp"); n != 0 {
		t.Errorf("%d queries over TCP, want none", n)
	}
}

// TestLookupAddrsPairFallsBack: what the paired first exchange cannot use
// is asked the ordinary way, with the ordinary outcome.
func TestLookupAddrsPairFallsBack(t *testing.T) {
	t.Run("truncated: TCP", func(t *testing.T) {
		d := startDNS(t, false)
		d.add(t, "big.test. 60 IN A 127.0.0.8", "big.test. 60 IN AAAA ::1")
		d.truncate["big.test."] = true
		r := &dnsResolver{servers: []string{d.addr}, timeout: 5 * time.Second}
		addrs, err := r.lookupAddrs(t.Context(), "big.test")
		if err != nil {
			t.Fatalf("lookupAddrs: %v", err)
		}
		if got, want := addrStrings(addrs), []string{"::1", "127.0.0.8"}; !slices.Equal(got, want) {
			t.Errorf("addresses %v, want %v", got, want)
		}
		for _, q := range []string{"A", "AAAA"} {
			if n := d.count("big.test.", q, "tcp"); n != 1 {
				t.Errorf("%s over TCP: %d queries, want 1", q, n)
			}
		}
	})
	t.Run("SERVFAIL: the next server", func(t *testing.T) {
		bad, good := startDNS(t, false), startDNS(t, false)
		bad.servfail["web.test."] = true
		good.add(t, "web.test. 60 IN A 127.0.0.9")
		r := &dnsResolver{servers: []string{bad.addr, good.addr}, timeout: 5 * time.Second}
		addrs, err := r.lookupAddrs(t.Context(), "web.test")
		if err != nil {
			t.Fatalf("lookupAddrs: %v", err)
		}
		if got, want := addrStrings(addrs), []string{"127.0.0.9"}; !slices.Equal(got, want) {
			t.Errorf("addresses %v, want %v", got, want)
		}
		if n := good.count("web.test.", "A", "udp"); n != 1 {
			t.Errorf("second server: %d A queries, want 1", n)
		}
	})
	t.Run("SERVFAIL everywhere: transient", func(t *testing.T) {
		bad := startDNS(t, false)
		bad.servfail["web.test."] = true
		r := &dnsResolver{servers: []string{bad.addr}, timeout: 5 * time.Second}
		_, err := r.lookupAddrs(t.Context(), "web.test")
		var de *dnsError
		if !errors.As(err, &de) || de.what != "SERVFAIL" || !de.transient {
			t.Fatalf("error %v, want a transient SERVFAIL dnsError", err)
		}
	})
	t.Run("silent server: the next one, not the silent one again", func(t *testing.T) {
		silent := startRawDNS(t, rawSilent)
		good := startDNS(t, false)
		good.add(t, "web.test. 60 IN AAAA ::1")
		r := &dnsResolver{servers: []string{silent.addr, good.addr}, timeout: 2 * time.Second}
		addrs, err := r.lookupAddrs(t.Context(), "web.test")
		if err != nil {
			t.Fatalf("lookupAddrs: %v", err)
		}
		if got, want := addrStrings(addrs), []string{"::1"}; !slices.Equal(got, want) {
			t.Errorf("addresses %v, want %v", got, want)
		}
		from := silent.sources()
		if len(from) != 2 || from[0] != from[1] {
			t.Errorf("silent server got queries from %v; want A and AAAA once, from one socket", from)
		}
	})
	t.Run("answers to other IDs are dropped", func(t *testing.T) {
		spoof := startRawDNS(t, rawSpoofFirst)
		r := &dnsResolver{servers: []string{spoof.addr}, timeout: 5 * time.Second}
		addrs, err := r.lookupAddrs(t.Context(), "web.test")
		if err != nil {
			t.Fatalf("lookupAddrs: %v", err)
		}
		if got, want := addrStrings(addrs), []string{"::1", "127.0.0.1"}; !slices.Equal(got, want) {
			t.Errorf("addresses %v, want %v (the answers with the wrong ID name 192.0.2.66 and 2001:db8::66)", got, want)
		}
	})
	t.Run("canceled: no retry", func(t *testing.T) {
		silent := startRawDNS(t, rawSilent)
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(100*time.Millisecond, cancel)
		r := &dnsResolver{servers: []string{silent.addr, silent.addr}, timeout: 20 * time.Second}
		_, err := r.lookupAddrs(ctx, "web.test")
		if err == nil {
			t.Fatal("lookupAddrs succeeded against a silent server")
		}
		if n := len(silent.sources()); n != 2 {
			t.Errorf("silent server got %d queries after the cancel, want the first pair only", n)
		}
	})
}

// rawMode is how a rawDNS server answers.
type rawMode int

const (
	rawSilent     rawMode = iota // reads queries, never answers
	rawSpoofFirst                // before each answer, one with the wrong ID naming other addresses
)

// rawDNS is a UDP DNS server written at the packet level, for answers a
// dns.Server does not send.
type rawDNS struct {
	addr string
	mu   sync.Mutex
	from []string // client addresses of the queries, in order
}

func (s *rawDNS) sources() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.from)
}

func startRawDNS(t *testing.T, mode rawMode) *rawDNS {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("net.ListenPacket: %v", err)
	}
	s := &rawDNS{addr: pc.LocalAddr().String()}
	done := make(chan struct{})
	t.Cleanup(func() {
		pc.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("raw DNS server did not stop")
		}
	})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			q := new(dns.Msg)
			if q.Unpack(buf[:n]) != nil || len(q.Question) != 1 {
				continue
			}
			s.mu.Lock()
			s.from = append(s.from, from.String())
			s.mu.Unlock()
			if mode == rawSilent {
				continue
			}
			for _, spoofed := range []bool{true, false} {
				m := new(dns.Msg)
				m.SetReply(q)
				hdr := dns.RR_Header{Name: q.Question[0].Name, Rrtype: q.Question[0].Qtype, Class: dns.ClassINET, Ttl: 60}
				v4, v6 := "127.0.0.1", "::1"
				if spoofed {
					m.Id ^= 0x5a5a
					v4, v6 = "192.0.2.66", "2001:db8::66"
				}
				switch q.Question[0].Qtype {
				case dns.TypeA:
					m.Answer = []dns.RR{&dns.A{Hdr: hdr, A: net.ParseIP(v4)}}
				case dns.TypeAAAA:
					m.Answer = []dns.RR{&dns.AAAA{Hdr: hdr, AAAA: net.ParseIP(v6)}}
				}
				b, err := m.Pack()
				if err != nil {
					continue
				}
				_, _ = pc.WriteTo(b, from)
			}
		}
	}()
	return s
}
