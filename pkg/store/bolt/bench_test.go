package bolt

import (
	"context"
	"testing"
	"time"

	"github.com/acmera/acmera/pkg/acme"
	"github.com/acmera/acmera/pkg/core"
	"github.com/acmera/acmera/pkg/store"
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

// BenchmarkSpend measures one rate-limit Spend (read the window's count,
// add one, fsync'd commit): serially, and from 32 goroutines per
// GOMAXPROCS on one key (one busy account) and on a key each.
func BenchmarkSpend(b *testing.B) {
	now := time.Now().UTC()
	hot := store.RateLimit{Key: "orders:bench", Max: 1 << 40, Window: time.Hour, Shards: 16}
	run := func(b *testing.B, parallel bool, key func() store.RateLimit) {
		s, _ := openTemp(b)
		b.Cleanup(func() { _ = s.Close() })
		ctx := b.Context()
		b.ReportAllocs()
		if !parallel {
			for b.Loop() {
				if ok, _, err := s.Spend(ctx, key(), 1, now); err != nil || !ok {
					b.Fatal(ok, err)
				}
			}
			return
		}
		b.SetParallelism(32)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			l := key()
			for pb.Next() {
				if ok, _, err := s.Spend(ctx, l, 1, now); err != nil || !ok {
					b.Error(ok, err)
					return
				}
			}
		})
	}
	b.Run("serial", func(b *testing.B) { run(b, false, func() store.RateLimit { return hot }) })
	b.Run("parallel-one-key", func(b *testing.B) { run(b, true, func() store.RateLimit { return hot }) })
	b.Run("parallel-key-each", func(b *testing.B) {
		run(b, true, func() store.RateLimit {
			return store.RateLimit{Key: "orders:" + core.NewID(), Max: 1 << 40, Window: time.Hour}
		})
	})
}

// BenchmarkTransition measures each write of an issuance alone, one
// client at a time: one op is one fsync'd commit with nobody to share it
// (the latency a lone client pays per write). The states it starts from
// are made with the timer stopped.
func BenchmarkTransition(b *testing.B) {
	now := time.Now().UTC()
	type fixture struct {
		o  *core.Order
		az *core.Authorization
	}
	newFixture := func(acct *core.Account) fixture {
		o := &core.Order{ID: core.NewID(), AccountID: acct.ID, Profile: "acme", Status: core.StatusPending,
			Expires: now.Add(time.Hour), Identifiers: []acme.Identifier{{Type: acme.IdentifierDNS, Value: core.NewID() + ".team.internal"}},
			CreatedAt: now}
		az := &core.Authorization{ID: core.NewID(), AccountID: acct.ID, OrderID: o.ID, Profile: "acme",
			Identifier: o.Identifiers[0], Status: core.StatusPending, Expires: now.Add(time.Hour), CreatedAt: now,
			Challenges: []core.Challenge{
				{ID: core.NewID(), Type: acme.ChallengeHTTP01, Token: core.NewToken(), Status: core.StatusPending},
				{ID: core.NewID(), Type: acme.ChallengeDNS01, Token: core.NewToken(), Status: core.StatusPending},
			}}
		o.AuthzIDs = []string{az.ID}
		return fixture{o: o, az: az}
	}
	// Each step takes the fixture from the state the steps before it
	// left; the benchmark of step i runs steps 0..i-1 untimed.
	steps := []struct {
		name string
		run  func(ctx context.Context, s *Store, f fixture) error
	}{
		{"CreateOrder", func(ctx context.Context, s *Store, f fixture) error {
			return s.CreateOrder(ctx, f.o, []*core.Authorization{f.az})
		}},
		{"MarkChallengeProcessing", func(ctx context.Context, s *Store, f fixture) error {
			_, err := s.MarkChallengeProcessing(ctx, f.az.ID, f.az.Challenges[0].ID)
			return err
		}},
		{"RecordValidation", func(ctx context.Context, s *Store, f fixture) error {
			_, err := s.RecordValidation(ctx, core.ValidationResult{AuthzID: f.az.ID, ChallengeID: f.az.Challenges[0].ID, ValidatedAt: now})
			return err
		}},
		{"BeginFinalize", func(ctx context.Context, s *Store, f fixture) error {
			_, err := s.BeginFinalize(ctx, f.o.ID, make([]byte, 250), now)
			return err
		}},
		{"CompleteFinalize", func(ctx context.Context, s *Store, f fixture) error {
			cert := &core.Certificate{AccountID: f.o.AccountID, Profile: "acme", Serial: f.o.ID, Chain: make([]byte, 650),
				NotBefore: now, NotAfter: now.Add(24 * time.Hour), Status: core.StatusValid, CreatedAt: now}
			_, err := s.CompleteFinalize(ctx, f.o.ID, cert)
			return err
		}},
	}
	for i, step := range steps {
		b.Run(step.name, func(b *testing.B) {
			s, _ := openTemp(b)
			b.Cleanup(func() { _ = s.Close() })
			ctx := b.Context()
			acct := &core.Account{ID: core.NewID(), KeyThumbprint: core.NewID(), Status: core.StatusValid, CreatedAt: now}
			if err := s.CreateAccount(ctx, acct); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				f := newFixture(acct)
				for _, before := range steps[:i] {
					if err := before.run(ctx, s, f); err != nil {
						b.Fatal(before.name, err)
					}
				}
				b.StartTimer()
				if err := step.run(ctx, s, f); err != nil {
					b.Fatal(step.name, err)
				}
			}
		})
	}
	b.Run("RedeemNonce", func(b *testing.B) {
		s, _ := openTemp(b)
		b.Cleanup(func() { _ = s.Close() })
		ctx := b.Context()
		b.ReportAllocs()
		for b.Loop() {
			if err := s.RedeemNonce(ctx, core.NewID(), now.Add(time.Hour)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
