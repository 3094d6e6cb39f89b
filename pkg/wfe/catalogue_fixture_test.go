package wfe_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

// fixture is the state the catalogue attacks, built once per stack:
// account A with a certificate, a ready order, a pending order; account B
// with a pending order; account C, deactivated.
type fixture struct {
	t       *testing.T // the running case
	s       *stack
	a, b, c *rawClient

	certKey  *ecdsa.PrivateKey // the key of A's certificate
	certDER  []byte
	certURL  string
	validURL string // A's finalized order

	readyURL string // A's second order for 127.0.0.1, ready by reuse
	ready    wireOrder

	pendingURL, pendingAuthz, pendingChall string // A's pending order for pending.example
	bOrderURL, bAuthz, bChall              string // B's pending order for b.example

	// ids are the internal IDs of the fixture's accounts and resources, and
	// its challenge tokens: a detail may name one only if the request did.
	ids []string
}

func newFixture(t *testing.T, s *stack) *fixture {
	t.Helper()
	e := s.env
	f := &fixture{t: t, s: s, a: newRawClient(t, e), b: newRawClient(t, e), c: newRawClient(t, e)}
	for _, cl := range []*rawClient{f.a, f.b, f.c} {
		cl.register()
		f.ids = append(f.ids, lastSegment(cl.kid))
	}
	if r := f.c.do(f.c.kid, map[string]any{"status": "deactivated"}); r.status != http.StatusOK {
		t.Fatalf("deactivate C: %d %s", r.status, r.body)
	}

	var o wireOrder
	f.validURL, o = readyOrder(t, e, f.a)
	f.certKey, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	r := f.a.do(o.Finalize, csrFor(t, f.certKey, []string{"127.0.0.1"}))
	json.Unmarshal(r.body, &o)
	if r.status != http.StatusOK || o.Status != "valid" {
		t.Fatalf("finalize: %d %s", r.status, r.body)
	}
	f.certURL = o.Certificate
	f.certDER = pemLeaf(t, f.a.do(f.certURL, nil).body)
	f.addIDs(f.validURL, o)
	f.ids = append(f.ids, lastSegment(f.certURL))

	r = f.a.do(f.a.base+"/new-order", idents("ip", "127.0.0.1"))
	f.readyURL = r.header.Get("Location")
	json.Unmarshal(r.body, &f.ready)
	if r.status != http.StatusCreated || f.ready.Status != "ready" {
		t.Fatalf("second order for 127.0.0.1: %d %s; want ready by authorization reuse", r.status, r.body)
	}
	f.addIDs(f.readyURL, f.ready)

	f.pendingURL, f.pendingAuthz, f.pendingChall = f.pendingOrder(f.a, "pending.example")
	f.bOrderURL, f.bAuthz, f.bChall = f.pendingOrder(f.b, "b.example")
	return f
}

// pendingOrder creates a pending order of cl for name and returns its URL,
// its authorization's and its http-01 challenge's.
func (f *fixture) pendingOrder(cl *rawClient, name string) (order, authz, chall string) {
	f.t.Helper()
	r := cl.do(cl.base+"/new-order", idents("dns", name))
	if r.status != http.StatusCreated {
		f.t.Fatalf("new-order %s: %d %s", name, r.status, r.body)
	}
	var o wireOrder
	json.Unmarshal(r.body, &o)
	order, authz = r.header.Get("Location"), o.Authorizations[0]
	f.addIDs(order, o)
	var az wireAuthz
	json.Unmarshal(cl.do(authz, nil).body, &az)
	for _, ch := range az.Challenges {
		f.ids = append(f.ids, lastSegment(ch.URL), ch.Token)
		if ch.Type == "http-01" {
			chall = ch.URL
		}
	}
	if chall == "" {
		f.t.Fatalf("no http-01 challenge for %s", name)
	}
	return order, authz, chall
}

func (f *fixture) addIDs(orderURL string, o wireOrder) {
	f.ids = append(f.ids, lastSegment(orderURL))
	for _, az := range o.Authorizations {
		f.ids = append(f.ids, lastSegment(az))
	}
}

// bind points the fixture's clients at the running (sub)test.
func (f *fixture) bind(t *testing.T) {
	f.t = t
	f.a.t, f.b.t, f.c.t = t, t, t
}

// client returns a new, unregistered client of the stack.
func (f *fixture) client() *rawClient { return newRawClient(f.t, f.s.env) }

// finalizeReady finalizes A's ready order with a good CSR: the refused
// CSRs left it usable.
func (f *fixture) finalizeReady(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	r := f.a.do(f.ready.Finalize, csrFor(t, key, []string{"127.0.0.1"}))
	var o wireOrder
	json.Unmarshal(r.body, &o)
	if r.status != http.StatusOK || o.Status != "valid" {
		t.Fatalf("finalize of the ready order after the catalogue: %d %s", r.status, r.body)
	}
}

func lastSegment(u string) string { return u[strings.LastIndexByte(u, '/')+1:] }

func idents(pairs ...string) map[string]any {
	l := []map[string]string{}
	for i := 0; i+1 < len(pairs); i += 2 {
		l = append(l, map[string]string{"type": pairs[i], "value": pairs[i+1]})
	}
	return map[string]any{"identifiers": l}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// signProtected returns a flattened JWS over the protected header and payload
// exactly as given, signed by key for alg. An algorithm the key cannot
// sign gets a signature from its nearest one, for cases the server must
// refuse before it looks at the signature.
func signProtected(t *testing.T, key crypto.Signer, alg string, protected, payload []byte) []byte {
	t.Helper()
	input := []byte(b64(protected) + "." + b64(payload))
	var sig []byte
	var err error
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		var digest []byte
		switch alg {
		case "ES384":
			d := sha512.Sum384(input)
			digest = d[:]
		case "ES512":
			d := sha512.Sum512(input)
			digest = d[:]
		default:
			d := sha256.Sum256(input)
			digest = d[:]
		}
		r, s, serr := ecdsa.Sign(rand.Reader, k, digest)
		if serr != nil {
			t.Fatal(serr)
		}
		size := (k.Curve.Params().BitSize + 7) / 8
		sig = make([]byte, 2*size)
		r.FillBytes(sig[:size])
		s.FillBytes(sig[size:])
	case *rsa.PrivateKey:
		d := sha256.Sum256(input)
		if alg == "PS256" {
			sig, err = rsa.SignPSS(rand.Reader, k, crypto.SHA256, d[:], nil)
		} else {
			sig, err = rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, d[:])
		}
	case ed25519.PrivateKey:
		sig = ed25519.Sign(k, input)
	default:
		t.Fatalf("signProtected: key type %T", key)
	}
	if err != nil {
		t.Fatal(err)
	}
	if alg == "HS256" {
		m := hmac.New(sha256.New, []byte("a shared secret"))
		m.Write(input)
		sig = m.Sum(nil)
	}
	return mustJSON(map[string]string{"protected": b64(protected), "payload": b64(payload), "signature": b64(sig)})
}

// signJWS signs payload with hdr as the protected header.
func signJWS(t *testing.T, key crypto.Signer, alg string, hdr map[string]any, payload []byte) []byte {
	return signProtected(t, key, alg, mustJSON(hdr), payload)
}

// jwkOf is the public JWK of a key go-jose can encode.
func jwkOf(t *testing.T, pub crypto.PublicKey) map[string]any {
	t.Helper()
	b, err := (&jose.JSONWebKey{Key: pub}).MarshalJSON()
	if err != nil {
		t.Fatalf("jwk: %v", err)
	}
	var m map[string]any
	json.Unmarshal(b, &m)
	return m
}

// ecJWK writes an EC JWK by hand, for curves go-jose does not encode.
func ecJWK(crv string, k *ecdsa.PublicKey) map[string]any {
	size := (k.Curve.Params().BitSize + 7) / 8
	x, y := make([]byte, size), make([]byte, size)
	k.X.FillBytes(x)
	k.Y.FillBytes(y)
	return map[string]any{"kty": "EC", "crv": crv, "x": b64(x), "y": b64(y)}
}

// rsaJWK writes an RSA JWK with a chosen modulus and exponent.
func rsaJWK(n *big.Int, e int) map[string]any {
	return map[string]any{"kty": "RSA", "n": b64(n.Bytes()), "e": b64(big.NewInt(int64(e)).Bytes())}
}

// newAccountWith sends newAccount signed by key, embedding jwk.
func (f *fixture) newAccountWith(key crypto.Signer, alg string, jwk map[string]any, payload any) *response {
	cl := f.client()
	url := cl.base + "/new-account"
	hdr := map[string]any{"alg": alg, "nonce": cl.nonce(), "url": url, "jwk": jwk}
	return cl.postRaw(url, "application/jose+json", signJWS(f.t, key, alg, hdr, mustJSON(payload)))
}

// kidHeader is A's protected header for url, with a fresh nonce.
func (f *fixture) kidHeader(url string) map[string]any { return f.a.header(url) }

// oddRandom returns a random odd number of exactly bits bits.
func oddRandom(bits int) *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), uint(bits-1)))
	n.SetBit(n, bits-1, 1)
	return n.SetBit(n, 0, 1)
}

// pemLeaf is the first certificate of a PEM chain.
func pemLeaf(t *testing.T, chain []byte) []byte {
	t.Helper()
	b, _ := pem.Decode(chain)
	if b == nil {
		t.Fatalf("no PEM in %q", chain)
	}
	return b.Bytes
}
