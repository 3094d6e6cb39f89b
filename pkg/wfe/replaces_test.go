package wfe_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"net"
	"net/http"
	"testing"
	"time"
)

// ARI replacement (RFC 9773 §5): an order naming a certificate in
// "replaces" echoes it; once that order is finalized the certificate is
// replaced, so a second replacement is alreadyReplaced (409) and its
// renewal window moves to its end. Another account's certificate, one
// sharing no identifier, and unknown or malformed certIDs are refused, and
// a refused newOrder creates no order.
func TestReplaces(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := e.client(t)
	der, _ := e.issueIP(t, ctx, c)
	old, err := x509.ParseCertificate(der[0])
	if err != nil {
		t.Fatal(err)
	}
	raw := &rawClient{t: t, base: e.srv.URL + "/acme/acme", key: c.Key.(*ecdsa.PrivateKey)}
	r := raw.do(raw.base+"/new-account", map[string]any{"onlyReturnExisting": true})
	if r.status != http.StatusOK {
		t.Fatalf("new-account (existing): %d %s", r.status, r.body)
	}
	raw.kid = r.header.Get("Location")
	ip := []map[string]string{{"type": "ip", "value": "127.0.0.1"}}
	orders := func() int {
		t.Helper()
		r := raw.do(raw.kid+"/orders", nil)
		var l struct{ Orders []string }
		if err := json.Unmarshal(r.body, &l); r.status != http.StatusOK || err != nil {
			t.Fatalf("orders list: %d %s", r.status, r.body)
		}
		return len(l.Orders)
	}

	r = raw.do(raw.base+"/new-order", map[string]any{"identifiers": ip, "replaces": certID(old)})
	var o struct{ Status, Replaces, Finalize string }
	if err := json.Unmarshal(r.body, &o); r.status != http.StatusCreated || err != nil || o.Replaces != certID(old) {
		t.Fatalf("replacement order: %d %s, want 201 echoing replaces %q", r.status, r.body, certID(old))
	}
	// Its authorization is reused, so it is ready at once; finalize it.
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csr, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}, key)
	newDER, _, err := c.CreateOrderCert(ctx, o.Finalize, csr, true)
	if err != nil {
		t.Fatalf("finalize the replacement order (%s): %v", o.Status, err)
	}
	replacement, err := x509.ParseCertificate(newDER[0])
	if err != nil {
		t.Fatal(err)
	}

	res, err := http.Get(e.srv.URL + "/acme/acme/renewal-info/" + certID(old))
	if err != nil {
		t.Fatal(err)
	}
	var ri struct{ SuggestedWindow struct{ Start time.Time } }
	err = json.NewDecoder(res.Body).Decode(&ri)
	res.Body.Close()
	if err != nil || ri.SuggestedWindow.Start.Before(old.NotAfter) {
		t.Errorf("window of the replaced certificate starts %s (%v), want at its notAfter %s", ri.SuggestedWindow.Start, err, old.NotAfter)
	}

	stranger := newRawClient(t, e)
	stranger.register()
	before := orders()
	for _, tc := range []struct {
		name   string
		by     *rawClient
		order  map[string]any
		status int
		typ    string
	}{
		{"already replaced", raw, map[string]any{"identifiers": ip, "replaces": certID(old)}, 409, "alreadyReplaced"},
		{"another account's certificate", stranger, map[string]any{"identifiers": ip, "replaces": certID(replacement)}, 403, "unauthorized"},
		{"no shared identifier", raw, map[string]any{"identifiers": []map[string]string{{"type": "dns", "value": "other.example"}}, "replaces": certID(replacement)}, 400, "malformed"},
		{"unknown certID", raw, map[string]any{"identifiers": ip, "replaces": "aGk.AQI"}, 400, "malformed"},
		{"malformed certID", raw, map[string]any{"identifiers": ip, "replaces": "not-a-cert-id"}, 400, "malformed"},
	} {
		r := tc.by.do(tc.by.base+"/new-order", tc.order)
		if r.status != tc.status || r.problem.Type != "urn:ietf:params:acme:error:"+tc.typ || r.problem.Detail == "" {
			t.Errorf("%s: %d %s, want %d %s", tc.name, r.status, r.body, tc.status, tc.typ)
		}
	}
	if after := orders(); after != before {
		t.Errorf("refused replacement orders left %d orders, want %d", after, before)
	}
	// The replacement itself can be replaced.
	if r := raw.do(raw.base+"/new-order", map[string]any{"identifiers": ip, "replaces": certID(replacement)}); r.status != http.StatusCreated {
		t.Errorf("replacing the replacement: %d %s", r.status, r.body)
	}
}
