package nonce

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/acmera/acmera/pkg/store"
)

type memSet struct {
	mu   sync.Mutex
	used map[string]bool
}

func (m *memSet) RedeemNonce(_ context.Context, n string, _ time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.used[n] {
		return store.ErrConflict
	}
	m.used[n] = true
	return nil
}

func newService(t *testing.T, now *time.Time) *Service {
	t.Helper()
	s, err := New(Config{Key: NewKey(), Used: &memSet{used: map[string]bool{}}, Lifetime: time.Hour, Clock: func() time.Time { return *now }})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRedeem(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := newService(t, &now)
	other := newService(t, &now)
	ctx := context.Background()

	n := s.Issue()
	if err := s.Redeem(ctx, n); err != nil {
		t.Fatalf("first redeem: %v", err)
	}
	if err := s.Redeem(ctx, n); !errors.Is(err, ErrInvalid) {
		t.Fatalf("replay: got %v, want ErrInvalid", err)
	}

	tampered := []byte(s.Issue())
	tampered[3] ^= 1
	forged := other.Issue()
	expired := s.Issue()
	for name, n := range map[string]string{
		"empty": "", "garbage": "not-a-nonce!", "tampered": string(tampered),
		"other key": forged, "truncated": s.Issue()[:20],
	} {
		t.Run(name, func(t *testing.T) {
			if err := s.Redeem(ctx, n); !errors.Is(err, ErrInvalid) {
				t.Fatalf("got %v, want ErrInvalid", err)
			}
		})
	}
	now = now.Add(61 * time.Minute)
	if err := s.Redeem(ctx, expired); !errors.Is(err, ErrInvalid) {
		t.Fatalf("expired: got %v, want ErrInvalid", err)
	}
	if err := s.Redeem(ctx, s.Issue()); err != nil {
		t.Fatalf("fresh after clock moved: %v", err)
	}
}

func TestNewRejectsBadKey(t *testing.T) {
	if _, err := New(Config{Key: []byte("short"), Used: &memSet{}}); err == nil {
		t.Fatal("short key accepted")
	}
}

func BenchmarkIssueRedeem(b *testing.B) {
	now := time.Now()
	s, _ := New(Config{Key: NewKey(), Used: &memSet{used: map[string]bool{}}, Clock: func() time.Time { return now }})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Redeem(ctx, s.Issue()); err != nil {
			b.Fatal(err)
		}
	}
}

// A nonce's last character carries 2 spare bits (32 bytes in 43 base64url
// characters). Spellings that differ only there decode to the same sealed
// bytes; they must not count as other, unused nonces.
func TestRedeemRefusesSpareBitVariants(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := newService(t, &now)
	ctx := context.Background()
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	n := s.Issue()
	if len(n) != 43 {
		t.Fatalf("nonce %q has %d characters, want 43", n, len(n))
	}
	last := strings.IndexByte(alphabet, n[42])
	if last&3 != 0 {
		t.Fatalf("issued nonce %q has spare bits set", n)
	}
	if err := s.Redeem(ctx, n); err != nil {
		t.Fatalf("first redeem: %v", err)
	}
	for bits := 1; bits < 4; bits++ {
		variant := n[:42] + string(alphabet[last|bits])
		if err := s.Redeem(ctx, variant); !errors.Is(err, ErrInvalid) {
			t.Fatalf("variant %q (spare bits %02b): got %v, want ErrInvalid", variant, bits, err)
		}
	}
}
