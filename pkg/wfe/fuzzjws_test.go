package wfe

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/acmera/acmera/pkg/ca"
	"github.com/acmera/acmera/pkg/core"
	"github.com/acmera/acmera/pkg/nonce"
	"github.com/acmera/acmera/pkg/policy"
	"github.com/acmera/acmera/pkg/problem"
	"github.com/acmera/acmera/pkg/queue"
	"github.com/acmera/acmera/pkg/ra"
	"github.com/acmera/acmera/pkg/store/bolt"
	"github.com/acmera/acmera/pkg/va"
)

// The JWS fuzz targets run verify on a real WFE and RA over a bbolt store
// holding one account, "fuzz", whose key is fuzzECKey. Keys, the nonce key
// and the clock are fixed, so the corpus files under testdata/fuzz hold
// requests that verify on every run: the nonce redemption set accepts a
// nonce any number of times.
const (
	fuzzBase      = "https://acmera.test"
	fuzzURL       = fuzzBase + "/acme/acme/new-order"
	fuzzKID       = fuzzBase + "/acme/acme/account/fuzz"
	fuzzECScalar  = "c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721"
	fuzzEd25519   = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
	fuzzNonceKeyH = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
)

// fuzzMaxBody bounds request bodies below the default, so that a seed
// that exceeds it stays small.
const fuzzMaxBody = 4 << 10

var fuzzClock = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

type fuzzKeys struct {
	ec *ecdsa.PrivateKey
	ed ed25519.PrivateKey
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func newFuzzKeys(tb testing.TB) fuzzKeys {
	ec, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), mustHex(fuzzECScalar))
	if err != nil {
		tb.Fatal(err)
	}
	return fuzzKeys{ec: ec, ed: ed25519.NewKeyFromSeed(mustHex(fuzzEd25519))}
}

// Fakes for the RA's dependencies that verify never reaches.
type (
	fuzzQueue     struct{}
	fuzzValidator struct{}
	fuzzIssuer    struct{}
	// replayableNonces records no redemption, so a fixed nonce redeems again.
	replayableNonces struct{}
)

func (fuzzQueue) Enqueue(context.Context, queue.Task) error                 { return nil }
func (fuzzValidator) Validate(context.Context, va.Request) *problem.Problem { return nil }
func (fuzzIssuer) Issue(context.Context, ca.IssueRequest) (*ca.Issued, error) {
	return nil, errors.New("fuzzIssuer: not used")
}
func (fuzzIssuer) Revoke(context.Context, ca.RevokeRequest) error {
	return errors.New("fuzzIssuer: not used")
}
func (fuzzIssuer) Roots(context.Context) ([][]byte, error) {
	return nil, errors.New("fuzzIssuer: not used")
}
func (replayableNonces) RedeemNonce(context.Context, string, time.Time) error { return nil }

func fuzzNonces(tb testing.TB) *nonce.Service {
	s, err := nonce.New(nonce.Config{Key: mustHex(fuzzNonceKeyH), Used: replayableNonces{}, Clock: func() time.Time { return fuzzClock }})
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// newFuzzWFE returns a WFE whose store holds the account "fuzz" (key
// keys.ec) at fuzzKID.
func newFuzzWFE(tb testing.TB, dir string, keys fuzzKeys) *WFE {
	st, err := bolt.Open(filepath.Join(dir, "fuzz.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	jwk := &jose.JSONWebKey{Key: keys.ec.Public()}
	keyJSON, _ := jwk.MarshalJSON()
	tp, _ := thumbprint(jwk)
	acct := &core.Account{ID: "fuzz", KeyThumbprint: tp, Key: keyJSON, Status: core.StatusValid, CreatedAt: fuzzClock, Profile: "acme"}
	if err := st.CreateAccount(context.Background(), acct); err != nil {
		tb.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	r, err := ra.New(ra.Config{Store: st, Queue: fuzzQueue{}, Validator: fuzzValidator{}, Issuer: fuzzIssuer{},
		Policy: policy.AllowAny(), Clock: func() time.Time { return fuzzClock }, Logger: log})
	if err != nil {
		tb.Fatal(err)
	}
	w, err := New(Config{RA: r, Nonces: fuzzNonces(tb), BaseURL: fuzzBase, Logger: log, MaxBodyBytes: fuzzMaxBody})
	if err != nil {
		tb.Fatal(err)
	}
	return w
}

// fuzzSign signs protected || '.' || payload (both base64url) with the EC
// key (ES256) or the Ed25519 key (EdDSA).
func fuzzSign(keys fuzzKeys, ed bool, protected, payload string) []byte {
	input := []byte(protected + "." + payload)
	if ed {
		return ed25519.Sign(keys.ed, input)
	}
	h := sha256.Sum256(input)
	r, s, err := ecdsa.Sign(rand.Reader, keys.ec, h[:])
	if err != nil {
		panic(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return sig
}

// fuzzBody returns the flattened JWS of a protected header and a payload.
func fuzzBody(keys fuzzKeys, ed bool, header, payload []byte) []byte {
	enc := base64.RawURLEncoding.EncodeToString
	prot, pay := enc(header), enc(payload)
	sig := enc(fuzzSign(keys, ed, prot, pay))
	return []byte(`{"protected":"` + prot + `","payload":"` + pay + `","signature":"` + sig + `"}`)
}

// checkVerify runs verify on body and checks its contract: a refusal is a
// 4xx problem with a detail and no result; an acceptance carries the key
// reference mode asks for, and go-jose, verifying the same body with the
// key verify used, accepts it with the same payload.
func checkVerify(t *testing.T, w *WFE, keys fuzzKeys, mode keyMode, body []byte) {
	req := httptest.NewRequest(http.MethodPost, fuzzURL, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/jose+json")
	s, err := w.verify(context.Background(), req, mode)
	if err != nil {
		var p *problem.Problem
		if !errors.As(err, &p) || p.Status < 400 || p.Status > 499 || p.Detail == "" {
			t.Fatalf("verify(%q): %v: want a 4xx problem with a detail", body, err)
		}
		if s != nil {
			t.Fatalf("verify(%q) returned both %v and a payload %q", body, err, s.payload)
		}
		return
	}
	var key crypto.PublicKey
	switch {
	case s.account != nil && s.jwk == nil && mode != byJWK:
		key = keys.ec.Public()
	case s.jwk != nil && s.account == nil && mode != byKID:
		key = s.jwk.Key
	default:
		t.Fatalf("verify(%q) in mode %d: account %v, jwk %v", body, mode, s.account, s.jwk)
	}
	obj, err := jose.ParseSigned(string(body), algorithms)
	if err != nil {
		t.Fatalf("verify accepted %q, which go-jose refuses: %v", body, err)
	}
	got, err := obj.Verify(key)
	if err != nil || !bytes.Equal(got, s.payload) {
		t.Fatalf("verify accepted %q with payload %q; go-jose: %q, %v", body, s.payload, got, err)
	}
}

// FuzzVerifyJWS checks the JWS reader and verify (RFC 8555 §6.2-6.5) on
// any request body: see checkVerify. mode selects the key reference the
// resource requires (kid, jwk, either). Seeds: testdata/fuzz/FuzzVerifyJWS
// (a valid request per mode, two signatures, the general serialization,
// repeated members, b64:false, crit, alg none, oversized and empty
// fields).
func FuzzVerifyJWS(f *testing.F) {
	keys := newFuzzKeys(f)
	w := newFuzzWFE(f, f.TempDir(), keys)
	n := fuzzNonces(f).Issue()
	kidHdr := []byte(`{"alg":"ES256","kid":"` + fuzzKID + `","nonce":"` + n + `","url":"` + fuzzURL + `"}`)
	f.Add(uint8(byKID), fuzzBody(keys, false, kidHdr, []byte(`{"identifiers":[{"type":"dns","value":"a.example"}]}`)))
	f.Add(uint8(byKID), fuzzBody(keys, false, kidHdr, nil))
	f.Add(uint8(byJWK), []byte(`{"protected":"","payload":"","signature":""}`))
	f.Add(uint8(byEither), []byte(`{"signatures":[{"protected":"e30","signature":""}],"payload":""}`))
	f.Add(uint8(byJWK), []byte(`{"protected":"eyJhbGciOiJub25lIn0","payload":"e30","signature":""}`))
	f.Fuzz(func(t *testing.T, mode uint8, body []byte) {
		checkVerify(t, w, keys, keyMode(mode%3), body)
	})
}

// FuzzVerifySignedHeader checks verify on requests whose protected header
// and payload are fuzzed and which are then correctly signed with the
// account's EC key (ES256) or an Ed25519 key (EdDSA, ed set), so that the
// header checks after the signature are reached: see checkVerify. Seeds:
// testdata/fuzz/FuzzVerifySignedHeader.
func FuzzVerifySignedHeader(f *testing.F) {
	keys := newFuzzKeys(f)
	w := newFuzzWFE(f, f.TempDir(), keys)
	n := fuzzNonces(f).Issue()
	edJWK, _ := (&jose.JSONWebKey{Key: keys.ed.Public()}).MarshalJSON()
	f.Add(uint8(byKID), false, []byte(`{"alg":"ES256","kid":"`+fuzzKID+`","nonce":"`+n+`","url":"`+fuzzURL+`"}`), []byte(`{}`))
	f.Add(uint8(byJWK), true, []byte(`{"alg":"EdDSA","jwk":`+string(edJWK)+`,"nonce":"`+n+`","url":"`+fuzzURL+`"}`), []byte(`{"termsOfServiceAgreed":true}`))
	f.Add(uint8(byKID), false, []byte(`{"alg":"ES256","kid":"`+fuzzKID+`/x","nonce":"`+n+`","url":"`+fuzzURL+`"}`), []byte(``))
	f.Add(uint8(byEither), true, []byte(`{"alg":"EdDSA","jwk":`+string(edJWK)+`,"kid":"`+fuzzKID+`","nonce":"`+n+`","url":"`+fuzzURL+`"}`), []byte(`{}`))
	f.Add(uint8(byJWK), true, []byte(`{"alg":"EdDSA","jwk":`+string(edJWK)+`,"nonce":"`+n+`","url":"`+fuzzURL+`","b64":false,"crit":["b64"]}`), []byte(`{}`))
	f.Fuzz(func(t *testing.T, mode uint8, ed bool, header, payload []byte) {
		checkVerify(t, w, keys, keyMode(mode%3), fuzzBody(keys, ed, header, payload))
	})
}

// The harness itself: the valid seeds verify, so the targets reach the
// checks after the signature.
func TestFuzzHarnessAccepts(t *testing.T) {
	keys := newFuzzKeys(t)
	w := newFuzzWFE(t, t.TempDir(), keys)
	n := fuzzNonces(t).Issue()
	edJWK, _ := (&jose.JSONWebKey{Key: keys.ed.Public()}).MarshalJSON()
	for _, tc := range []struct {
		mode keyMode
		ed   bool
		hdr  string
	}{
		{byKID, false, `{"alg":"ES256","kid":"` + fuzzKID + `","nonce":"` + n + `","url":"` + fuzzURL + `"}`},
		{byJWK, true, `{"alg":"EdDSA","jwk":` + string(edJWK) + `,"nonce":"` + n + `","url":"` + fuzzURL + `"}`},
	} {
		body := fuzzBody(keys, tc.ed, []byte(tc.hdr), []byte(`{}`))
		req := httptest.NewRequest(http.MethodPost, fuzzURL, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/jose+json")
		if s, err := w.verify(context.Background(), req, tc.mode); err != nil || string(s.payload) != `{}` {
			t.Fatalf("verify(%s) = %v, %v", tc.hdr, s, err)
		}
	}
}
