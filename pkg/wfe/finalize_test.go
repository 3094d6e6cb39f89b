package wfe_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"net"
	"net/http"
	"testing"
	"time"
)

type wireOrder struct {
	Status         string   `json:"status"`
	Finalize       string   `json:"finalize"`
	Authorizations []string `json:"authorizations"`
	Certificate    string   `json:"certificate"`
}

type wireAuthz struct {
	Status     string `json:"status"`
	Challenges []struct {
		Type, URL, Token, Status string
	} `json:"challenges"`
}

// readyOrder creates an order for 127.0.0.1 and completes its http-01
// challenge, returning the order URL and object.
func readyOrder(t *testing.T, e *env, c *rawClient) (string, wireOrder) {
	t.Helper()
	r := c.do(c.base+"/new-order", map[string]any{"identifiers": []map[string]string{{"type": "ip", "value": "127.0.0.1"}}})
	if r.status != http.StatusCreated {
		t.Fatalf("new-order: %d %s", r.status, r.body)
	}
	url := r.header.Get("Location")
	var o wireOrder
	json.Unmarshal(r.body, &o)
	var az wireAuthz
	json.Unmarshal(c.do(o.Authorizations[0], nil).body, &az)
	for _, ch := range az.Challenges {
		if ch.Type != "http-01" {
			continue
		}
		e.tokens.Store(ch.Token, ch.Token+"."+c.thumbprint())
		if r := c.do(ch.URL, map[string]any{}); r.status != http.StatusOK || r.header.Get("Link") == "" {
			t.Fatalf("answer challenge: %d %s", r.status, r.body)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		json.Unmarshal(c.do(url, nil).body, &o)
		if o.Status != "pending" {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if o.Status != "ready" {
		t.Fatalf("order status %q, want ready", o.Status)
	}
	return url, o
}

func csrFor(t *testing.T, key any, ips []string, dns ...string) map[string]string {
	t.Helper()
	tmpl := &x509.CertificateRequest{DNSNames: dns}
	for _, ip := range ips {
		tmpl.IPAddresses = append(tmpl.IPAddresses, net.ParseIP(ip))
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{"csr": b64(der)}
}

func TestFinalize(t *testing.T) {
	e := newEnv(t)
	c := newRawClient(t, e)
	c.register()
	url, o := readyOrder(t, e, c)
	good, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	weak, _ := rsa.GenerateKey(rand.Reader, 1024)
	p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	cases := []struct {
		name, typ, has string
		csr            map[string]string
	}{
		{"extra name", "badCSR", "extra.example", csrFor(t, good, []string{"127.0.0.1"}, "extra.example")},
		{"missing name", "badCSR", "127.0.0.1", csrFor(t, good, nil, "other.example")},
		{"account key", "badCSR", "account key", csrFor(t, c.key, []string{"127.0.0.1"})},
		{"weak RSA", "badCSR", "1024", csrFor(t, weak, []string{"127.0.0.1"})},
		{"P-224", "badCSR", "P-224", csrFor(t, p224, []string{"127.0.0.1"})},
		{"not DER", "badCSR", "parsed", map[string]string{"csr": b64([]byte("nope"))}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			expect(t, c.do(o.Finalize, tc.csr), 400, tc.typ, tc.has)
		})
	}
	// The refusals left the order ready.
	json.Unmarshal(c.do(url, nil).body, &o)
	if o.Status != "ready" {
		t.Fatalf("order after refused CSRs: %s", o.Status)
	}
	r := c.do(o.Finalize, csrFor(t, good, []string{"127.0.0.1"}))
	if r.status != http.StatusOK || r.header.Get("Location") != url {
		t.Fatalf("finalize: %d %s (Location %q)", r.status, r.body, r.header.Get("Location"))
	}
	json.Unmarshal(r.body, &o)
	if o.Status != "valid" || o.Certificate == "" {
		t.Fatalf("finalized order: %s", r.body)
	}
	expect(t, c.do(o.Finalize, csrFor(t, good, []string{"127.0.0.1"})), 403, "orderNotReady", "valid")
	cert := c.do(o.Certificate, nil)
	if cert.status != http.StatusOK || cert.header.Get("Content-Type") != "application/pem-certificate-chain" {
		t.Fatalf("certificate: %d %s", cert.status, cert.header.Get("Content-Type"))
	}

	// Authorization reuse: a second order for the same identifier is ready
	// at once, with the same authorization.
	r = c.do(c.base+"/new-order", map[string]any{"identifiers": []map[string]string{{"type": "ip", "value": "127.0.0.1"}}})
	var again wireOrder
	json.Unmarshal(r.body, &again)
	if again.Status != "ready" || again.Authorizations[0] != o.Authorizations[0] {
		t.Fatalf("reuse: %s", r.body)
	}
	// Another account cannot reuse it, nor fetch the certificate.
	other := newRawClient(t, e)
	other.register()
	expect(t, other.do(o.Certificate, nil), 403, "unauthorized", "another account")
	r = other.do(other.base+"/new-order", map[string]any{"identifiers": []map[string]string{{"type": "ip", "value": "127.0.0.1"}}})
	json.Unmarshal(r.body, &again)
	if again.Status != "pending" {
		t.Fatalf("other account's order: %s", r.body)
	}
}

func TestFailedValidation(t *testing.T) {
	e := newEnv(t)
	c := newRawClient(t, e)
	c.register()
	r := c.do(c.base+"/new-order", map[string]any{"identifiers": []map[string]string{{"type": "ip", "value": "127.0.0.1"}}})
	url := r.header.Get("Location")
	var o wireOrder
	json.Unmarshal(r.body, &o)
	var az wireAuthz
	json.Unmarshal(c.do(o.Authorizations[0], nil).body, &az)
	for _, ch := range az.Challenges {
		if ch.Type == "http-01" {
			e.tokens.Store(ch.Token, "wrong-key-authorization")
			c.do(ch.URL, map[string]any{})
		}
	}
	var full struct {
		Status string `json:"status"`
		Error  struct {
			Type       string                 `json:"type"`
			Detail     string                 `json:"detail"`
			Identifier struct{ Value string } `json:"identifier"`
		} `json:"error"`
	}
	for i := 0; i < 200 && full.Status != "invalid"; i++ {
		time.Sleep(20 * time.Millisecond)
		json.Unmarshal(c.do(url, nil).body, &full)
	}
	if full.Status != "invalid" || full.Error.Type != urn+"incorrectResponse" || full.Error.Identifier.Value != "127.0.0.1" {
		t.Fatalf("order after failed validation: %+v", full)
	}
}
