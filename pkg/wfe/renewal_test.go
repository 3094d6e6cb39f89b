package wfe_test

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	acmefn "github.com/acmera/acmera/functions/acme"
)

// certID is the RFC 9773 §4.1 ARI identifier of leaf.
func certID(leaf *x509.Certificate) string {
	serial := leaf.SerialNumber.Bytes()
	if serial[0]&0x80 != 0 {
		serial = append([]byte{0}, serial...)
	}
	return base64.RawURLEncoding.EncodeToString(leaf.AuthorityKeyId) + "." + base64.RawURLEncoding.EncodeToString(serial)
}

// ARI (RFC 9773): the directory names renewalInfo; a GET of a certificate's
// certID answers its window with Retry-After; a revoked certificate's
// window has passed; malformed and unknown certIDs are malformed and 404.
func TestRenewalInfo(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := e.client(t)
	der, certKey := e.issueIP(t, ctx, c)
	leaf, err := x509.ParseCertificate(der[0])
	if err != nil {
		t.Fatal(err)
	}
	dir, err := c.Discover(ctx)
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.Get(e.srv.URL + "/acme/acme/directory")
	if err != nil {
		t.Fatal(err)
	}
	var d struct{ RenewalInfo string }
	json.NewDecoder(res.Body).Decode(&d)
	res.Body.Close()
	if d.RenewalInfo != e.srv.URL+"/acme/acme/renewal-info" {
		t.Fatalf("directory renewalInfo %q (%v)", d.RenewalInfo, dir)
	}
	get := func(id string) (int, http.Header, []byte) {
		res, err := http.Get(d.RenewalInfo + "/" + id)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, res.Header, b
	}
	st, h, body := get(certID(leaf))
	var ri struct {
		SuggestedWindow struct{ Start, End time.Time }
	}
	if err := json.Unmarshal(body, &ri); st != http.StatusOK || err != nil {
		t.Fatalf("renewalInfo: %d %s", st, body)
	}
	life := leaf.NotAfter.Sub(leaf.NotBefore)
	w := ri.SuggestedWindow
	if !w.Start.After(leaf.NotBefore.Add(life/2)) || !w.End.Before(leaf.NotAfter) || h.Get("Retry-After") == "" {
		t.Errorf("window %s to %s, Retry-After %q for a certificate valid %s to %s", w.Start, w.End, h.Get("Retry-After"), leaf.NotBefore, leaf.NotAfter)
	}
	other := *leaf
	other.AuthorityKeyId = []byte("another issuer")
	for _, tc := range []struct {
		id, typ string
		status  int
	}{
		{"nodot", "malformed", 400},
		{"a.b.c", "malformed", 400},
		{"aGk.gA", "malformed", 400},
		{certID(&other), "malformed", 404},
		{"aGk.AQI", "malformed", 404},
	} {
		st, _, body := get(tc.id)
		if st != tc.status || !strings.Contains(string(body), tc.typ) {
			t.Errorf("%s: %d %s, want %d %s", tc.id, st, body, tc.status, tc.typ)
		}
	}
	if err := c.RevokeCert(ctx, certKey, der[0], 1); err != nil {
		t.Fatal(err)
	}
	_, _, body = get(certID(leaf))
	if err := json.Unmarshal(body, &ri); err != nil || !ri.SuggestedWindow.End.Before(time.Now()) {
		t.Errorf("after revocation: %s, want a window already past", body)
	}
}

// The directory's meta carries the configured terms of service and website.
func TestDirectoryMetaURLs(t *testing.T) {
	e := newEnv(t, func(p *acmefn.Parts) {
		p.TermsOfService, p.Website = "https://pki.example.com/terms", "https://pki.example.com/"
	})
	res, err := http.Get(e.srv.URL + "/acme/acme/directory")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var d struct {
		Meta struct{ TermsOfService, Website string }
	}
	if err := json.NewDecoder(res.Body).Decode(&d); err != nil || d.Meta.TermsOfService != "https://pki.example.com/terms" || d.Meta.Website != "https://pki.example.com/" {
		t.Fatalf("directory meta %+v (%v)", d.Meta, err)
	}
}
