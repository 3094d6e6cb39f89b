package bolt

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/acmera/acmera/pkg/store"
)

func TestNonceSet(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	type step struct {
		nonce   string
		expires time.Duration // after t0
		now     time.Duration // after t0
		want    error
	}
	tests := []struct {
		name  string
		limit int
		steps []step
	}{
		{"replay refused", 10, []step{
			{"a", time.Hour, 0, nil},
			{"a", time.Hour, time.Minute, store.ErrConflict},
			{"b", time.Hour, time.Minute, nil},
		}},
		{"full set forgets the oldest and raises a floor", 2, []step{
			{"a", time.Hour, 0, nil},
			{"b", time.Hour + time.Second, 0, nil},
			{"c", time.Hour + 2*time.Second, 0, nil},                 // forgets a: floor = a's expiry
			{"a", time.Hour, 0, store.ErrConflict},                   // a forgotten, still refused by the floor
			{"older", time.Hour - time.Minute, 0, store.ErrConflict}, // never seen, but below the floor
			{"b", time.Hour + time.Second, 0, store.ErrConflict},     // still remembered
			{"d", time.Hour + 3*time.Second, 0, nil},                 // newer nonces keep working
		}},
		{"expired nonces are forgotten and free space", 2, []step{
			{"a", time.Minute, 0, nil},
			{"b", time.Minute, 0, nil},
			{"c", 2 * time.Hour, time.Hour, nil},
			{"d", 2 * time.Hour, time.Hour, nil},
			{"e", 2*time.Hour + time.Second, time.Hour, nil},   // full again: c is forgotten, floor = c's expiry
			{"c", 2 * time.Hour, time.Hour, store.ErrConflict}, // refused by the floor
		}},
		{"out-of-order expiry is still remembered until it expires", 10, []step{
			{"long", 2 * time.Hour, 0, nil},
			{"short", time.Minute, 0, nil},
			{"x", time.Hour, time.Hour, nil},
			{"short", time.Hour, time.Hour, store.ErrConflict}, // held behind "long": forgetting is allowed, not required
			{"long", 3 * time.Hour, 90 * time.Minute, store.ErrConflict},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := newNonceSet(tc.limit)
			for i, st := range tc.steps {
				err := n.redeem(st.nonce, t0.Add(st.expires), t0.Add(st.now))
				if (st.want == nil) != (err == nil) || (st.want != nil && !errors.Is(err, st.want)) {
					t.Errorf("step %d redeem(%s) = %v, want %v", i, st.nonce, err, st.want)
				}
			}
		})
	}
}

// TestNonceSetBounded redeems many short-lived nonces and checks that the
// set and its queue stay small.
func TestNonceSetBounded(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	n := newNonceSet(1000)
	for i := range 100_000 {
		now := t0.Add(time.Duration(i) * time.Millisecond)
		if err := n.redeem(fmt.Sprint(i), now.Add(100*time.Millisecond), now); err != nil {
			t.Fatalf("redeem %d: %v", i, err)
		}
	}
	if len(n.used) > 200 || n.n != len(n.used) || len(n.ring) != 1000 {
		t.Errorf("set holds %d nonces, ring %d of %d entries; want about 100", len(n.used), n.n, len(n.ring))
	}
}
