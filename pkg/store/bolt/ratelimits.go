package bolt

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"github.com/acmera/acmera/pkg/core"
	"github.com/acmera/acmera/pkg/store"
)

// Rate-limit counters and the pending-authorization index.
//
// One process owns the file, so a counter is one key per (limit key,
// window), read and written in one transaction: Spend is exact, never
// overshoots, and RateLimit.Shards is ignored. A counter is pruned with the
// other expired objects once its window has ended.
const (
	bucketRateLimits    = "rateLimits"    // key, 0, window start -> count, window end
	bucketPendingAuthzs = "pendingAuthzs" // account ID, 0, authz ID -> expires
)

// rateLimitKey is the counter key of l's window starting at start.
func rateLimitKey(l store.RateLimit, start time.Time) []byte {
	k := make([]byte, 0, len(l.Key)+9)
	k = append(k, l.Key...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint64(k, uint64(start.Unix()))
}

type counterDoc struct {
	n   int64
	end time.Time
}

func (d counterDoc) encode() []byte {
	w := &writer{}
	w.int(d.n)
	w.time(d.end)
	return w.b
}

func decodeCounter(v []byte) (counterDoc, error) {
	r := &reader{b: v}
	d := counterDoc{n: r.int(), end: r.time()}
	if r.err != nil {
		return counterDoc{}, fmt.Errorf("decode rate-limit counter: %w", r.err)
	}
	return d, nil
}

// count reads the counter of l at now; zero when absent.
func count(tx *bbolt.Tx, l store.RateLimit, now time.Time) (int64, error) {
	v := bucket(tx, bucketRateLimits).Get(rateLimitKey(l, l.WindowStart(now)))
	if v == nil {
		return 0, nil
	}
	d, err := decodeCounter(v)
	return d.n, err
}

func addCount(tx *bbolt.Tx, l store.RateLimit, n int64, now time.Time) error {
	c, err := count(tx, l, now)
	if err != nil {
		return err
	}
	return put(tx, bucketRateLimits, rateLimitKey(l, l.WindowStart(now)), counterDoc{n: c + n, end: l.WindowEnd(now)}.encode())
}

// Spend adds n to l's window at now if the count stays within l.Max, in
// one transaction (exact).
func (s *Store) Spend(ctx context.Context, l store.RateLimit, n int64, now time.Time) (bool, time.Time, error) {
	if err := l.Check(); err != nil {
		return false, time.Time{}, err
	}
	var ok bool
	err := s.update(ctx, "Spend", func(tx *bbolt.Tx) error {
		ok = false
		c, err := count(tx, l, now)
		if err != nil {
			return err
		}
		if l.Max > 0 && c+n > l.Max {
			return nil
		}
		ok = true
		return put(tx, bucketRateLimits, rateLimitKey(l, l.WindowStart(now)), counterDoc{n: c + n, end: l.WindowEnd(now)}.encode())
	})
	if err != nil {
		return false, time.Time{}, err
	}
	if !ok {
		return false, l.WindowEnd(now), nil
	}
	return true, time.Time{}, nil
}

// Add adds n (negative: a refund) to l's window at now.
func (s *Store) Add(ctx context.Context, l store.RateLimit, n int64, now time.Time) error {
	if err := l.Check(); err != nil {
		return err
	}
	return s.update(ctx, "Add", func(tx *bbolt.Tx) error { return addCount(tx, l, n, now) })
}

// Counts reads the limits' counters at now in one read transaction.
func (s *Store) Counts(ctx context.Context, ls []store.RateLimit, now time.Time) ([]int64, error) {
	for _, l := range ls {
		if err := l.Check(); err != nil {
			return nil, err
		}
	}
	out := make([]int64, len(ls))
	err := s.view(ctx, "Counts", func(tx *bbolt.Tx) error {
		for i, l := range ls {
			c, err := count(tx, l, now)
			if err != nil {
				return err
			}
			out[i] = c
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// pendingKey is an authorization's pendingAuthzs key.
func pendingKey(accountID, authzID string) []byte {
	return append(append(append(make([]byte, 0, len(accountID)+1+len(authzID)), accountID...), 0), authzID...)
}

func indexPending(tx *bbolt.Tx, d *authzDoc) error {
	w := &writer{}
	w.time(d.expires)
	return put(tx, bucketPendingAuthzs, pendingKey(d.accountID, d.id), w.b)
}

func unindexPending(tx *bbolt.Tx, d *authzDoc) error {
	if d.status != string(core.StatusPending) {
		return nil
	}
	return del(tx, bucketPendingAuthzs, pendingKey(d.accountID, d.id))
}

// scanPending calls f with the expiry of each pending authorization of the
// account until f returns false.
func scanPending(tx *bbolt.Tx, accountID string, f func(expires time.Time) bool) error {
	prefix := append([]byte(accountID), 0)
	c := bucket(tx, bucketPendingAuthzs).Cursor()
	for k, v := c.Seek(prefix); k != nil && len(k) >= len(prefix) && string(k[:len(prefix)]) == string(prefix); k, v = c.Next() {
		r := &reader{b: v}
		exp := r.time()
		if r.err != nil {
			return fmt.Errorf("decode pendingAuthzs %q: %w", k, r.err)
		}
		if !f(exp) {
			return nil
		}
	}
	return nil
}

// CountPendingAuthorizations counts the account's pending, unexpired
// authorizations, up to limit, from the pendingAuthzs index.
func (s *Store) CountPendingAuthorizations(ctx context.Context, accountID string, now time.Time, limit int) (int, error) {
	n := 0
	if limit <= 0 {
		return 0, nil
	}
	err := s.view(ctx, "CountPendingAuthorizations", func(tx *bbolt.Tx) error {
		n = 0
		return scanPending(tx, accountID, func(exp time.Time) bool {
			if exp.After(now) {
				n++
			}
			return n < limit
		})
	})
	return n, err
}

// NextPendingExpiry returns the earliest expiry after now of the
// account's pending authorizations.
func (s *Store) NextPendingExpiry(ctx context.Context, accountID string, now time.Time) (time.Time, error) {
	var first time.Time
	err := s.view(ctx, "NextPendingExpiry", func(tx *bbolt.Tx) error {
		first = time.Time{}
		return scanPending(tx, accountID, func(exp time.Time) bool {
			if exp.After(now) && (first.IsZero() || exp.Before(first)) {
				first = exp
			}
			return true
		})
	})
	if err != nil {
		return time.Time{}, err
	}
	if first.IsZero() {
		return time.Time{}, notFound("no pending authorization of account %q", accountID)
	}
	return first, nil
}

// indexPendingAuthzs builds the pendingAuthzs index of a file made before
// it existed: run once, when Open creates the bucket.
func indexPendingAuthzs(tx *bbolt.Tx) error {
	return bucket(tx, bucketAuthzs).ForEach(func(k, v []byte) error {
		var d authzDoc
		if err := d.decode(v); err != nil {
			return fmt.Errorf("decode authorization %q: %w", k, err)
		}
		if d.status != string(core.StatusPending) {
			return nil
		}
		return indexPending(tx, &d)
	})
}
