package stsfake

import (
	"crypto/rand"
	"crypto/rsa"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

func TestAssumeRoleWithWebIdentityWire(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	jwks := &jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "RS256"}}}
	now := time.Now()
	sign := func(k *rsa.PrivateKey, aud string, exp time.Time) string {
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: k, KeyID: "k1"}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := jwt.Signed(s).Claims(jwt.Claims{Issuer: "https://accounts.google.com", Subject: "sub-1",
			Audience: jwt.Audience{aud}, Expiry: jwt.NewNumericDate(exp)}).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	fake := New(Config{Keys: jwks, Audiences: []string{"aud-1"}})
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	cases := []struct {
		name, token, want string
		status            int
	}{
		{"valid", sign(key, "aud-1", now.Add(time.Hour)), "<AccessKeyId>ASIA", 200},
		{"wrong audience", sign(key, "aud-2", now.Add(time.Hour)), "<Code>AccessDenied</Code>", 403},
		{"other key", sign(other, "aud-1", now.Add(time.Hour)), "<Code>InvalidIdentityToken</Code>", 400},
		{"expired", sign(key, "aud-1", now.Add(-time.Minute)), "<Code>ExpiredTokenException</Code>", 400},
		{"not a JWT", "nope", "<Code>InvalidIdentityToken</Code>", 400},
	}
	for _, tc := range cases {
		form := url.Values{"Action": {"AssumeRoleWithWebIdentity"}, "Version": {"2011-06-15"},
			"RoleArn": {"arn:aws:iam::111122223333:role/r"}, "RoleSessionName": {"s"}, "WebIdentityToken": {tc.token}}
		resp, err := http.Post(srv.URL, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || !strings.Contains(string(body), tc.want) {
			t.Errorf("%s: HTTP %d %s; want %d containing %s", tc.name, resp.StatusCode, body, tc.status, tc.want)
		}
	}
	if s := fake.Sessions(); len(s) != 1 || s[0].Subject != "sub-1" {
		t.Errorf("sessions = %+v, want one for sub-1", s)
	}
	if _, ok := fake.Lookup(fake.Sessions()[0].AccessKeyID); !ok {
		t.Error("Lookup does not know the issued key")
	}
}
