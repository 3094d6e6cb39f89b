package e2eutil

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// challengePrefix is where http-01 responses live (RFC 8555 §8.3).
const challengePrefix = "/.well-known/acme-challenge/"

// HTTP01 answers http-01 challenges (RFC 8555 §8.3): GET
// /.well-known/acme-challenge/{token} returns the body set for the token.
// It counts the fetches of each token.
type HTTP01 struct {
	Port int // the TCP port it listens on
	srv  *http.Server
	mu   sync.Mutex
	body map[string]string // token -> key authorization
	hits map[string]int
}

// StartHTTP01 listens on addr (host:port; port 0 picks one).
func StartHTTP01(addr string) (*HTTP01, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("net.Listen %s: %w", addr, err)
	}
	h := &HTTP01{Port: ln.Addr().(*net.TCPAddr).Port, body: map[string]string{}, hits: map[string]int{}}
	h.srv = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute}
	go func() { _ = h.srv.Serve(ln) }()
	return h, nil
}

// ServeHTTP answers GET /.well-known/acme-challenge/{token}.
func (h *HTTP01) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	token, ok := strings.CutPrefix(r.URL.Path, challengePrefix)
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
func (h *HTTP01) Set(token, body string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.body[token] = body
}

// Remove stops serving token and forgets its count.
func (h *HTTP01) Remove(token string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.body, token)
	delete(h.hits, token)
}

// Hits says how often token was fetched.
func (h *HTTP01) Hits(token string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.hits[token]
}

// Close stops serving and frees the port.
func (h *HTTP01) Close() { _ = h.srv.Close() }

// ALPN answers tls-alpn-01 challenges (RFC 8737 §3): a TLS handshake
// offering acme-tls/1 gets the certificate set for its SNI name. It counts
// the handshakes for each name.
type ALPN struct {
	Port  int // the TCP port it listens on
	ln    net.Listener
	mu    sync.Mutex
	certs map[string]*tls.Certificate
	hits  map[string]int
}

// StartALPN listens on addr (host:port; port 0 picks one).
func StartALPN(addr string) (*ALPN, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("net.Listen %s: %w", addr, err)
	}
	a := &ALPN{Port: ln.Addr().(*net.TCPAddr).Port, ln: ln, certs: map[string]*tls.Certificate{}, hits: map[string]int{}}
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
	return a, nil
}

func (a *ALPN) getCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.hits[hello.ServerName]++
	return a.certs[hello.ServerName], nil
}

// Set serves cert for the SNI name.
func (a *ALPN) Set(name string, cert tls.Certificate) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.certs[name] = &cert
}

// Hits says how many handshakes asked for name.
func (a *ALPN) Hits(name string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.hits[name]
}

// Close stops accepting connections and frees the port.
func (a *ALPN) Close() { _ = a.ln.Close() }
