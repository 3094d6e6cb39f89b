package testdns

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func start(t *testing.T, cfg Config) *Server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s, err := Start(ctx, cfg)
	if err != nil {
		cancel()
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// query asks s one question over net ("udp" or "tcp").
func query(t *testing.T, s *Server, netw, name string, qtype uint16) *dns.Msg {
	t.Helper()
	c := &dns.Client{Net: netw, Timeout: 3 * time.Second}
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	r, _, err := c.Exchange(m, s.Addr())
	if err != nil {
		t.Fatalf("Exchange %s %s over %s: %v", name, dns.TypeToString[qtype], netw, err)
	}
	if r.Rcode != dns.RcodeSuccess || !r.Authoritative {
		t.Fatalf("%s %s: rcode %s, aa %v; want NOERROR, aa", name, dns.TypeToString[qtype], dns.RcodeToString[r.Rcode], r.Authoritative)
	}
	return r
}

// render lists an answer section as "type value" strings.
func render(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		switch v := rr.(type) {
		case *dns.A:
			out = append(out, "A "+v.A.String())
		case *dns.TXT:
			out = append(out, "TXT "+strings.Join(v.Txt, ""))
		case *dns.CNAME:
			out = append(out, "CNAME "+v.Target)
		default:
			out = append(out, rr.String())
		}
	}
	return out
}

func TestAnswers(t *testing.T) {
	s := start(t, Config{})
	s.SetTXT("_acme-challenge.a.test", "one")
	s.AddTXT("_ACME-challenge.A.test.", "two")
	s.AddTXT("_acme-challenge.a.test", "two") // duplicate: kept once
	s.SetCNAME("_acme-challenge.alias.test", "_acme-challenge.a.test")
	s.SetCNAME("www.alias.test", "host.a.test")
	s.SetTXT("gone.test", "x")
	s.ClearTXT("gone.test")
	tests := []struct {
		name  string
		qtype uint16
		want  []string
	}{
		{"anything.example.test", dns.TypeA, []string{"A 127.0.0.1"}},
		{"anything.example.test", dns.TypeAAAA, nil},
		{"anything.example.test", dns.TypeCAA, nil},
		{"_acme-challenge.a.test", dns.TypeTXT, []string{"TXT one", "TXT two"}},
		{"_acme-challenge.alias.test", dns.TypeTXT, []string{"CNAME _acme-challenge.a.test.", "TXT one", "TXT two"}},
		{"_acme-challenge.alias.test", dns.TypeCNAME, []string{"CNAME _acme-challenge.a.test."}},
		{"www.alias.test", dns.TypeA, []string{"CNAME host.a.test.", "A 127.0.0.1"}},
		{"gone.test", dns.TypeTXT, nil},
		{"nothing.test", dns.TypeTXT, nil},
	}
	for _, netw := range []string{"udp", "tcp"} {
		for _, tt := range tests {
			t.Run(netw+"/"+tt.name+"/"+dns.TypeToString[tt.qtype], func(t *testing.T) {
				got := render(query(t, s, netw, tt.name, tt.qtype).Answer)
				if !slices.Equal(got, tt.want) {
					t.Errorf("answer = %q, want %q", got, tt.want)
				}
			})
		}
	}
}

func TestConfiguredA(t *testing.T) {
	s := start(t, Config{A: net.IPv4(127, 0, 0, 9)})
	got := render(query(t, s, "udp", "x.test", dns.TypeA).Answer)
	if want := []string{"A 127.0.0.9"}; !slices.Equal(got, want) {
		t.Errorf("answer = %q, want %q", got, want)
	}
}

func TestCNAMELoopIsBounded(t *testing.T) {
	s := start(t, Config{})
	s.SetCNAME("a.loop.test", "b.loop.test")
	s.SetCNAME("b.loop.test", "a.loop.test")
	got := query(t, s, "udp", "a.loop.test", dns.TypeA).Answer
	if len(got) != maxCNAMEChain+1 {
		t.Errorf("%d records for a CNAME loop, want %d (chain bound + A)", len(got), maxCNAMEChain+1)
	}
}

func TestGoResolver(t *testing.T) {
	s := start(t, Config{})
	s.SetTXT("_acme-challenge.r.test", "value-for-go")
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, s.Addr())
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	txt, err := r.LookupTXT(ctx, "_acme-challenge.r.test")
	if err != nil || !slices.Equal(txt, []string{"value-for-go"}) {
		t.Errorf("LookupTXT = %q, %v; want [value-for-go]", txt, err)
	}
	ips, err := r.LookupIPAddr(ctx, "host.r.test")
	if err != nil || len(ips) != 1 || !ips[0].IP.Equal(net.IPv4(127, 0, 0, 1)) {
		t.Errorf("LookupIPAddr = %v, %v; want [127.0.0.1]", ips, err)
	}
}

func TestControlAPI(t *testing.T) {
	s := start(t, Config{ControlAddr: "127.0.0.1:0"})
	base := s.ControlURL()
	if !strings.HasPrefix(base, "http://127.0.0.1:") {
		t.Fatalf("ControlURL = %q", base)
	}
	hc := &http.Client{Timeout: 5 * time.Second}
	do := func(method, path string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		res, err := hc.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, strings.TrimSpace(string(b))
	}
	name := url.QueryEscape("_acme-challenge.c.test")
	steps := []struct {
		method, path string
		status       int
		body         string // checked when set
		txt          []string
	}{
		{"GET", "/healthz", 200, "ok", nil},
		{"POST", "/txt?name=" + name + "&value=v1", 204, "", []string{"v1"}},
		{"POST", "/txt?name=" + name + "&value=v2", 204, "", []string{"v1", "v2"}},
		{"GET", "/txt?name=" + name, 200, `["v1","v2"]`, []string{"v1", "v2"}},
		{"DELETE", "/txt?name=" + name + "&value=v1", 204, "", []string{"v2"}},
		{"DELETE", "/txt?name=" + name, 204, "", nil},
		{"GET", "/txt?name=" + name, 200, `[]`, nil},
		{"POST", "/txt?name=" + name, 400, "", nil},
		{"POST", "/cname?name=" + name + "&target=_acme-challenge.d.test", 204, "", nil},
		{"DELETE", "/cname?name=" + name, 204, "", nil},
		{"PUT", "/txt?name=" + name + "&value=v3", 405, "", nil},
	}
	for i, st := range steps {
		code, body := do(st.method, st.path)
		if code != st.status || (st.body != "" && body != st.body) {
			t.Errorf("step %d %s %s = %d %q, want %d %q", i, st.method, st.path, code, body, st.status, st.body)
		}
		if got := s.TXT("_acme-challenge.c.test"); !slices.Equal(got, st.txt) {
			t.Errorf("step %d: TXT = %q, want %q", i, got, st.txt)
		}
	}
	s.SetCNAME("_acme-challenge.c.test", "") // DELETE /cname removed it already
	do("POST", "/cname?name="+name+"&target=_acme-challenge.d.test")
	s.SetTXT("_acme-challenge.d.test", "via-cname")
	got := render(query(t, s, "udp", "_acme-challenge.c.test", dns.TypeTXT).Answer)
	if want := []string{"CNAME _acme-challenge.d.test.", "TXT via-cname"}; !slices.Equal(got, want) {
		t.Errorf("after POST /cname: %q, want %q", got, want)
	}
}

func TestFixedPortAndClose(t *testing.T) {
	first := start(t, Config{})
	_, port, _ := net.SplitHostPort(first.Addr())
	if _, err := Start(context.Background(), Config{Addr: "127.0.0.1:" + port}); err == nil {
		t.Fatalf("Start on busy port %s succeeded", port)
	}
	if err := first.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	c := &dns.Client{Net: "tcp", Timeout: time.Second}
	m := new(dns.Msg)
	m.SetQuestion("x.test.", dns.TypeA)
	if _, _, err := c.Exchange(m, first.Addr()); err == nil {
		t.Errorf("query after Close succeeded")
	}
}

func TestCAA(t *testing.T) {
	s := start(t, Config{})
	s.AddCAA("Corp.test", CAA{Tag: "issue", Value: "ca.corp.test"})
	s.AddCAA("corp.test.", CAA{Flag: 128, Tag: "tbs", Value: "x"})
	s.AddCAA("corp.test", CAA{Tag: "issue", Value: "ca.corp.test"}) // duplicate: kept once
	s.AddCAA("gone.test", CAA{Tag: "issue", Value: ";"})
	s.ClearCAA("gone.test")
	s.SetCNAME("alias.test", "corp.test")
	for _, tt := range []struct {
		name string
		want []string
	}{
		{"corp.test", []string{`corp.test.	1	IN	CAA	0 issue "ca.corp.test"`, `corp.test.	1	IN	CAA	128 tbs "x"`}},
		{"alias.test", []string{"CNAME corp.test.", `corp.test.	1	IN	CAA	0 issue "ca.corp.test"`, `corp.test.	1	IN	CAA	128 tbs "x"`}},
		{"gone.test", nil},
		{"sub.corp.test", nil}, // no climbing: that is the CAA processor's job
	} {
		for _, netw := range []string{"udp", "tcp"} {
			got := render(query(t, s, netw, tt.name, dns.TypeCAA).Answer)
			if !slices.Equal(got, tt.want) {
				t.Errorf("%s CAA over %s = %q, want %q", tt.name, netw, got, tt.want)
			}
		}
	}
}

func TestControlAPICAA(t *testing.T) {
	s := start(t, Config{ControlAddr: "127.0.0.1:0"})
	hc := &http.Client{Timeout: 5 * time.Second}
	do := func(method, path string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, s.ControlURL()+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		res, err := hc.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, strings.TrimSpace(string(b))
	}
	steps := []struct {
		method, path string
		status       int
		body         string // checked when set
		n            int    // CAA records of c.test after the step
	}{
		{"POST", "/caa?name=c.test&tag=issue&value=" + url.QueryEscape("ca.test; accounturi=https://x/acct/1"), 204, "", 1},
		{"POST", "/caa?name=c.test&tag=issuewild&value=" + url.QueryEscape(";") + "&flag=128", 204, "", 2},
		{"POST", "/caa?name=c.test&tag=issue&value=", 204, "", 3}, // an empty value is a value
		{"GET", "/caa?name=c.test", 200, `[{"flag":0,"tag":"issue","value":"ca.test; accounturi=https://x/acct/1"},{"flag":128,"tag":"issuewild","value":";"},{"flag":0,"tag":"issue","value":""}]`, 3},
		{"POST", "/caa?name=c.test&tag=issue", 400, "", 3},
		{"POST", "/caa?name=c.test&value=x", 400, "", 3},
		{"POST", "/caa?name=c.test&tag=issue&value=x&flag=256", 400, "", 3},
		{"DELETE", "/caa?name=c.test", 204, "", 0},
		{"GET", "/caa?name=c.test", 200, `[]`, 0},
		{"DELETE", "/caa", 400, "", 0},
	}
	for i, st := range steps {
		code, body := do(st.method, st.path)
		if code != st.status || (st.body != "" && body != st.body) {
			t.Errorf("step %d %s %s = %d %q, want %d %q", i, st.method, st.path, code, body, st.status, st.body)
		}
		if got := len(s.CAARecords("c.test")); got != st.n {
			t.Errorf("step %d: %d CAA records, want %d", i, got, st.n)
		}
	}
}
