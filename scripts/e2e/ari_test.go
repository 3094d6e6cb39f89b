package e2e

import (
	"crypto/x509"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"golang.org/x/crypto/acme"

	"github.com/acmera/acmera/scripts/internal/e2eutil"
)

// profilesJSON has the default profile and "short", whose certificates
// live one hour unless the order asks otherwise.
const profilesJSON = `{"profiles":{
	"acme":{"allowAnyName":true,"allowWildcards":true},
	"short":{"description":"one-hour certificates","allowAnyName":true,"defaultLifetime":"1h","maxLifetime":"2h"}}}`

// TestXCryptoProfilesLifetimesARI drives, with golang.org/x/crypto/acme
// and hand-built JWS where it has no option (profile, replaces):
//   - profile selection (draft-ietf-acme-profiles): the order echoes the
//     profile and the certificate has that profile's lifetime; an unknown
//     profile is invalidProfile;
//   - an order's notAfter, which the certificate ends at to the second;
//   - ARI (RFC 9773): renewalInfo for that certificate, an order that
//     replaces it, then alreadyReplaced for a second one;
//   - revocation (RFC 8555 §7.6) by a third account that holds valid
//     authorizations for the certificate's names, seen on the CRL.
func TestXCryptoProfilesLifetimesARI(t *testing.T) {
	t.Parallel()
	e := &env{Responders: e2eutil.StartResponders(t, false)}
	e.Srv = startServer(t, e2eutil.ServerConfig{HTTP01Port: e.HTTP01.Port, TLSALPN01Port: e.ALPN.Port, Resolver: e.DNS.Addr(),
		Env: []string{"ACMERA_PROFILES_JSON=" + profilesJSON}})
	ctx := e2eutil.TestContext(t, 90*time.Second)
	cl := e.newClient(ctx, t)
	raw := newRawClient(ctx, t, e.Srv)
	me := signer{key: keyOf(t, cl.Key), kid: string(cl.KID)}
	ids := acme.DomainIDs("ari.e2e.test")
	newOrder := func(payload map[string]any) (reply, *acme.Order) {
		t.Helper()
		payload["identifiers"] = []map[string]string{{"type": "dns", "value": "ari.e2e.test"}}
		b, _ := json.Marshal(payload)
		r := raw.signed(ctx, t, raw.url(t, "newOrder"), me, b)
		if r.Status != http.StatusCreated {
			return r, nil
		}
		o, err := cl.GetOrder(ctx, r.Header.Get("Location"))
		if err != nil {
			t.Fatalf("GetOrder: %v", err)
		}
		return r, o
	}
	finalize := func(o *acme.Order) *x509.Certificate {
		t.Helper()
		o = e.answer(ctx, t, cl, o, always("http-01"))
		key := newKey(t)
		chain, _, err := cl.CreateOrderCert(ctx, o.FinalizeURL, csrFor(t, key, ids), true)
		if err != nil {
			t.Fatalf("CreateOrderCert: %v", err)
		}
		return verifyChain(t, e.Srv.Root, chain, ids, key.Public())
	}

	// Profiles.
	r, o := newOrder(map[string]any{"profile": "short"})
	var wire struct{ Profile, Replaces string }
	if err := json.Unmarshal(r.Body, &wire); o == nil || err != nil || wire.Profile != "short" {
		t.Fatalf("newOrder with profile short: %d %s, want 201 echoing the profile", r.Status, r.Body)
	}
	if short := finalize(o); short.NotAfter.Sub(short.NotBefore) > time.Hour+time.Minute {
		t.Errorf("certificate of profile short lives %s, want its 1h default", short.NotAfter.Sub(short.NotBefore))
	}
	r, _ = newOrder(map[string]any{"profile": "no-such-profile"})
	r.want(t, 400, probNS+"invalidProfile", "no-such-profile")

	// An exact notAfter, in the default profile.
	notAfter := time.Now().Add(3 * time.Hour).Truncate(time.Second).UTC()
	o, err := cl.AuthorizeOrder(ctx, ids, acme.WithOrderNotAfter(notAfter))
	if err != nil {
		t.Fatalf("AuthorizeOrder with notAfter: %v", err)
	}
	leaf := finalize(o)
	if !leaf.NotAfter.Equal(notAfter) {
		t.Errorf("certificate ends %s, want the order's notAfter %s exactly", leaf.NotAfter, notAfter)
	}

	// ARI: the window, then a replacement, then alreadyReplaced.
	hc := e.Srv.HTTPClient()
	res, err := hc.Get(raw.url(t, "renewalInfo") + "/" + ariCertID(leaf))
	if err != nil {
		t.Fatal(err)
	}
	var ri struct {
		SuggestedWindow struct{ Start, End time.Time }
	}
	err = json.NewDecoder(res.Body).Decode(&ri)
	res.Body.Close()
	if w := ri.SuggestedWindow; err != nil || res.StatusCode != 200 || res.Header.Get("Retry-After") == "" ||
		!w.Start.After(leaf.NotBefore) || !w.End.Before(leaf.NotAfter) {
		t.Errorf("renewalInfo: %d %+v (%v), Retry-After %q, for a certificate valid %s to %s",
			res.StatusCode, ri, err, res.Header.Get("Retry-After"), leaf.NotBefore, leaf.NotAfter)
	}
	r, o = newOrder(map[string]any{"replaces": ariCertID(leaf)})
	if err := json.Unmarshal(r.Body, &wire); o == nil || err != nil || wire.Replaces != ariCertID(leaf) {
		t.Fatalf("replacement order: %d %s, want 201 echoing replaces", r.Status, r.Body)
	}
	finalize(o)
	r, _ = newOrder(map[string]any{"replaces": ariCertID(leaf)})
	r.want(t, 409, probNS+"alreadyReplaced", "replaced")

	// Revocation by a third account holding the authorizations.
	third := e.newClient(ctx, t)
	e.issue(ctx, t, third, ids, always("dns-01"))
	if err := third.RevokeCert(ctx, nil, leaf.Raw, acme.CRLReasonCessationOfOperation); err != nil {
		t.Fatalf("revocation by a third account holding authorizations for every name: %v", err)
	}
	checkCRLLists(ctx, t, e.Srv.Root, leaf.Raw, int(acme.CRLReasonCessationOfOperation))
}

// ariCertID is the RFC 9773 §4.1 certID of leaf.
func ariCertID(leaf *x509.Certificate) string {
	serial := leaf.SerialNumber.Bytes()
	if serial[0]&0x80 != 0 {
		serial = append([]byte{0}, serial...)
	}
	return b64.EncodeToString(leaf.AuthorityKeyId) + "." + b64.EncodeToString(serial)
}
