package firestore

import (
	"context"
	"testing"
	"time"

	"github.com/acmera/acmera/pkg/store"
)

// TestRateLimitReadErrors checks that a window that cannot be read (here
// a cancelled context) is an error, never a pass, on both read paths: the
// sum aggregation of a sharded window and the document of a one-shard one.
func TestRateLimitReadErrors(t *testing.T) {
	s, c := openTest(t)
	defer s.Close()
	ctx, cancel := context.WithCancel(testCtx(t))
	cancel()
	for _, shards := range []int{1, 16} {
		l := store.RateLimit{Key: "errors", Max: 10, Window: time.Hour, Shards: shards}
		before := c.Snapshot()
		if ok, _, err := s.Spend(ctx, l, 1, fixtureNow); err == nil || ok {
			t.Errorf("shards %d: Spend on a failing store = %v, %v; want an error", shards, ok, err)
		}
		if got, err := s.Counts(ctx, []store.RateLimit{l, l}, fixtureNow); err == nil {
			t.Errorf("shards %d: Counts on a failing store = %v; want an error", shards, got)
		}
		if w := c.Snapshot().Sub(before).Writes; w != 0 {
			t.Errorf("shards %d: %d writes after failed reads, want 0", shards, w)
		}
	}
}
