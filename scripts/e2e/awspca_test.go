package e2e

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/crypto/acme"

	"github.com/acmera/acmera/scripts/fakeaws/pcafake"
	"github.com/acmera/acmera/scripts/fakeaws/stsfake"
	"github.com/acmera/acmera/scripts/internal/e2eutil"
)

// TestAWSPrivateCABackend runs the embedded binary with a profile on AWS
// Private CA, reached exactly as on Cloud Run: the workload's ID token
// from the metadata server (a loopback stand-in signing with a test key),
// exchanged at STS (stsfake, which trusts that key's JWKS for one
// audience and role) for credentials the CA fake checks in every SigV4
// signature. x/crypto/acme gets a certificate whose chain verifies to the
// CA's root, issued from the template matching a serverAuth profile, and
// revokes it with the reason mapped to AWS's enum.
func TestAWSPrivateCABackend(t *testing.T) {
	t.Parallel()
	const role, audience = "arn:aws:iam::111122223333:role/acmera", "sts.amazonaws.com"
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: "g1"}}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	metadata := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Metadata-Flavor") != "Google" || !strings.HasSuffix(r.URL.Path, "/service-accounts/default/identity") {
			http.NotFound(w, r)
			return
		}
		now := time.Now()
		tok, err := jwt.Signed(sig).Claims(jwt.Claims{Issuer: "https://accounts.google.com", Subject: "108234567890123456789",
			Audience: jwt.Audience{r.URL.Query().Get("audience")}, IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Hour))}).Serialize()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprint(w, tok)
	}))
	t.Cleanup(metadata.Close)
	sts := stsfake.New(stsfake.Config{Keys: &jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "g1", Algorithm: "RS256", Use: "sig"}}},
		Audiences: []string{audience}, Roles: []string{role}})
	stsSrv := httptest.NewServer(sts)
	t.Cleanup(stsSrv.Close)
	pca, err := pcafake.New(pcafake.Config{Credentials: sts, InProgressGets: 1})
	if err != nil {
		t.Fatal(err)
	}
	pcaSrv := httptest.NewServer(pca)
	t.Cleanup(pcaSrv.Close)

	profiles, _ := json.Marshal(map[string]any{
		"backends": map[string]any{"aws": map[string]any{"awspca": map[string]any{
			"caArn": pca.CAArn(), "roleArn": role, "audience": audience,
			"endpoint": pcaSrv.URL, "stsEndpoint": stsSrv.URL, "metadataURL": metadata.URL,
		}}},
		"profiles": map[string]any{
			"acme": map[string]any{"allowAnyName": true},
			"aws":  map[string]any{"backend": "aws", "dnsSuffixes": []string{"aws.e2e.test"}},
		},
	})
	e := &env{Responders: e2eutil.StartResponders(t, false)}
	e.Srv = startServer(t, e2eutil.ServerConfig{HTTP01Port: e.HTTP01.Port, TLSALPN01Port: e.ALPN.Port, Resolver: e.DNS.Addr(),
		Env: []string{"ACMERA_PROFILES_JSON=" + string(profiles)}})
	ctx := e2eutil.TestContext(t, 90*time.Second)

	cl := &acme.Client{Key: newKey(t), DirectoryURL: strings.Replace(e.Srv.DirURL, "/acme/acme/", "/acme/aws/", 1), HTTPClient: e.Srv.HTTPClient()}
	if _, err := cl.Register(ctx, &acme.Account{}, acme.AcceptTOS); err != nil {
		t.Fatalf("Register: %v", err)
	}
	ids := acme.DomainIDs("www.aws.e2e.test")
	o := e.authorize(ctx, t, cl, ids, always("http-01"))
	certKey := newKey(t)
	chain, _, err := cl.CreateOrderCert(ctx, o.FinalizeURL, csrFor(t, certKey, ids), true)
	if err != nil {
		t.Fatalf("CreateOrderCert: %v", err)
	}
	roots := x509.NewCertPool()
	b, _ := pem.Decode(pca.RootPEM())
	root, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	roots.AddCert(root)
	leaf, err := e2eutil.VerifyChain(roots, chain, ids, certKey.Public())
	if err != nil {
		t.Fatal(err)
	}
	reqs := pca.IssueRequests()
	if len(reqs) != 1 || !strings.Contains(fmt.Sprint(reqs[0]["TemplateArn"]), "EndEntityServerAuthCertificate") {
		t.Errorf("IssueCertificate requests %v, want one with the serverAuth template", reqs)
	}
	if len(sts.Sessions()) == 0 {
		t.Error("no STS web-identity session: the backend did not sign in with the workload's token")
	}
	if err := cl.RevokeCert(ctx, nil, leaf.Raw, acme.CRLReasonKeyCompromise); err != nil {
		t.Fatalf("RevokeCert: %v", err)
	}
	if rev := pca.Revoked(); len(rev) != 1 || rev[0].Serial.Cmp(leaf.SerialNumber) != 0 || rev[0].Reason != "KEY_COMPROMISE" {
		t.Errorf("the CA fake's revocations %+v, want the leaf with KEY_COMPROMISE", rev)
	}
}
