package wfe

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"testing"
)

// BenchmarkJWSVerify measures what every POST pays to check its JWS
// (RFC 7515 §5.2): parse the flattened JSON and the protected header,
// then verify the ES256 signature over the signing input.
func BenchmarkJWSVerify(b *testing.B) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	prot := b64([]byte(`{"alg":"ES256","kid":"https://acme.example/acme/acme/account/a1b2c3","nonce":"bm9uY2Vub25jZW5vbmNlbm9uY2U","url":"https://acme.example/acme/acme/authz/d4e5f6"}`))
	payload := b64([]byte(`{}`))
	h := sha256.Sum256([]byte(prot + "." + payload))
	r, s, err := ecdsa.Sign(rand.Reader, key, h[:])
	if err != nil {
		b.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	body, _ := json.Marshal(map[string]string{"protected": prot, "payload": payload, "signature": b64(sig)})
	b.Run("parse", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := parseFlattened(body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parse+verify", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			f, hdr, err := parseFlattened(body)
			if err != nil {
				b.Fatal(err)
			}
			if !verifySignature(&key.PublicKey, hdr.Alg, f) {
				b.Fatal("signature does not verify")
			}
		}
	})
}
