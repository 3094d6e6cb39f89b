package awspca

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/acmera/acmera/pkg/ca"
	"github.com/acmera/acmera/scripts/fakeaws/pcafake"
	"github.com/acmera/acmera/scripts/fakeaws/stsfake"
)

const (
	testRole     = "arn:aws:iam::111122223333:role/acmera-issuer"
	testAudience = "acmera-aws-test"
)

// idp is a test identity provider: an RS256 key and its JWKS.
type idp struct {
	signer jose.Signer
	jwks   *jose.JSONWebKeySet
}

func newIDP(t *testing.T) *idp {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("rsa.GenerateKey: %v", err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: "k1"}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatalf("jose.NewSigner: %v", err)
	}
	return &idp{signer: signer, jwks: &jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: &key.PublicKey, KeyID: "k1", Algorithm: string(jose.RS256), Use: "sig"},
	}}}
}

// token is a Google-like ID token for aud.
func (p *idp) token(t *testing.T, aud string, now time.Time) string {
	t.Helper()
	tok, err := jwt.Signed(p.signer).Claims(jwt.Claims{
		Issuer: "https://accounts.google.com", Subject: "112233445566778899000",
		Audience: jwt.Audience{aud}, IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Hour)),
	}).Claims(map[string]any{"azp": "112233445566778899000", "email": "acmera@proj.iam.gserviceaccount.com"}).Serialize()
	if err != nil {
		t.Fatalf("jwt.Serialize: %v", err)
	}
	return tok
}

func TestWebIdentityEndToEnd(t *testing.T) {
	p := newIDP(t)
	sts := stsfake.New(stsfake.Config{Keys: p.jwks, Audiences: []string{testAudience}, Roles: []string{testRole}})
	stsSrv := httptest.NewServer(sts)
	t.Cleanup(stsSrv.Close)
	for _, tc := range []struct {
		name, aud string
		ok        bool
	}{{"trusted audience", testAudience, true}, {"wrong audience", "someone-else", false}} {
		t.Run(tc.name, func(t *testing.T) {
			eachWire(t, func(t *testing.T, w wire) {
				var tokens int
				e := newEnv(t, w, pcafake.Config{Credentials: sts}, func(c *Config) {
					c.Credentials = nil
					c.RoleArn = testRole
					c.STSEndpoint = stsSrv.URL
					c.IdentityToken = func(context.Context) (string, error) {
						tokens++
						return p.token(t, tc.aud, time.Now()), nil
					}
				})
				before := len(sts.Sessions())
				err := e.issuer.Check(testCtx(t))
				if !tc.ok {
					if !errors.Is(err, ca.ErrMisconfigured) || code(err) != "AccessDenied" {
						t.Fatalf("%s: Check = %v, want STS AccessDenied as ca.ErrMisconfigured", tc.name, err)
					}
					if len(e.fake.Calls()) != 0 || len(sts.Sessions()) != before {
						t.Errorf("%s: a refused token still reached the CA (%v) or made a session", tc.name, e.fake.Calls())
					}
					return
				}
				if err != nil {
					t.Fatalf("%s: Check: %v", tc.name, err)
				}
				if _, err := e.issuer.Issue(testCtx(t), issueReq(t, "order-sts")); err != nil {
					t.Fatalf("%s: Issue: %v", tc.name, err)
				}
				sessions := sts.Sessions()
				if len(sessions) != before+1 || tokens != 1 {
					t.Errorf("%s: %d new sessions from %d tokens, want 1 and 1 (credentials cached)", tc.name, len(sessions)-before, tokens)
				}
				s := sessions[len(sessions)-1]
				if s.RoleArn != testRole || s.SessionName != "acmera" || s.Subject != "112233445566778899000" || !strings.HasPrefix(s.AccessKeyID, "ASIA") {
					t.Errorf("%s: session %+v", tc.name, s)
				}
			})
		})
	}
}
