package bolt

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/acmera/acmera/pkg/acme"
	"github.com/acmera/acmera/pkg/core"
)

// TestDecodeTruncated checks that every strict prefix of a stored document
// fails to decode instead of panicking or decoding garbage.
func TestDecodeTruncated(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC)
	order := orderDoc{id: "o", accountID: "a", profile: "acme", status: "pending", expires: now,
		idents: []acme.Identifier{{Type: "dns", Value: "a.example"}}, authzIDs: []string{"z1", "z2"},
		errJSON: []byte(`{"type":"x"}`), csr: []byte{1, 2}, createdAt: now}
	authz := authzDoc{id: "z", accountID: "a", identType: "dns", identValue: "a.example", wildcard: true,
		status: "valid", expires: now, challenges: []challengeDoc{{id: "c", typ: "http-01", token: "t", status: "valid", validated: now}}}
	acct := accountDoc{id: "a", thumbprint: "tp", key: []byte("{}"), contact: []string{"mailto:x"}, status: "valid", createdAt: now}
	cert := certDoc{id: "c", serial: "ff", chain: []byte("pem"), notAfter: now, status: "valid", reason: 4}
	compact := certDoc{id: "c", serial: "ff", leafDER: []byte{0x30, 0}, tailKey: make([]byte, 32), notAfter: now, status: "valid"}
	replacing := order
	replacing.replaces, replacing.replacesCertID, replacing.backend = "aki.serial", "c", "vault"
	replacing.lifetimeCap, replacing.caResource = 12*time.Hour, "arn:x"
	ids := authzDoc{id: core.NewID(), accountID: core.NewID(), orderID: core.NewID(), profile: "acme", identType: "dns",
		identValue: "a.example", status: "pending", expires: now, challenges: []challengeDoc{
			{id: core.NewID(), typ: "http-01", token: core.NewToken(), status: "pending"},
			{id: "not-an-id-but-22-chars", typ: "dns-01", token: "AAAAAAAAAAAAAAAAAAAAAB", status: "pending"}}}
	replaced := cert
	replaced.replacedBy, replaced.backend = "o2", "vault"
	tests := []struct {
		name string
		enc  []byte
		dec  func() decoder
		// older are the lengths of the same document in the layouts
		// before its trailing fields (reader.more), which decode.
		older []int
	}{
		{"order", order.encode(), func() decoder { return new(orderDoc) }, nil},
		{"authz", authz.encode(), func() decoder { return new(authzDoc) }, nil},
		{"authz with IDs", ids.encode(), func() decoder { return new(authzDoc) }, nil},
		{"account", acct.encode(), func() decoder { return new(accountDoc) }, nil},
		{"cert", cert.encode(), func() decoder { return new(certDoc) }, nil},
		{"compact cert", compact.encode(), func() decoder { return new(certDoc) }, nil},
		{"replacing order", replacing.encode(), func() decoder { return new(orderDoc) }, []int{len(order.encode())}},
		{"replaced cert", replaced.encode(), func() decoder { return new(certDoc) }, []int{len(cert.encode())}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.dec().decode(tc.enc); err != nil {
				t.Fatalf("decode(full): %v", err)
			}
			for n := range len(tc.enc) {
				if slices.Contains(tc.older, n) {
					if err := tc.dec().decode(tc.enc[:n]); err != nil {
						t.Errorf("decode(the %d bytes of the older layout) = %v", n, err)
					}
					continue
				}
				if err := tc.dec().decode(tc.enc[:n]); !errors.Is(err, errCorrupt) {
					t.Errorf("decode(first %d of %d bytes) = %v, want errCorrupt", n, len(tc.enc), err)
				}
			}
		})
	}
}

func TestTimeRoundTrip(t *testing.T) {
	for _, tm := range []time.Time{{}, time.Unix(0, 0), time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC),
		time.Date(2262, 4, 12, 0, 0, 0, 0, time.UTC), time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)} {
		w := &writer{}
		w.time(tm)
		r := &reader{b: w.b}
		if got := r.time(); r.err != nil || !got.Equal(tm) || got.IsZero() != tm.IsZero() {
			t.Errorf("time %v round-tripped to %v (%v)", tm, got, r.err)
		}
	}
}

// TestCompactStrings checks that strings round-trip in the compact form,
// IDs taking 17 bytes, and that near-IDs (non-canonical base64url, other
// lengths) are kept as text.
func TestCompactStrings(t *testing.T) {
	id := core.NewID()
	for _, tc := range []struct {
		s    string
		size int
	}{
		{"", 1}, {"acme", 5}, {id, 17}, {id[:21], 22}, {id + "x", 24},
		{"AAAAAAAAAAAAAAAAAAAAAB", 23}, // decodes, but not back to itself
		{"not-an-id-but-22-chars", 23}, {"!!!!!!!!!!!!!!!!!!!!!!", 23},
	} {
		w := newWriter(0)
		w.str(tc.s)
		if got := len(w.b) - 1; got != tc.size {
			t.Errorf("str(%q) took %d bytes, want %d", tc.s, got, tc.size)
		}
		r, _ := newReaderAny(w.b)
		if got := r.str(); r.err != nil || got != tc.s || len(r.b) != 0 {
			t.Errorf("str(%q) read back %q (%v, %d bytes left)", tc.s, got, r.err, len(r.b))
		}
	}
}
