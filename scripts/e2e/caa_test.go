package e2e

import (
	"errors"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/acme"

	"github.com/acmera/acmera/scripts/internal/e2eutil"
	"github.com/acmera/acmera/scripts/testdns"
)

// caaIdentity is the issuer domain name of the CAA test profile.
const caaIdentity = "ca.e2e.test"

// TestCAA runs the embedded default with a profile that checks CAA (RFC
// 8659): a name whose CAA record names another CA gets an authorization
// that ends invalid with the caa problem quoting the record; a name under
// a parent record naming this CA, bound to the account with accounturi
// (RFC 8657), issues.
func TestCAA(t *testing.T) {
	t.Parallel()
	e := &env{Responders: e2eutil.StartResponders(t, false)}
	e.Srv = startServer(t, e2eutil.ServerConfig{HTTP01Port: e.HTTP01.Port, TLSALPN01Port: e.ALPN.Port, Resolver: e.DNS.Addr(),
		Env: []string{`ACMERA_PROFILES_JSON={"profiles":{"acme":{"allowAnyName":true,"caaIdentities":["` + caaIdentity + `"]}}}`}})
	ctx := e2eutil.TestContext(t, 90*time.Second)
	cl := e.newClient(ctx, t)
	acct, err := cl.GetReg(ctx, "")
	if err != nil {
		t.Fatalf("GetReg: %v", err)
	}
	e.DNS.AddCAA("deny.caa.test", testdns.CAA{Tag: "issue", Value: "other-ca.test"})
	e.DNS.AddCAA("allow.caa.test", testdns.CAA{Tag: "issue", Value: caaIdentity + "; accounturi=" + acct.URI})

	t.Run("refused", func(t *testing.T) {
		o, err := cl.AuthorizeOrder(ctx, acme.DomainIDs("www.deny.caa.test"))
		if err != nil {
			t.Fatalf("AuthorizeOrder: %v", err)
		}
		z, err := cl.GetAuthorization(ctx, o.AuthzURLs[0])
		if err != nil {
			t.Fatalf("GetAuthorization: %v", err)
		}
		ch := findChallenge(t, z, "http-01")
		if err := e.Present(cl, z, ch); err != nil {
			t.Fatal(err)
		}
		if _, err := cl.Accept(ctx, ch); err != nil {
			t.Fatalf("Accept: %v", err)
		}
		_, err = cl.WaitAuthorization(ctx, z.URI)
		var ae *acme.AuthorizationError
		if !errors.As(err, &ae) || len(ae.Errors) == 0 {
			t.Fatalf("WaitAuthorization = %v, want the authorization invalid", err)
		}
		var pe *acme.Error
		if !errors.As(ae.Errors[0], &pe) || pe.ProblemType != "urn:ietf:params:acme:error:caa" ||
			!strings.Contains(pe.Detail, `0 issue "other-ca.test"`) || !strings.Contains(pe.Detail, "deny.caa.test") {
			t.Fatalf("problem %v, want caa quoting the record and where it is", ae.Errors[0])
		}
		if h := e.HTTP01.Hits(ch.Token); h < 1 {
			t.Errorf("the challenge was not fetched: CAA runs after it succeeds")
		}
	})
	t.Run("allowed", func(t *testing.T) {
		e.issue(ctx, t, cl, acme.DomainIDs("www.allow.caa.test"), always("http-01"))
	})
}
