package sigv4

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// signed is a request signed by the SDK's own signer, as a server sees it.
func signed(t *testing.T, body []byte, secret, token string, at time.Time) *http.Request {
	t.Helper()
	r := httptest.NewRequest("POST", "http://127.0.0.1:9/service/ACMPrivateCA/operation/GetCertificate", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/cbor")
	r.Header.Set("Smithy-Protocol", "rpc-v2-cbor")
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: "AKID", SecretAccessKey: secret, SessionToken: token}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, r, hex.EncodeToString(sum[:]), "acm-pca", "us-east-1", at); err != nil {
		t.Fatalf("SignHTTP: %v", err)
	}
	r.Header.Set("Accept-Encoding", "gzip") // added by the transport after signing
	return r
}

func TestVerify(t *testing.T) {
	now := time.Date(2026, 5, 4, 3, 2, 1, 0, time.UTC)
	body := []byte{0xa1, 0x61, 0x41, 0x61, 0x42}
	session := storeFunc(func(id string) (Credential, bool) {
		return Credential{Secret: "s3cret", SessionToken: "tok", Expires: now.Add(time.Hour)}, id == "AKID"
	})
	cases := []struct {
		name     string
		store    Store
		req      *http.Request
		body     []byte
		wantCode string
	}{
		{"good", Static{"AKID": "s3cret"}, signed(t, body, "s3cret", "", now), body, ""},
		{"wrong secret", Static{"AKID": "s3cret"}, signed(t, body, "other", "", now), body, "InvalidSignatureException"},
		{"tampered body", Static{"AKID": "s3cret"}, signed(t, body, "s3cret", "", now), []byte{0xa0}, "InvalidSignatureException"},
		{"unknown key", Static{"OTHER": "s3cret"}, signed(t, body, "s3cret", "", now), body, "UnrecognizedClientException"},
		{"stale date", Static{"AKID": "s3cret"}, signed(t, body, "s3cret", "", now.Add(-20*time.Minute)), body, "InvalidSignatureException"},
		{"session token", session, signed(t, body, "s3cret", "tok", now), body, ""},
		{"wrong session token", session, signed(t, body, "s3cret", "nope", now), body, "UnrecognizedClientException"},
	}
	for _, tc := range cases {
		v := &Verifier{Region: "us-east-1", Service: "acm-pca", Store: tc.store, Now: func() time.Time { return now }}
		_, err := v.Verify(tc.req, tc.body)
		var e *Error
		switch {
		case tc.wantCode == "" && err != nil:
			t.Errorf("%s: Verify = %v, want success", tc.name, err)
		case tc.wantCode != "" && (!errors.As(err, &e) || e.Code != tc.wantCode):
			t.Errorf("%s: Verify = %v, want %s", tc.name, err, tc.wantCode)
		}
	}
}

type storeFunc func(string) (Credential, bool)

func (f storeFunc) Lookup(id string) (Credential, bool) { return f(id) }
