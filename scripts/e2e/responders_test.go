package e2e

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/acmera/acmera/scripts/testdns"
)

// http01Server answers http-01 challenges (RFC 8555 §8.3) on a loopback
// port: GET /.well-known/acme-challenge/{token} returns the body set for
// the token.
type http01Server struct {
	Port int
	mu   sync.Mutex
	body map[string]string
	hits map[string]int
}

func startHTTP01(t *testing.T) *http01Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("net.Listen: %v", err)
	}
	h := &http01Server{Port: ln.Addr().(*net.TCPAddr).Port, body: map[string]string{}, hits: map[string]int{}}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return h
}

func (h *http01Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	token, ok := strings.CutPrefix(r.URL.Path, "/.well-known/acme-challenge/")
	h.mu.Lock()
	body, found := h.body[token]
	if ok {
		h.hits[token]++
	}
	h.mu.Unlock()
	if !ok || !found {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	_, _ = w.Write([]byte(body))
}

// Set serves body for token.
func (h *http01Server) Set(token, body string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.body[token] = body
}

// Hits says how often the token was fetched.
func (h *http01Server) Hits(token string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.hits[token]
}

// alpnServer answers tls-alpn-01 challenges (RFC 8737 §3) on a loopback
// port: a TLS handshake offering acme-tls/1 gets the certificate set for
// its SNI name.
type alpnServer struct {
	Port  int
	mu    sync.Mutex
	certs map[string]*tls.Certificate
	hits  map[string]int
}

func startALPN(t *testing.T) *alpnServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("net.Listen: %v", err)
	}
	a := &alpnServer{Port: ln.Addr().(*net.TCPAddr).Port, certs: map[string]*tls.Certificate{}, hits: map[string]int{}}
	cfg := &tls.Config{NextProtos: []string{"acme-tls/1"}, GetCertificate: a.getCertificate, MinVersion: tls.VersionTLS12}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				tc := tls.Server(c, cfg)
				_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
				_ = tc.Handshake()
			}()
		}
	}()
	t.Cleanup(func() { _ = ln.Close() })
	return a
}

func (a *alpnServer) getCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.hits[hello.ServerName]++
	if c, ok := a.certs[hello.ServerName]; ok {
		return c, nil
	}
	return nil, nil
}

// Set serves cert for the SNI name.
func (a *alpnServer) Set(name string, cert tls.Certificate) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.certs[name] = &cert
}

// Hits says how many handshakes asked for name.
func (a *alpnServer) Hits(name string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.hits[name]
}

// env is one acmera process with everything it validates against: a test
// DNS server answering 127.0.0.1 for every name, an http-01 server and a
// tls-alpn-01 server.
type env struct {
	DNS    *testdns.Server
	HTTP01 *http01Server
	ALPN   *alpnServer
	Srv    *server
}

// newEnv starts the responders and acmera pointed at them.
func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{DNS: startDNS(t, false), HTTP01: startHTTP01(t), ALPN: startALPN(t)}
	e.Srv = startServer(t, serverConfig{HTTP01Port: e.HTTP01.Port, TLSALPN01Port: e.ALPN.Port, Resolver: e.DNS.Addr()})
	return e
}

// startDNS starts scripts/testdns on loopback, with its HTTP control API
// if control is set.
func startDNS(t *testing.T, control bool) *testdns.Server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cfg := testdns.Config{Addr: "127.0.0.1:0"}
	if control {
		cfg.ControlAddr = "127.0.0.1:0"
	}
	d, err := testdns.Start(ctx, cfg)
	if err != nil {
		cancel()
		t.Fatalf("testdns.Start: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		_ = d.Close()
	})
	return d
}
