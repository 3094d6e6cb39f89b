package bolt

import (
	"bytes"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/acmera/acmera/pkg/core"
)

// TestSnapshot sees a write, copies values out of the transaction, and
// leaves out redeemed nonces.
func TestSnapshot(t *testing.T) {
	s, _ := openTemp(t)
	defer s.Close()
	ctx := t.Context()
	before, err := s.Snapshot(ctx)
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	if len(before) != 0 {
		t.Fatalf("new file: %d entries, want 0", len(before))
	}
	now := time.Now()
	if err := s.RedeemNonce(ctx, "n1", now.Add(time.Hour)); err != nil {
		t.Fatalf("RedeemNonce: %v", err)
	}
	if got, _ := s.Snapshot(ctx); len(got) != 0 {
		t.Fatalf("after a nonce: %d entries, want 0", len(got))
	}
	a := &core.Account{ID: core.NewID(), KeyThumbprint: "tp", Key: []byte(`{"kty":"EC"}`),
		Status: core.StatusValid, CreatedAt: now, Profile: "acme"}
	if err := s.CreateAccount(ctx, a); err != nil {
		t.Fatalf("CreateAccount: %v", err)
	}
	after, err := s.Snapshot(ctx)
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	if v, ok := after[bucketAccountKeys+"\x00tp"]; !ok || !bytes.Equal(v, []byte(a.ID)) {
		t.Fatalf("accountKeys entry = %q, %v; want the account ID", v, ok)
	}
	if _, ok := after[bucketAccounts+"\x00"+a.ID]; !ok {
		t.Fatalf("no accounts entry in %v", slices.Collect(maps.Keys(after)))
	}
	again, _ := s.Snapshot(ctx)
	if !maps.EqualFunc(after, again, bytes.Equal) {
		t.Fatal("two snapshots of an unchanged file differ")
	}
}
