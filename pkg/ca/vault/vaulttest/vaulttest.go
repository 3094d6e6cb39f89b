// Package vaulttest runs a real HashiCorp Vault dev server on loopback for
// tests, with a PKI set up as a company would: a root mount, an
// intermediate mount that signs, a role limited to the test domain, and
// JWT auth that trusts a key the test holds (standing in for Google's ID
// tokens). The binary comes from scripts/vault-build.sh: VAULT_BIN names it.
package vaulttest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Names of what Start sets up.
const (
	RootToken = "acmera-test-root"
	Mount     = "pki_int"
	Role      = "acmera"
	JWTRole   = "acmera"
	Audience  = "vault.acmera.test"
	Subject   = "108234567890123456789" // a service account's unique ID
	Domain    = "vault.test"            // the role allows it and its subdomains
)

// Server is a running Vault dev server.
type Server struct {
	Addr  string // http://127.0.0.1:PORT
	key   *rsa.PrivateKey
	t     testing.TB
	hc    *http.Client
	Roots *x509.CertPool // the PKI root
	Root  *x509.Certificate
}

// Binary returns the Vault binary named by VAULT_BIN; without it the test
// is skipped, or fails when CI=true (CI must run it).
func Binary(t testing.TB) string {
	t.Helper()
	bin := os.Getenv("VAULT_BIN")
	if bin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("VAULT_BIN is not set: scripts/test.sh builds Vault with scripts/vault-build.sh and sets it")
		}
		t.Skip("VAULT_BIN is not set (build Vault with scripts/vault-build.sh)")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("VAULT_BIN: %v", err)
	}
	return bin
}

// Start runs Vault and sets up the PKI and JWT auth; Vault stops when the
// test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := Binary(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	dir := t.TempDir()
	logf, err := os.Create(filepath.Join(dir, "vault.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "server", "-dev", "-dev-listen-address="+addr, "-dev-root-token-id="+RootToken, "-dev-no-store-token")
	cmd.Env = append(os.Environ(), "HOME="+dir, "VAULT_ADDR=http://"+addr)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start vault: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("vault log (last 4 KiB):\n%s", tail(b, 4096))
		}
	})
	s := &Server{Addr: "http://" + addr, t: t, hc: &http.Client{Timeout: 30 * time.Second}}
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := s.hc.Get(s.Addr + "/v1/sys/health")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("vault did not become ready on %s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if s.key, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	s.setup()
	return s
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// API calls Vault as root and decodes data into out (if not nil).
func (s *Server) API(method, path string, body any, out any) {
	s.t.Helper()
	if err := s.call(method, path, RootToken, body, out); err != nil {
		s.t.Fatal(err)
	}
}

func (s *Server) call(method, path, tok string, body any, out any) error {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequestWithContext(context.Background(), method, s.Addr+"/v1/"+path, rd)
	if tok != "" {
		req.Header.Set("X-Vault-Token", tok)
	}
	res, err := s.hc.Do(req)
	if err != nil {
		return fmt.Errorf("vault %s %s: %w", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode/100 != 2 {
		return fmt.Errorf("vault %s %s: HTTP %d: %s", method, path, res.StatusCode, b)
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("vault %s %s: %w (%s)", method, path, err, b)
		}
	}
	return nil
}

// setup makes the root and intermediate, the role, the policy and JWT auth.
func (s *Server) setup() {
	s.API("POST", "sys/mounts/pki", map[string]any{"type": "pki", "config": map[string]any{"max_lease_ttl": "87600h"}}, nil)
	var root struct {
		Data struct{ Certificate string } `json:"data"`
	}
	s.API("POST", "pki/root/generate/internal", map[string]any{"common_name": "acmera test Vault root", "ttl": "87600h", "key_type": "ec", "key_bits": 256}, &root)
	b, _ := pem.Decode([]byte(root.Data.Certificate))
	if b == nil {
		s.t.Fatalf("vault root: no PEM in %q", root.Data.Certificate)
	}
	var err error
	if s.Root, err = x509.ParseCertificate(b.Bytes); err != nil {
		s.t.Fatal(err)
	}
	s.Roots = x509.NewCertPool()
	s.Roots.AddCert(s.Root)

	s.API("POST", "sys/mounts/"+Mount, map[string]any{"type": "pki", "config": map[string]any{"max_lease_ttl": "8760h"}}, nil)
	var csr struct {
		Data struct{ CSR string } `json:"data"`
	}
	s.API("POST", Mount+"/intermediate/generate/internal", map[string]any{"common_name": "acmera test Vault intermediate", "key_type": "ec", "key_bits": 256}, &csr)
	var signed struct {
		Data struct{ Certificate string } `json:"data"`
	}
	s.API("POST", "pki/root/sign-intermediate", map[string]any{"csr": csr.Data.CSR, "format": "pem_bundle", "ttl": "8760h"}, &signed)
	s.API("POST", Mount+"/intermediate/set-signed", map[string]any{"certificate": signed.Data.Certificate}, nil)
	s.API("POST", Mount+"/roles/"+Role, map[string]any{
		"allowed_domains": []string{Domain}, "allow_subdomains": true, "allow_bare_domains": true, "allow_ip_sans": true,
		"key_type": "any", "max_ttl": "48h", "require_cn": false, "server_flag": true, "client_flag": false,
		"use_csr_common_name": false, "use_csr_sans": false,
	}, nil)
	s.API("PUT", "sys/policies/acl/acmera", map[string]any{"policy": fmt.Sprintf(`
path "%[1]s/sign/%[2]s" { capabilities = ["create", "update"] }
path "%[1]s/revoke" { capabilities = ["create", "update"] }
path "%[1]s/certs" { capabilities = ["list"] }
path "%[1]s/cert/*" { capabilities = ["read"] }
path "%[1]s/roles/%[2]s" { capabilities = ["read"] }
`, Mount, Role)}, nil)
	pub, err := x509.MarshalPKIXPublicKey(&s.key.PublicKey)
	if err != nil {
		s.t.Fatal(err)
	}
	s.API("POST", "sys/auth/jwt", map[string]any{"type": "jwt"}, nil)
	s.API("POST", "auth/jwt/config", map[string]any{"jwt_validation_pubkeys": []string{string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}))}}, nil)
	s.API("POST", "auth/jwt/role/"+JWTRole, map[string]any{
		"role_type": "jwt", "bound_audiences": []string{Audience}, "user_claim": "sub", "bound_subject": Subject,
		"bound_claims":   map[string]any{"email": "acmera@demo.iam.gserviceaccount.com"},
		"token_policies": []string{"acmera"}, "token_ttl": "60s", "token_max_ttl": "120s",
	}, nil)
}

// JWT returns an ID token like the metadata server's, for aud and sub,
// signed by the key Vault's JWT auth trusts.
func (s *Server) JWT(aud, sub string) string {
	s.t.Helper()
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: s.key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		s.t.Fatal(err)
	}
	now := time.Now()
	tok, err := jwt.Signed(sig).Claims(jwt.Claims{
		Issuer: "https://accounts.google.com", Subject: sub, Audience: jwt.Audience{aud},
		IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Hour)),
	}).Claims(map[string]any{"email": "acmera@demo.iam.gserviceaccount.com", "email_verified": true}).Serialize()
	if err != nil {
		s.t.Fatal(err)
	}
	return tok
}

// CRL returns the mount's CRL (GET /v1/<mount>/crl, DER), parsed.
func (s *Server) CRL() *x509.RevocationList {
	s.t.Helper()
	res, err := s.hc.Get(s.Addr + "/v1/" + Mount + "/crl")
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		s.t.Fatalf("GET crl: HTTP %d: %s", res.StatusCode, b)
	}
	crl, err := x509.ParseRevocationList(b)
	if err != nil {
		s.t.Fatalf("parse Vault's CRL: %v", err)
	}
	return crl
}

// StoredSerials lists the serials the mount stored.
func (s *Server) StoredSerials() []string {
	s.t.Helper()
	var out struct {
		Data struct{ Keys []string } `json:"data"`
	}
	if err := s.call("LIST", Mount+"/certs", RootToken, nil, &out); err != nil && !strings.Contains(err.Error(), "404") {
		s.t.Fatal(err)
	}
	return out.Data.Keys
}

// Token creates a token with the policy acmera needs (no root), valid an
// hour, as an operator would for token auth.
func (s *Server) Token() string {
	s.t.Helper()
	var out struct {
		Auth struct {
			ClientToken string `json:"client_token"`
		} `json:"auth"`
	}
	s.API("POST", "auth/token/create", map[string]any{"policies": []string{"acmera"}, "ttl": "1h", "no_default_policy": true}, &out)
	if out.Auth.ClientToken == "" {
		s.t.Fatal("vault: auth/token/create gave no token")
	}
	return out.Auth.ClientToken
}

// MetadataServer serves the metadata server's identity endpoint on
// loopback, as Cloud Run's does: a token for the audience asked, for
// Subject, signed by the key Vault's JWT auth trusts. It returns the base
// URL.
func (s *Server) MetadataServer() string {
	s.t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/computeMetadata/v1/instance/service-accounts/default/identity" || r.Header.Get("Metadata-Flavor") != "Google" {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		aud := r.URL.Query().Get("audience")
		if aud == "" {
			http.Error(w, "audience required", http.StatusBadRequest)
			return
		}
		fmt.Fprint(w, s.JWT(aud, Subject))
	}))
	s.t.Cleanup(srv.Close)
	return srv.URL
}

// FaultProxy is a reverse proxy to Vault that, when armed, lets the next
// sign request reach Vault (which signs and stores the certificate) and
// answers the client 502 instead of the certificate: a death between the
// CA's answer and acmera's record, at the wire.
type FaultProxy struct {
	URL   string
	armed atomic.Bool
	hits  atomic.Int64
}

// Arm makes the next sign request lose its answer.
func (p *FaultProxy) Arm() { p.armed.Store(true) }

// Dropped is how many answers were dropped.
func (p *FaultProxy) Dropped() int64 { return p.hits.Load() }

// FaultProxy starts a FaultProxy in front of s.
func (s *Server) FaultProxy() *FaultProxy {
	s.t.Helper()
	target, _ := url.Parse(s.Addr)
	p := &FaultProxy{}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ModifyResponse = func(res *http.Response) error {
		if strings.Contains(res.Request.URL.Path, "/sign/") && res.StatusCode == http.StatusOK && p.armed.CompareAndSwap(true, false) {
			p.hits.Add(1)
			return errors.New("vaulttest: answer dropped")
		}
		return nil
	}
	srv := httptest.NewServer(rp)
	s.t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}
