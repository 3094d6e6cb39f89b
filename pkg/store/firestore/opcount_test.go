package firestore

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/acmera/acmera/pkg/acme"
	"github.com/acmera/acmera/pkg/core"
	"github.com/acmera/acmera/pkg/problem"
	"github.com/acmera/acmera/pkg/store"
)

// opStep is one store call of a flow and the document operations it may
// cost: the design's budget, which the counter must measure exactly.
type opStep struct {
	name          string
	reads, writes int64
	issuance      bool // part of one single-name issuance
	run           func(ctx context.Context) error
}

// TestOpCounts walks an issuance and the other transitions, measuring each
// call with the OpCounter on the connection, and checks every call against
// its budget. It logs the per-method table (go test -v).
func TestOpCounts(t *testing.T) {
	s, c := openTest(t)
	defer s.Close()
	ctx := testCtx(t)
	var table strings.Builder
	table.WriteString("\n| method | reads | writes | RPCs |\n|---|---|---|---|\n")
	var total OpCounts
	for _, st := range opSteps(s) {
		before := c.Snapshot()
		if err := st.run(ctx); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		got := c.Snapshot().Sub(before)
		fmt.Fprintf(&table, "| %s | %d | %d | %d |\n", st.name, got.Reads, got.Writes, got.RPCs)
		if got.Reads != st.reads || got.Writes != st.writes {
			t.Errorf("%s: %d reads, %d writes; want %d, %d", st.name, got.Reads, got.Writes, st.reads, st.writes)
		}
		if st.issuance {
			total.Reads += got.Reads
			total.Writes += got.Writes
			total.RPCs += got.RPCs
		}
	}
	fmt.Fprintf(&table, "| single-name issuance total (one nonce) | %d | %d | %d |\n", total.Reads, total.Writes, total.RPCs)
	t.Log(table.String())
}

// opSteps is a single-name issuance followed by every other transition,
// each with its budget.
func opSteps(s *Store) []opStep {
	acct := newAccount("thumb-ops")
	o, azs := newOrder(acct, "a.example.com")
	o2, azs2 := newOrder(acct, "b.example.com", "c.example.com")
	o3, azs3 := newOrder(acct, "d.example.com")
	o4, azs4 := newOrder(acct, "e.example.com", "f.example.com")
	cert := &core.Certificate{
		ID: o.ID, AccountID: acct.ID, OrderID: o.ID, Profile: "acme", Serial: "1f2e", Chain: []byte("PEM"),
		NotBefore: fixtureNow, NotAfter: fixtureNow.Add(24 * time.Hour), Status: core.StatusValid, CreatedAt: fixtureNow,
	}
	ch := func(a *core.Authorization) string { return a.Challenges[0].ID }
	ok := func(a *core.Authorization) core.ValidationResult {
		return core.ValidationResult{AuthzID: a.ID, ChallengeID: ch(a), ValidatedAt: fixtureNow}
	}
	idents := []acme.Identifier{{Type: "dns", Value: "a.example.com"}}
	wantFound := func(n int) func(map[acme.Identifier]*core.Authorization, error) error {
		return func(m map[acme.Identifier]*core.Authorization, err error) error {
			if err == nil && len(m) != n {
				err = fmt.Errorf("found %d authorizations, want %d", len(m), n)
			}
			return err
		}
	}
	// The rate limits as pkg/ra spends them: 4 shards per client address,
	// 16 per account's orders, one per identifier's failed validations. A
	// window of several shards is read with one sum aggregation (one read),
	// one of one shard as its document.
	accountsLimit := store.RateLimit{Key: "newAccounts:192.0.2.1", Max: 300, Window: time.Hour, Shards: 4}
	ordersLimit := store.RateLimit{Key: "orders:" + acct.ID, Max: 3000, Window: time.Hour, Shards: 16}
	failed := func(name string) store.RateLimit {
		return store.RateLimit{Key: "failedValidations:dns:" + name, Max: 30, Window: time.Hour, Shards: 1}
	}
	tight := store.RateLimit{Key: "orders:" + acct.ID + "-tight", Max: 1, Window: time.Hour, Shards: 16}
	spend := func(l store.RateLimit, want bool) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			ok, _, err := s.Spend(ctx, l, 1, fixtureNow)
			if err == nil && ok != want {
				err = fmt.Errorf("Spend = %v, want %v", ok, want)
			}
			return err
		}
	}
	counts := func(ls ...store.RateLimit) func(ctx context.Context) error {
		return func(ctx context.Context) error { _, err := s.Counts(ctx, ls, fixtureNow); return err }
	}
	pending := func(ctx context.Context) error {
		_, err := s.CountPendingAuthorizations(ctx, acct.ID, fixtureNow, 1000)
		return err
	}
	return []opStep{
		{"RedeemNonce", 0, 1, true, func(ctx context.Context) error { return s.RedeemNonce(ctx, core.NewID(), fixtureNow) }},
		{"Spend (new accounts, 4 shards)", 1, 1, true, spend(accountsLimit, true)},
		{"GetAccountByKey (none)", 1, 0, true, func(ctx context.Context) error {
			_, err := s.GetAccountByKey(ctx, acct.KeyThumbprint)
			if err == nil {
				return fmt.Errorf("found an account before CreateAccount")
			}
			return nil
		}},
		{"CreateAccount", 0, 2, true, func(ctx context.Context) error { return s.CreateAccount(ctx, acct) }},
		{"GetAccountByKey", 1, 0, false, func(ctx context.Context) error { _, err := s.GetAccountByKey(ctx, acct.KeyThumbprint); return err }},
		{"GetAccount", 1, 0, true, func(ctx context.Context) error { _, err := s.GetAccount(ctx, acct.ID); return err }},
		{"Counts (failed validations, 1 name)", 1, 0, true, counts(failed("a.example.com"))},
		{"FindValidAuthorizations (none)", 1, 0, true, func(ctx context.Context) error {
			return wantFound(0)(s.FindValidAuthorizations(ctx, acct.ID, "acme", idents, fixtureNow))
		}},
		{"CountPendingAuthorizations (none)", 1, 0, true, pending},
		{"Spend (orders, 16 shards)", 1, 1, true, spend(ordersLimit, true)},
		{"CreateOrder (1 name)", 0, 2, true, func(ctx context.Context) error { return s.CreateOrder(ctx, o, azs) }},
		{"GetAuthorization", 1, 0, true, func(ctx context.Context) error { _, err := s.GetAuthorization(ctx, azs[0].ID); return err }},
		{"MarkChallengeProcessing", 1, 1, true, func(ctx context.Context) error {
			_, err := s.MarkChallengeProcessing(ctx, azs[0].ID, ch(azs[0]))
			return err
		}},
		{"RecordValidation (1 name)", 2, 2, true, func(ctx context.Context) error { _, err := s.RecordValidation(ctx, ok(azs[0])); return err }},
		{"GetOrder", 1, 0, true, func(ctx context.Context) error { _, err := s.GetOrder(ctx, o.ID); return err }},
		{"BeginFinalize (1 name)", 2, 1, true, func(ctx context.Context) error {
			_, err := s.BeginFinalize(ctx, o.ID, []byte("csr"), fixtureNow)
			return err
		}},
		{"CompleteFinalize", 1, 2, true, func(ctx context.Context) error { _, err := s.CompleteFinalize(ctx, o.ID, cert); return err }},
		{"GetCertificate", 1, 0, true, func(ctx context.Context) error { _, err := s.GetCertificate(ctx, o.ID); return err }},
		{"GetCertificateBySerial", 1, 0, false, func(ctx context.Context) error { _, err := s.GetCertificateBySerial(ctx, cert.Serial); return err }},
		{"ListOrders (1 order)", 1, 0, false, func(ctx context.Context) error { _, err := s.ListOrders(ctx, acct.ID, 10); return err }},
		{"FindValidAuthorizations (1 found)", 1, 0, false, func(ctx context.Context) error {
			return wantFound(1)(s.FindValidAuthorizations(ctx, acct.ID, "acme", idents, fixtureNow))
		}},
		{"CreateOrder (2 names)", 0, 3, false, func(ctx context.Context) error { return s.CreateOrder(ctx, o2, azs2) }},
		{"MarkChallengeProcessing", 1, 1, false, func(ctx context.Context) error {
			_, err := s.MarkChallengeProcessing(ctx, azs2[0].ID, ch(azs2[0]))
			return err
		}},
		{"RecordValidation (2 names, first)", 3, 2, false, func(ctx context.Context) error { _, err := s.RecordValidation(ctx, ok(azs2[0])); return err }},
		{"MarkChallengeProcessing", 1, 1, false, func(ctx context.Context) error {
			_, err := s.MarkChallengeProcessing(ctx, azs2[1].ID, ch(azs2[1]))
			return err
		}},
		{"RecordValidation (2 names, last)", 3, 2, false, func(ctx context.Context) error { _, err := s.RecordValidation(ctx, ok(azs2[1])); return err }},
		{"BeginFinalize (2 names)", 3, 1, false, func(ctx context.Context) error {
			_, err := s.BeginFinalize(ctx, o2.ID, []byte("csr"), fixtureNow)
			return err
		}},
		{"FailFinalize", 1, 1, false, func(ctx context.Context) error {
			_, err := s.FailFinalize(ctx, o2.ID, problem.New(problem.ServerInternal, "ca down"))
			return err
		}},
		{"CreateOrder (1 name)", 0, 2, false, func(ctx context.Context) error { return s.CreateOrder(ctx, o3, azs3) }},
		{"DeactivateAuthorization", 2, 2, false, func(ctx context.Context) error { _, err := s.DeactivateAuthorization(ctx, azs3[0].ID); return err }},
		{"RevokeCertificate", 1, 1, false, func(ctx context.Context) error { _, err := s.RevokeCertificate(ctx, o.ID, 1, fixtureNow); return err }},
		{"UpdateAccountContact", 1, 1, false, func(ctx context.Context) error {
			_, err := s.UpdateAccountContact(ctx, acct.ID, []string{"mailto:b@example.com"})
			return err
		}},
		{"ChangeAccountKey", 1, 3, false, func(ctx context.Context) error {
			_, err := s.ChangeAccountKey(ctx, acct.ID, acct.KeyThumbprint, "thumb-ops-2", []byte(`{}`))
			return err
		}},
		{"DeactivateAccount", 1, 1, false, func(ctx context.Context) error { _, err := s.DeactivateAccount(ctx, acct.ID); return err }},
		{"CreateOrder (2 names)", 0, 3, false, func(ctx context.Context) error { return s.CreateOrder(ctx, o4, azs4) }},
		{"CountPendingAuthorizations (2 pending)", 1, 0, false, pending},
		{"NextPendingExpiry", 1, 0, false, func(ctx context.Context) error {
			_, err := s.NextPendingExpiry(ctx, acct.ID, fixtureNow)
			return err
		}},
		{"Counts (failed validations, 2 names)", 2, 0, false, counts(failed("b.example.com"), failed("c.example.com"))},
		{"Counts (orders, 16 shards; a name twice)", 2, 0, false, counts(ordersLimit, failed("b.example.com"), failed("b.example.com"))},
		{"Spend (16 shards, allowed)", 1, 1, false, spend(tight, true)},
		{"Spend (16 shards, refused)", 1, 0, false, spend(tight, false)},
		{"Add (refund)", 0, 1, false, func(ctx context.Context) error { return s.Add(ctx, tight, -1, fixtureNow) }},
	}
}

// TestOpCounterQueryReads checks that a query counts one read per document
// it returns, and one when it returns none.
func TestOpCounterQueryReads(t *testing.T) {
	s, c := openTest(t)
	defer s.Close()
	ctx := testCtx(t)
	acct := newAccount("thumb-q")
	if err := s.CreateAccount(ctx, acct); err != nil {
		t.Fatalf("CreateAccount: %v", err)
	}
	for range 3 {
		o, azs := newOrder(acct, "q.example.com")
		if err := s.CreateOrder(ctx, o, azs); err != nil {
			t.Fatalf("CreateOrder: %v", err)
		}
	}
	tests := []struct {
		name      string
		account   string
		limit     int
		wantIDs   int
		wantReads int64
	}{
		{"all", acct.ID, 10, 3, 3},
		{"limited", acct.ID, 2, 2, 2},
		{"none", "nobody", 10, 0, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := c.Snapshot()
			ids, err := s.ListOrders(ctx, tc.account, tc.limit)
			if err != nil {
				t.Fatalf("ListOrders: %v", err)
			}
			got := c.Snapshot().Sub(before)
			if len(ids) != tc.wantIDs || got.Reads != tc.wantReads || got.Writes != 0 {
				t.Errorf("%d IDs, %+v; want %d IDs, %d reads, 0 writes", len(ids), got, tc.wantIDs, tc.wantReads)
			}
		})
	}
}

// TestOpCounterAggregationReads checks that an aggregation is billed by
// the entries its count matched, at least one read, and that a sum's value
// is not taken for an entry count.
func TestOpCounterAggregationReads(t *testing.T) {
	s, c := openTest(t)
	defer s.Close()
	ctx := testCtx(t)
	for i, n := range []int64{2000, 3000, -1} {
		if _, err := s.rateLimits.Doc(fmt.Sprintf("agg-%d", i)).Set(ctx, map[string]any{fCounterKey: "agg", fCounterValue: n}); err != nil {
			t.Fatalf("DocumentRef.Set: %v", err)
		}
	}
	q := s.rateLimits.Where(fCounterKey, "==", "agg")
	none := s.rateLimits.Where(fCounterKey, "==", "none")
	tests := []struct {
		name      string
		agg       *firestore.AggregationQuery
		want      int64 // the first aggregate
		wantReads int64
	}{
		{"count", q.NewAggregationQuery().WithCount("c"), 3, 1},
		{"sum", q.NewAggregationQuery().WithSum(fCounterValue, "s"), 4999, 1},
		{"sum and count", q.NewAggregationQuery().WithSum(fCounterValue, "s").WithCount("c"), 4999, 1},
		{"empty sum", none.NewAggregationQuery().WithSum(fCounterValue, "s"), 0, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := c.Snapshot()
			res, err := tc.agg.Get(ctx)
			if err != nil {
				t.Fatalf("AggregationQuery.Get: %v", err)
			}
			got := c.Snapshot().Sub(before)
			alias := "s"
			if tc.name == "count" {
				alias = "c"
			}
			n, err := aggregateInt(res, alias)
			if err != nil || n != tc.want || got.Reads != tc.wantReads {
				t.Errorf("%d (%v), %d reads; want %d, %d reads", n, err, got.Reads, tc.want, tc.wantReads)
			}
		})
	}
}
