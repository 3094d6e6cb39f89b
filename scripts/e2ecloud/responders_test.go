package e2ecloud

import (
	"crypto/tls"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// http01Responder answers http-01 challenges (RFC 8555 §8.3) on a
// loopback port and counts the fetches of each token.
type http01Responder struct {
	Port int
	srv  *http.Server
	mu   sync.Mutex
	body map[string]string
	hits map[string]int
}

func startHTTP01(t *testing.T) *http01Responder {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	mustf(t, err, "net.Listen")
	h := &http01Responder{Port: ln.Addr().(*net.TCPAddr).Port, body: map[string]string{}, hits: map[string]int{}}
	h.srv = &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = h.srv.Serve(ln) }()
	t.Cleanup(h.Close)
	return h
}

func (h *http01Responder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
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
func (h *http01Responder) Set(token, body string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.body[token] = body
}

// Hits says how often token was fetched.
func (h *http01Responder) Hits(token string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.hits[token]
}

// Close stops serving and frees the port (for certbot --standalone).
func (h *http01Responder) Close() { _ = h.srv.Close() }

// alpnResponder answers tls-alpn-01 challenges (RFC 8737 §3) on a loopback
// port with the certificate set for the SNI name.
type alpnResponder struct {
	Port  int
	mu    sync.Mutex
	certs map[string]*tls.Certificate
	hits  map[string]int
}

func startALPN(t *testing.T) *alpnResponder {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	mustf(t, err, "net.Listen")
	a := &alpnResponder{Port: ln.Addr().(*net.TCPAddr).Port, certs: map[string]*tls.Certificate{}, hits: map[string]int{}}
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

func (a *alpnResponder) getCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.hits[hello.ServerName]++
	return a.certs[hello.ServerName], nil
}

// Set serves cert for the SNI name.
func (a *alpnResponder) Set(name string, cert tls.Certificate) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.certs[name] = &cert
}

// Hits says how many handshakes asked for name.
func (a *alpnResponder) Hits(name string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.hits[name]
}
