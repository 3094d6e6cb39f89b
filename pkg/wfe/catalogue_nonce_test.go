package wfe_test

import (
	"net/http"
	"strings"
)

// orderWithNonce sends A's newOrder with nonce n.
func (f *fixture) orderWithNonce(n any) *response {
	return f.orderWith(func(h map[string]any) { h["nonce"] = n })
}

// usedNonce returns a nonce that A just redeemed with a read of its
// account, which changes nothing stored.
func (f *fixture) usedNonce() string {
	h := f.kidHeader(f.a.kid)
	if r := f.a.post(f.a.kid, h, nil); r.status != http.StatusOK {
		f.t.Fatalf("first use of a nonce: %d %s", r.status, r.body)
	}
	return h["nonce"].(string)
}

func nonceCases() []hostile {
	return []hostile{
		{name: "nonce/missing", want: bad(400, "badNonce", "nonce"),
			send: func(f *fixture) *response { return f.orderWith(func(h map[string]any) { delete(h, "nonce") }) }},
		{name: "nonce/empty", want: bad(400, "badNonce", "nonce"),
			send: func(f *fixture) *response { return f.orderWithNonce("") }},
		{name: "nonce/not a string", want: bad(400, "malformed", "nonce"),
			send: func(f *fixture) *response { return f.orderWithNonce(12345) }},
		{name: "nonce/garbage", want: bad(400, "badNonce", "nonce"),
			send: func(f *fixture) *response { return f.orderWithNonce("!!not a nonce!!") }},
		{name: "nonce/forged", want: bad(400, "badNonce", "nonce"),
			send: func(f *fixture) *response { return f.orderWithNonce(strings.Repeat("A", 43)) }},
		{name: "nonce/truncated", want: bad(400, "badNonce", "nonce"),
			send: func(f *fixture) *response { n := f.a.nonce(); return f.orderWithNonce(n[:len(n)-1]) }},
		{name: "nonce/padded", want: bad(400, "badNonce", "nonce"),
			send: func(f *fixture) *response { return f.orderWithNonce(f.a.nonce() + "=") }},
		{name: "nonce/reused", firestore: true, want: bad(400, "badNonce", "nonce"),
			send: func(f *fixture) *response { return f.orderWithNonce(f.usedNonce()) }},
		// The nonce's last character carries two spare bits: a lenient
		// decoder reads the altered text as the same nonce, whose seal then
		// verifies, while the store records the text as a new one.
		{name: "nonce/altered spare bits", firestore: true, want: bad(400, "badNonce", "nonce"),
			send: func(f *fixture) *response { return f.orderWithNonce(alterSpareBits(f.a.nonce())) }},
		{name: "nonce/used, replayed with altered spare bits", want: bad(400, "badNonce", "nonce"),
			send: func(f *fixture) *response { return f.orderWithNonce(alterSpareBits(f.usedNonce())) }},
	}
}
