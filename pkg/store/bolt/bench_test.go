package bolt

import (
	"context"
	"testing"
	"time"

	"github.com/acmera/acmera/pkg/acme"
	"github.com/acmera/acmera/pkg/core"
)

// benchIssue runs the store side of one issuance: newOrder, a challenge
// answered and validated, finalize begun and completed (5 transitions).
func benchIssue(ctx context.Context, b *testing.B, s *Store, acct *core.Account, now time.Time) {
	o := &core.Order{ID: core.NewID(), AccountID: acct.ID, Profile: "acme", Status: core.StatusPending,
		Expires: now.Add(time.Hour), Identifiers: []acme.Identifier{{Type: acme.IdentifierDNS, Value: "svc.team.internal"}},
		CreatedAt: now}
	az := &core.Authorization{ID: core.NewID(), AccountID: acct.ID, OrderID: o.ID, Profile: "acme",
		Identifier: o.Identifiers[0], Status: core.StatusPending, Expires: now.Add(time.Hour), CreatedAt: now,
		Challenges: []core.Challenge{
			{ID: core.NewID(), Type: acme.ChallengeHTTP01, Token: core.NewToken(), Status: core.StatusPending},
			{ID: core.NewID(), Type: acme.ChallengeDNS01, Token: core.NewToken(), Status: core.StatusPending},
		}}
	o.AuthzIDs = []string{az.ID}
	ch := az.Challenges[0].ID
	cert := &core.Certificate{AccountID: acct.ID, Profile: "acme", Serial: o.ID, Chain: make([]byte, 2048),
		NotBefore: now, NotAfter: now.Add(24 * time.Hour), Status: core.StatusValid, CreatedAt: now}
	steps := []func() error{
		func() error { return s.CreateOrder(ctx, o, []*core.Authorization{az}) },
		func() error { _, err := s.MarkChallengeProcessing(ctx, az.ID, ch); return err },
		func() error {
			_, err := s.RecordValidation(ctx, core.ValidationResult{AuthzID: az.ID, ChallengeID: ch, ValidatedAt: now})
			return err
		},
		func() error { _, err := s.BeginFinalize(ctx, o.ID, make([]byte, 400), now); return err },
		func() error { _, err := s.CompleteFinalize(ctx, o.ID, cert); return err },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			b.Error(err)
			return
		}
	}
}

// BenchmarkIssuance measures issuances per second through the store with
// many concurrent clients, fsync included: one op is one issuance.
func BenchmarkIssuance(b *testing.B) {
	s, _ := openTemp(b)
	b.Cleanup(func() { _ = s.Close() })
	ctx := b.Context()
	now := time.Now().UTC()
	acct := &core.Account{ID: core.NewID(), KeyThumbprint: core.NewID(), Status: core.StatusValid, CreatedAt: now}
	if err := s.CreateAccount(ctx, acct); err != nil {
		b.Fatal(err)
	}
	b.SetParallelism(32) // 32 goroutines per GOMAXPROCS, like concurrent ACME clients
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			benchIssue(ctx, b, s, acct, now)
		}
	})
}

// BenchmarkGetOrder measures the read path (POST-as-GET polling).
func BenchmarkGetOrder(b *testing.B) {
	s, _ := openTemp(b)
	b.Cleanup(func() { _ = s.Close() })
	ctx := b.Context()
	now := time.Now().UTC()
	acct := &core.Account{ID: core.NewID(), KeyThumbprint: core.NewID(), Status: core.StatusValid, CreatedAt: now}
	if err := s.CreateAccount(ctx, acct); err != nil {
		b.Fatal(err)
	}
	benchIssue(ctx, b, s, acct, now)
	ids, err := s.ListOrders(ctx, acct.ID, 1)
	if err != nil || len(ids) != 1 {
		b.Fatal(ids, err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.GetOrder(ctx, ids[0]); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
