package va

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/acmera/acmera/pkg/acme"
	"github.com/acmera/acmera/pkg/problem"
)

// challengeMux serves http-01 responses whose behaviour depends on the token.
// httpsBase is where the "tohttps" token redirects.
func challengeMux(httpsBase *string) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/acme-challenge/{token}", func(w http.ResponseWriter, r *http.Request) {
		tok := r.PathValue("token")
		switch {
		case tok == "wrong":
			fmt.Fprint(w, "this is not the key authorization you are looking for; move along please")
		case tok == "missing":
			http.NotFound(w, r)
		case tok == "big":
			fmt.Fprint(w, keyAuthFor(tok))
			_, _ = w.Write(bytes.Repeat([]byte(" "), 8192))
		case tok == "badport":
			http.Redirect(w, r, "http://127.0.0.1:1/.well-known/acme-challenge/badport", http.StatusFound)
		case tok == "ftp":
			http.Redirect(w, r, "ftp://web.test/x", http.StatusFound)
		case tok == "tohttps":
			http.Redirect(w, r, *httpsBase+"/final/"+tok, http.StatusMovedPermanently)
		case tok == "hang":
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
		case tok == "redir2missing":
			http.Redirect(w, r, "/hop/missing/2", http.StatusFound)
		case strings.HasPrefix(tok, "redir"):
			http.Redirect(w, r, "http://"+r.Host+"/hop/"+tok+"/"+tok[len("redir"):], http.StatusFound)
		default:
			fmt.Fprintf(w, "%s\r\n", keyAuthFor(tok))
		}
	})
	// /hop/{token}/{n}: n-1 more redirects, then the key authorization.
	mux.HandleFunc("GET /hop/{token}/{n}", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.PathValue("n"))
		if n <= 1 && r.PathValue("token") == "missing" {
			http.NotFound(w, r)
			return
		}
		if n <= 1 {
			fmt.Fprint(w, keyAuthFor(r.PathValue("token")))
			return
		}
		http.Redirect(w, r, fmt.Sprintf("/hop/%s/%d", r.PathValue("token"), n-1), http.StatusTemporaryRedirect)
	})
	mux.HandleFunc("GET /final/{token}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, keyAuthFor(r.PathValue("token")))
	})
	return mux
}

func TestHTTP01(t *testing.T) {
	d := startDNS(t, true)
	d.add(t, "web.test. 60 IN A 127.0.0.1", "alias.test. 60 IN CNAME web.test.", "v6only.test. 60 IN AAAA ::1")
	var httpsBase string
	srv := httptest.NewServer(challengeMux(&httpsBase))
	t.Cleanup(srv.Close)
	tlsSrv := httptest.NewTLSServer(challengeMux(&httpsBase))
	t.Cleanup(tlsSrv.Close)
	httpsBase = "https://web.test:" + strconv.Itoa(port(t, tlsSrv.Listener.Addr().String()))
	v := newTestValidator(t, Config{
		Resolvers:     []string{d.addr},
		HTTP01Port:    port(t, srv.Listener.Addr().String()),
		TLSALPN01Port: port(t, tlsSrv.Listener.Addr().String()),
	})
	dnsID := func(name string) acme.Identifier { return acme.Identifier{Type: acme.IdentifierDNS, Value: name} }
	tests := []struct {
		name  string
		id    acme.Identifier
		token string
		typ   problem.Type
		want  []string
	}{
		{"dns name", dnsID("web.test"), "ok", "", nil},
		{"upper-case name", dnsID("WEB.test"), "ok", "", nil},
		{"name via CNAME", dnsID("alias.test"), "ok", "", nil},
		{"ip identifier", acme.Identifier{Type: acme.IdentifierIP, Value: "127.0.0.1"}, "ok", "", nil},
		{"wrong body", dnsID("web.test"), "wrong", problem.IncorrectResponse, []string{"the response was not the key authorization"}},
		{"404", dnsID("web.test"), "missing", problem.Unauthorized, []string{"the server answered HTTP 404, want 200"}},
		{"404 after redirects", dnsID("web.test"), "redir2missing", problem.Unauthorized, []string{"HTTP 404 after 2 redirects"}},
		{"3 redirects", dnsID("web.test"), "redir3", "", nil},
		{"10 redirects", dnsID("web.test"), "redir10", "", nil},
		{"11 redirects", dnsID("web.test"), "redir11", problem.Connection, []string{"more than 10 redirects"}},
		{"redirect to port 1", dnsID("web.test"), "badport", problem.Connection, []string{"a redirect to a port other than 80, 443, "}},
		{"redirect to ftp", dnsID("web.test"), "ftp", problem.Connection, []string{"a redirect to a scheme other than http or https"}},
		{"redirect to https, self-signed", dnsID("web.test"), "tohttps", "", nil},
		{"oversized body", dnsID("web.test"), "big", problem.IncorrectResponse, []string{"larger than 4096 bytes"}},
		{"NXDOMAIN", dnsID("nx.test"), "ok", problem.DNS, []string{"nx.test", "NXDOMAIN"}},
		{"IPv6 address refused", dnsID("v6only.test"), "ok", problem.Connection, []string{"connecting to v6only.test:"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := validate(t, v, Request{Identifier: tc.id, Type: acme.ChallengeHTTP01, Token: tc.token, KeyAuthorization: keyAuthFor(tc.token)})
			wantProblem(t, p, tc.typ, tc.want...)
			if p != nil {
				wantNoneOf(t, p.Detail, "move along", "/hop/", "/final/", "ftp://", "127.0.0.1:1/", "::1", "key authorization you are")
			}
		})
	}
}

func TestHTTP01Retries(t *testing.T) {
	var httpsBase string
	hang := httptest.NewServer(challengeMux(&httpsBase))
	t.Cleanup(hang.Close)
	closed := closedPort(t)
	ip := acme.Identifier{Type: acme.IdentifierIP, Value: "127.0.0.1"}
	tests := []struct {
		name  string
		cfg   Config
		token string
		want  []string
	}{
		{"connection refused", Config{HTTP01Port: closed, Attempts: 3}, "ok",
			[]string{"GET http://127.0.0.1:" + strconv.Itoa(closed) + "/.well-known/acme-challenge/ok",
				"3 attempts: connecting to 127.0.0.1:" + strconv.Itoa(closed) + ": connection refused"}},
		{"timeout", Config{HTTP01Port: port(t, hang.Listener.Addr().String()), Attempts: 2, Timeout: 300 * time.Millisecond},
			"hang", []string{"2 attempts: timeout"}},
		{"one attempt", Config{HTTP01Port: closed, Attempts: 1}, "ok", []string{"/ok: connecting to 127.0.0.1:"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := newTestValidator(t, tc.cfg)
			p := validate(t, v, Request{Identifier: ip, Type: acme.ChallengeHTTP01, Token: tc.token, KeyAuthorization: keyAuthFor(tc.token)})
			wantProblem(t, p, problem.Connection, tc.want...)
		})
	}
}

func TestHTTP01IPv6(t *testing.T) {
	l, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	var httpsBase string
	srv := httptest.NewUnstartedServer(challengeMux(&httpsBase))
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	v := newTestValidator(t, Config{HTTP01Port: port(t, l.Addr().String())})
	p := validate(t, v, Request{
		Identifier: acme.Identifier{Type: acme.IdentifierIP, Value: "::1"},
		Type:       acme.ChallengeHTTP01, Token: "ok", KeyAuthorization: keyAuthFor("ok"),
	})
	wantProblem(t, p, "")
}

// TestHTTP01SystemResolver resolves "localhost" through the host's resolver
// (no Resolvers configured).
func TestHTTP01SystemResolver(t *testing.T) {
	if addrs, err := net.LookupHost("localhost"); err != nil || len(addrs) == 0 {
		t.Skipf("localhost does not resolve here: %v", err)
	}
	var httpsBase string
	srv := httptest.NewServer(challengeMux(&httpsBase))
	t.Cleanup(srv.Close)
	v := newTestValidator(t, Config{HTTP01Port: port(t, srv.Listener.Addr().String())})
	p := validate(t, v, Request{
		Identifier: acme.Identifier{Type: acme.IdentifierDNS, Value: "localhost"},
		Type:       acme.ChallengeHTTP01, Token: "ok", KeyAuthorization: keyAuthFor("ok"),
	})
	wantProblem(t, p, "")
}

// closedPort returns a loopback TCP port with nothing listening.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("net.Listen: %v", err)
	}
	p := port(t, l.Addr().String())
	l.Close()
	return p
}
