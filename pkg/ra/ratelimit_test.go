package ra

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/acmera/acmera/pkg/core"
	"github.com/acmera/acmera/pkg/policy"
	"github.com/acmera/acmera/pkg/problem"
)

func TestHourlyLimiter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newHourlyLimiter()
	for i := 0; i < 3; i++ {
		if ok, _ := l.allow("a", 3, now); !ok {
			t.Fatalf("order %d refused under the limit", i)
		}
	}
	ok, until := l.allow("a", 3, now.Add(time.Minute))
	if ok || !until.Equal(now.Add(time.Hour)) {
		t.Fatalf("fourth order: %v until %v", ok, until)
	}
	if ok, _ := l.allow("b", 3, now); !ok {
		t.Fatal("another account was limited")
	}
	if ok, _ := l.allow("a", 3, now.Add(time.Hour)); !ok {
		t.Fatal("limit not reset after the window")
	}
	if ok, _ := l.allow("a", -1, now); !ok {
		t.Fatal("negative limit must not limit")
	}
}

// newAccountReq returns a newAccount request for a fresh key from source.
func newAccountReq(source string) NewAccountRequest {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jwk, _ := (&jose.JSONWebKey{Key: key.Public()}).MarshalJSON()
	return NewAccountRequest{Profile: "acme", Key: jwk, Thumbprint: core.NewID(), Source: source}
}

// New accounts are limited per client address and hour; a key that has an
// account still gets it when its address is limited (RFC 8555 §7.3.1).
func TestNewAccountRateLimit(t *testing.T) {
	f := newFixture(t, 0)
	r, err := New(Config{Store: f.store, Queue: f.q, Validator: f.va, Issuer: f.ca, Policy: policy.AllowAny(),
		Clock: func() time.Time { return f.now }, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		NewAccountsPerHour: 2})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	first := newAccountReq("192.0.2.1")
	for _, req := range []NewAccountRequest{first, newAccountReq("192.0.2.1")} {
		if _, created, err := r.NewAccount(ctx, req); err != nil || !created {
			t.Fatalf("account under the limit: %v %v", created, err)
		}
	}
	_, _, err = r.NewAccount(ctx, newAccountReq("192.0.2.1"))
	p, ok := problem.Of(err)
	if !ok || p.Type != problem.RateLimited || p.Status != 429 || p.RetryAfter != time.Hour ||
		!strings.Contains(p.Detail, "more than 2 accounts were created from 192.0.2.1 in an hour") {
		t.Fatalf("third account: %+v, want 429 rateLimited naming the address, retry after 1h", err)
	}
	if a, created, err := r.NewAccount(ctx, first); err != nil || created || a == nil {
		t.Fatalf("existing key while limited: %v %v %v, want its account", a, created, err)
	}
	if _, created, err := r.NewAccount(ctx, newAccountReq("192.0.2.2")); err != nil || !created {
		t.Fatalf("another address: %v %v", created, err)
	}
	f.now = f.now.Add(time.Hour)
	if _, created, err := r.NewAccount(ctx, newAccountReq("192.0.2.1")); err != nil || !created {
		t.Fatalf("after the window: %v %v", created, err)
	}
}
