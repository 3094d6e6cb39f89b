package e2e

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"slices"
	"testing"
	"time"

	"golang.org/x/crypto/acme"

	"github.com/acmera/acmera/scripts/internal/e2eutil"
)

// TestXCryptoChallenges issues one certificate per challenge type with
// golang.org/x/crypto/acme, and proves the server's validator really
// fetched the response from the responder.
func TestXCryptoChallenges(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := e2eutil.TestContext(t, 90*time.Second)
	cl := e.newClient(ctx, t)
	tests := []struct {
		name string
		ids  []acme.AuthzID
		pick chooser
	}{
		{"http-01", acme.DomainIDs("http.e2e.test"), always("http-01")},
		{"dns-01", acme.DomainIDs("dns.e2e.test"), always("dns-01")},
		{"tls-alpn-01", acme.DomainIDs("alpn.e2e.test"), always("tls-alpn-01")},
		{"IP via http-01 (RFC 8738)", acme.IPIDs("127.0.0.1"), always("http-01")},
		{"two names, mixed challenges", acme.DomainIDs("a.mixed.e2e.test", "b.mixed.e2e.test"), func(z *acme.Authorization) string {
			if z.Identifier.Value == "a.mixed.e2e.test" {
				return "tls-alpn-01"
			}
			return "dns-01"
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.issue(ctx, t, cl, tt.ids, tt.pick)
		})
	}
	if e.ALPN.Hits("alpn.e2e.test") == 0 {
		t.Errorf("tls-alpn-01 responder saw no handshake for alpn.e2e.test")
	}
}

// TestXCryptoWildcardAndApex orders *.wild.e2e.test and wild.e2e.test
// together: the wildcard's authorization offers dns-01 only (RFC 8555
// §7.1.3), both TXT values live at the same name, and the certificate
// carries both SANs.
func TestXCryptoWildcardAndApex(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := e2eutil.TestContext(t, 60*time.Second)
	cl := e.newClient(ctx, t)
	ids := acme.DomainIDs("*.wild.e2e.test", "wild.e2e.test")
	var wildcardOffers []string
	e.issue(ctx, t, cl, ids, func(z *acme.Authorization) string {
		if z.Wildcard {
			for _, ch := range z.Challenges {
				wildcardOffers = append(wildcardOffers, ch.Type)
			}
		}
		return "dns-01"
	})
	if !slices.Equal(wildcardOffers, []string{"dns-01"}) {
		t.Errorf("wildcard authorization offers %v, want only dns-01", wildcardOffers)
	}
	if got := e.DNS.TXT("_acme-challenge.wild.e2e.test"); len(got) != 2 {
		t.Errorf("TXT at _acme-challenge.wild.e2e.test = %q, want two values (wildcard + apex)", got)
	}
}

// TestXCryptoDNS01FollowsCNAME delegates _acme-challenge by CNAME, as
// split-horizon setups do; the server must follow it.
func TestXCryptoDNS01FollowsCNAME(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := e2eutil.TestContext(t, 60*time.Second)
	cl := e.newClient(ctx, t)
	e.DNS.SetCNAME("_acme-challenge.cname.e2e.test", "_acme-challenge.delegated.e2e.test")
	ids := acme.DomainIDs("cname.e2e.test")
	o, err := cl.AuthorizeOrder(ctx, ids)
	if err != nil {
		t.Fatalf("AuthorizeOrder: %v", err)
	}
	z, err := cl.GetAuthorization(ctx, o.AuthzURLs[0])
	if err != nil {
		t.Fatalf("GetAuthorization: %v", err)
	}
	ch := findChallenge(t, z, "dns-01")
	rec, err := cl.DNS01ChallengeRecord(ch.Token)
	if err != nil {
		t.Fatalf("DNS01ChallengeRecord: %v", err)
	}
	e.DNS.SetTXT("_acme-challenge.delegated.e2e.test", rec)
	if _, err := cl.Accept(ctx, ch); err != nil {
		t.Fatalf("Accept: %v", err)
	}
	if _, err := cl.WaitAuthorization(ctx, z.URI); err != nil {
		t.Fatalf("WaitAuthorization through a CNAME: %v", err)
	}
}

// TestXCryptoKeyRollover changes the account key (RFC 8555 §7.3.5): the
// old key is refused afterwards, by kid and by jwk lookup, and the new key
// finds the same account and can issue.
func TestXCryptoKeyRollover(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := e2eutil.TestContext(t, 60*time.Second)
	cl := e.newClient(ctx, t)
	acct, err := cl.GetReg(ctx, "")
	if err != nil {
		t.Fatalf("GetReg: %v", err)
	}
	oldKey, newKey := cl.Key, newKey(t)
	if err := cl.AccountKeyRollover(ctx, newKey); err != nil {
		t.Fatalf("AccountKeyRollover: %v", err)
	}
	// The old key, signing with the account's kid, must be refused.
	old := &acme.Client{Key: oldKey, KID: acme.KeyID(acct.URI), DirectoryURL: e.Srv.DirURL, HTTPClient: e.Srv.HTTPClient()}
	_, err = old.UpdateReg(ctx, &acme.Account{Contact: []string{"mailto:old@example.test"}})
	var ae *acme.Error
	if !errors.As(err, &ae) || ae.StatusCode/100 != 4 ||
		(ae.ProblemType != probMalformed && ae.ProblemType != probUnauthorized) {
		t.Errorf("UpdateReg with the old key: %v, want a 4xx malformed or unauthorized problem", err)
	}
	// Looked up by jwk, the old key has no account any more.
	lookup := &acme.Client{Key: oldKey, DirectoryURL: e.Srv.DirURL, HTTPClient: e.Srv.HTTPClient()}
	if _, err := lookup.GetReg(ctx, ""); !errors.Is(err, acme.ErrNoAccount) {
		t.Errorf("GetReg with the old key: %v, want accountDoesNotExist", err)
	}
	// The new key finds the same account, by jwk, and issues with it.
	fresh := &acme.Client{Key: newKey, DirectoryURL: e.Srv.DirURL, HTTPClient: e.Srv.HTTPClient()}
	got, err := fresh.GetReg(ctx, "")
	if err != nil || got.URI != acct.URI {
		t.Fatalf("GetReg with the new key: %+v, %v; want account %s", got, err, acct.URI)
	}
	e.issue(ctx, t, fresh, acme.DomainIDs("rollover.e2e.test"), always("http-01"))
	// The old key's UpdateReg must not have changed the contact.
	if got, err := fresh.GetReg(ctx, ""); err != nil || slices.Contains(got.Contact, "mailto:old@example.test") {
		t.Errorf("account after the refused update: %+v, %v", got, err)
	}
}

// TestXCryptoRevocation revokes by the issuing account's key and by the
// certificate's key (RFC 8555 §7.6); a second attempt gets alreadyRevoked,
// and an unrelated account may not revoke.
func TestXCryptoRevocation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := e2eutil.TestContext(t, 90*time.Second)
	cl := e.newClient(ctx, t)
	stranger := e.newClient(ctx, t)
	raw := newRawClient(ctx, t, e.Srv)

	byAccount, _ := e.issue(ctx, t, cl, acme.DomainIDs("revoke-account.e2e.test"), always("http-01"))
	err := stranger.RevokeCert(ctx, nil, byAccount[0], acme.CRLReasonKeyCompromise)
	var ae *acme.Error
	if !errors.As(err, &ae) || ae.StatusCode != 403 || ae.ProblemType != probUnauthorized {
		t.Errorf("revocation by an unrelated account: %v, want 403 unauthorized", err)
	}
	if err := cl.RevokeCert(ctx, nil, byAccount[0], acme.CRLReasonSuperseded); err != nil {
		t.Fatalf("RevokeCert by the account key: %v", err)
	}
	checkCRLLists(ctx, t, e.Srv.Root, byAccount[0], int(acme.CRLReasonSuperseded))
	kid := string(cl.KID)
	p := raw.revoke(ctx, t, byAccount[0], 4, signer{key: keyOf(t, cl.Key), kid: kid})
	p.want(t, 400, probAlreadyRevoked, "revoked")

	byCertKey, certKey := e.issue(ctx, t, cl, acme.DomainIDs("revoke-certkey.e2e.test"), always("dns-01"))
	if err := stranger.RevokeCert(ctx, certKey, byCertKey[0], acme.CRLReasonKeyCompromise); err != nil {
		t.Fatalf("RevokeCert by the certificate's key: %v", err)
	}
	p = raw.revoke(ctx, t, byCertKey[0], 1, signer{key: certKey})
	p.want(t, 400, probAlreadyRevoked, "revoked")
}

// checkCRLLists fetches the CRL the leaf names and checks that it lists
// the leaf's serial with reason, signed by the leaf's issuer.
func checkCRLLists(ctx context.Context, t *testing.T, roots *x509.CertPool, der []byte, reason int) {
	t.Helper()
	leaf, err := x509.ParseCertificate(der)
	if err != nil || len(leaf.CRLDistributionPoints) != 1 {
		t.Fatalf("leaf CRL distribution points %v (%v)", leaf.CRLDistributionPoints, err)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, leaf.CRLDistributionPoints[0], nil)
	res, err := e2eutil.HTTPClient(roots).Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", leaf.CRLDistributionPoints[0], err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	crl, err := x509.ParseRevocationList(body)
	if err != nil || res.Header.Get("Content-Type") != "application/pkix-crl" {
		t.Fatalf("CRL: %v (Content-Type %q)", err, res.Header.Get("Content-Type"))
	}
	if !bytes.Equal(crl.RawIssuer, leaf.RawIssuer) {
		t.Error("the CRL's issuer is not the leaf's")
	}
	for _, e := range crl.RevokedCertificateEntries {
		if e.SerialNumber.Cmp(leaf.SerialNumber) == 0 {
			if e.ReasonCode != reason {
				t.Errorf("CRL reason %d, want %d", e.ReasonCode, reason)
			}
			return
		}
	}
	t.Errorf("the CRL does not list serial %x", leaf.SerialNumber)
}
