package firestore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"cloud.google.com/go/firestore"
	"cloud.google.com/go/firestore/apiv1/firestorepb"
	"google.golang.org/api/iterator"

	"github.com/acmera/acmera/pkg/core"
	"github.com/acmera/acmera/pkg/store"
)

// Rate-limit counters (store.RateLimits), in rateLimits/{shard}:
//
//	rateLimits/{sha256(key)[:16] hex}-{window start, Unix s}-{shard}
//	    {key, windowStart, n, expireAt}
//
// One window of a limit is spread over RateLimit.Shards documents. Spend
// reads them all in one BatchGet (Shards reads, one RPC), decides on their
// sum, and adds to one shard picked at random with firestore.Increment (one
// write, no precondition, so concurrent Spends never abort each other). A
// busy key's writes are thus spread over Shards documents: 100 orders/s of
// one account with 16 shards is about 6 writes/s per document. The
// document IDs start with a hash of the key, so busy keys do not crowd
// one key range either.
//
// Overshoot: Spend is not a transaction. Spends of one key that run
// concurrently (each between its read and its write) all see the count
// before any of them, so a window can end up to (c-1)·n above Max, where c
// is how many Spends of the key were in flight at once: one or two at
// 100 requests/s and a 10-20 ms round trip. A limit that can afford no
// overshoot needs a transaction, and one hot document.
//
// TTL: expireAt is the window's end plus counterGrace; nothing reads a
// window after it ends.

const counterGrace = time.Hour

const (
	fCounterKey   = "key"
	fWindowStart  = "windowStart"
	fCounterValue = "n"
)

// shardRefs names the documents of l's window starting at start.
func (s *Store) shardRefs(l store.RateLimit, start time.Time) []*firestore.DocumentRef {
	sum := sha256.Sum256([]byte(l.Key))
	base := hex.EncodeToString(sum[:16]) + "-" + strconv.FormatInt(start.Unix(), 10) + "-"
	refs := make([]*firestore.DocumentRef, max(l.Shards, 1))
	for i := range refs {
		refs[i] = s.rateLimits.Doc(base + strconv.Itoa(i))
	}
	return refs
}

// sumShards adds up the counts of a window's shards; missing ones are 0.
func sumShards(snaps []*firestore.DocumentSnapshot) (int64, error) {
	var n int64
	for _, snap := range snaps {
		if !snap.Exists() {
			continue
		}
		v, err := snap.DataAt(fCounterValue)
		if err != nil {
			return 0, fmt.Errorf("firestore: DocumentSnapshot.DataAt(%s): %w", snap.Ref.Path, err)
		}
		i, ok := v.(int64)
		if !ok {
			return 0, fmt.Errorf("firestore: %s: counter %v is a %T, not an integer", snap.Ref.Path, v, v)
		}
		n += i
	}
	return n, nil
}

// add increments one random shard of l's window at now by n.
func (s *Store) add(ctx context.Context, call string, l store.RateLimit, refs []*firestore.DocumentRef, n int64, now time.Time) error {
	ref := refs[rand.IntN(len(refs))]
	_, err := ref.Set(ctx, map[string]any{
		fCounterKey:   l.Key,
		fWindowStart:  l.WindowStart(now),
		fCounterValue: firestore.Increment(n),
		fExpireAt:     l.WindowEnd(now).Add(counterGrace),
	}, firestore.MergeAll)
	if err != nil {
		return writeErr(call+": DocumentRef.Set(Increment)", err)
	}
	return nil
}

// Spend reads the shards of l's window at now and, if their sum plus n is
// at most l.Max, adds n to one of them: Shards reads and one write when
// allowed, Shards reads when refused. See the overshoot note above.
func (s *Store) Spend(ctx context.Context, l store.RateLimit, n int64, now time.Time) (bool, time.Time, error) {
	const call = "Spend"
	if err := l.Check(); err != nil {
		return false, time.Time{}, err
	}
	refs := s.shardRefs(l, l.WindowStart(now))
	if l.Max > 0 {
		snaps, err := s.client.GetAll(ctx, refs)
		if err != nil {
			return false, time.Time{}, readErr(call+": Client.GetAll", err)
		}
		sum, err := sumShards(snaps)
		if err != nil {
			return false, time.Time{}, err
		}
		if sum+n > l.Max {
			return false, l.WindowEnd(now), nil
		}
	}
	if err := s.add(ctx, call, l, refs, n, now); err != nil {
		return false, time.Time{}, err
	}
	return true, time.Time{}, nil
}

// Add adds n (negative: a refund) to one random shard of l's window at
// now: one write, no read.
func (s *Store) Add(ctx context.Context, l store.RateLimit, n int64, now time.Time) error {
	if err := l.Check(); err != nil {
		return err
	}
	return s.add(ctx, "Add", l, s.shardRefs(l, l.WindowStart(now)), n, now)
}

// Counts reads every shard of every limit in one BatchGet: the sum of the
// limits' Shards in reads, one RPC.
func (s *Store) Counts(ctx context.Context, ls []store.RateLimit, now time.Time) ([]int64, error) {
	var refs []*firestore.DocumentRef
	spans := make([][2]int, len(ls))
	seen := make(map[string]int) // document path -> index in refs
	var idx []int                // refs index of each limit's shards, in order
	for i, l := range ls {
		if err := l.Check(); err != nil {
			return nil, err
		}
		spans[i][0] = len(idx)
		for _, r := range s.shardRefs(l, l.WindowStart(now)) {
			j, ok := seen[r.Path]
			if !ok {
				j = len(refs)
				seen[r.Path] = j
				refs = append(refs, r)
			}
			idx = append(idx, j)
		}
		spans[i][1] = len(idx)
	}
	out := make([]int64, len(ls))
	if len(refs) == 0 {
		return out, nil
	}
	snaps, err := s.client.GetAll(ctx, refs)
	if err != nil {
		return nil, readErr("Counts: Client.GetAll", err)
	}
	for i, sp := range spans {
		shards := make([]*firestore.DocumentSnapshot, 0, sp[1]-sp[0])
		for _, j := range idx[sp[0]:sp[1]] {
			shards = append(shards, snaps[j])
		}
		if out[i], err = sumShards(shards); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// pendingQuery selects the account's pending authorizations expiring after
// now (composite index in CompositeIndexes).
func (s *Store) pendingQuery(accountID string, now time.Time) firestore.Query {
	return s.authzs.Where(fAccountID, "==", accountID).
		Where(fStatus, "==", string(core.StatusPending)).
		Where(fExpires, ">", now)
}

// CountPendingAuthorizations is a count aggregation over pendingQuery,
// limited to limit documents: billed one read per 1,000 index entries
// counted (at least one), one RPC.
func (s *Store) CountPendingAuthorizations(ctx context.Context, accountID string, now time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	q := s.pendingQuery(accountID, now).Limit(limit)
	res, err := q.NewAggregationQuery().WithCount("n").Get(ctx)
	if err != nil {
		return 0, readErr("CountPendingAuthorizations: AggregationQuery.Get", err)
	}
	n, err := aggregateInt(res, "n")
	if err != nil {
		return 0, fmt.Errorf("firestore: CountPendingAuthorizations: %w", err)
	}
	return int(n), nil
}

// NextPendingExpiry queries the first of pendingQuery by expiry: one read.
func (s *Store) NextPendingExpiry(ctx context.Context, accountID string, now time.Time) (time.Time, error) {
	it := s.pendingQuery(accountID, now).OrderBy(fExpires, firestore.Asc).Select(fExpires).Limit(1).Documents(ctx)
	defer it.Stop()
	snap, err := it.Next()
	if errors.Is(err, iterator.Done) {
		return time.Time{}, notFoundf("NextPendingExpiry: no pending authorization of account %s", accountID)
	}
	if err != nil {
		return time.Time{}, readErr("NextPendingExpiry: DocumentIterator.Next", err)
	}
	v, err := snap.DataAt(fExpires)
	if err != nil {
		return time.Time{}, fmt.Errorf("firestore: NextPendingExpiry: DocumentSnapshot.DataAt: %w", err)
	}
	t, ok := v.(time.Time)
	if !ok {
		return time.Time{}, fmt.Errorf("firestore: NextPendingExpiry: %s: expires is a %T", snap.Ref.Path, v)
	}
	return t.UTC(), nil
}

// aggregateInt reads an integer aggregation result (a count).
func aggregateInt(res firestore.AggregationResult, alias string) (int64, error) {
	v, ok := res[alias].(*firestorepb.Value)
	if !ok {
		return 0, fmt.Errorf("aggregation result %q is a %T, not a value", alias, res[alias])
	}
	iv, ok := v.GetValueType().(*firestorepb.Value_IntegerValue)
	if !ok {
		return 0, fmt.Errorf("aggregation result %q is %v, not an integer", alias, v)
	}
	return iv.IntegerValue, nil
}
