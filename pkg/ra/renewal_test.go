package ra

import (
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/acmera/acmera/pkg/core"
	"github.com/acmera/acmera/pkg/problem"
)

func TestRenewalWindow(t *testing.T) {
	nb := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
	now := nb.Add(2 * time.Hour)
	c := &core.Certificate{NotBefore: nb, NotAfter: nb.Add(24 * time.Hour), Status: core.StatusValid}
	w := renewalWindow(c, now)
	if !w.Start.Equal(nb.Add(15*time.Hour)) || !w.End.Equal(nb.Add(17*time.Hour)) || w.RetryAfter != 3*time.Hour {
		t.Errorf("24 h certificate: window %s to %s, retry %s; want 15 h to 17 h, 3 h", w.Start, w.End, w.RetryAfter)
	}
	c.Status = core.StatusRevoked
	if w := renewalWindow(c, now); !w.End.Before(now) || !w.Start.Before(w.End) {
		t.Errorf("revoked: window %s to %s, want one already past at %s", w.Start, w.End, now)
	}
	short := &core.Certificate{NotBefore: nb, NotAfter: nb.Add(4 * time.Minute), Status: core.StatusValid}
	if w := renewalWindow(short, now); w.RetryAfter != time.Minute {
		t.Errorf("4 min certificate: retry %s, want the 1 min floor", w.RetryAfter)
	}
}

func TestParseCertID(t *testing.T) {
	tests := []struct {
		id     string
		serial int64
		ok     bool
	}{
		{"aGVsbG8.AQI", 0x0102, true},
		{"aGVsbG8.AIA", 0x80, true},                        // a leading zero keeps 0x80 positive
		{"aGVsbG8.gA", 0, false},                           // 0x80 alone is negative
		{"aGVsbG8.AAE", 0, false},                          // a needless leading zero is not DER
		{"aGVsbG8", 0, false},                              // no serial
		{"aGVsbG8.AQI.AQI", 0, false},                      // three parts
		{"aGVsbG8=.AQI", 0, false},                         // padding
		{"aGVsbG8.AQ+", 0, false},                          // not base64url
		{".AQI", 0, false},                                 // no key identifier
		{"aGVsbG8.AQIDBAUGBwgJCgsMDQ4PEBESExQV", 0, false}, // 21 octets
	}
	for _, tc := range tests {
		aki, serial, err := parseCertID(tc.id)
		if !tc.ok {
			var p *problem.Problem
			if !errors.As(err, &p) || p.Type != problem.Malformed {
				t.Errorf("%q: %v, want malformed", tc.id, err)
			}
			continue
		}
		if err != nil || string(aki) != "hello" || serial.Cmp(big.NewInt(tc.serial)) != 0 {
			t.Errorf("%q: %q %v %v, want hello and %x", tc.id, aki, serial, err, tc.serial)
		}
	}
}
