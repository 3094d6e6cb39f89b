package bolt

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/acmera/acmera/pkg/acme"
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
