package firestore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"cloud.google.com/go/firestore"
	"cloud.google.com/go/firestore/apiv1/firestorepb"
	"google.golang.org/api/iterator"

	"github.com/acmera/acmera/pkg/core"
	"github.com/acmera/acmera/pkg/problem"
	"github.com/acmera/acmera/pkg/store"
)

// Rate-limit counters (store.RateLimits), in rateLimits/{shard}:
//
//	rateLimits/{sha256(key)[:16] hex}-{window start, Unix s}-{shard}
//	    {key, windowStart, n, expireAt}
//
// One window of a limit is spread over RateLimit.Shards documents. Spend
// reads the window's count and, if the count plus n is at most Max, adds n
// to one shard picked at random with firestore.Increment (one write, no
// precondition, so concurrent Spends never abort each other). A busy key's
// writes are thus spread over Shards documents: 100 orders/s of one
// account with 16 shards is about 6 writes/s per document. The document
// IDs start with a hash of the key, so busy keys do not crowd one key
// range either.
//
// Reading a window costs one read whatever its shards: a window of several
// shards is read with a sum aggregation over key == K, windowStart == W
// (the composite index key, windowStart, n is in CompositeIndexes: a sum
// is computed from an index holding the summed field), billed one read per
// 1,000 index entries matched, and a window has at most store.MaxShards
// documents; a window of one shard is read as its document, in a BatchGet
// that Counts shares among all such limits.
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

// windowQuery selects the shard documents of l's window starting at start.
func (s *Store) windowQuery(l store.RateLimit, start time.Time) firestore.Query {
	return s.rateLimits.Where(fCounterKey, "==", l.Key).Where(fWindowStart, "==", start)
}

// sumWindow reads the count of l's window starting at start with a sum
// aggregation over windowQuery: one read, one RPC.
func (s *Store) sumWindow(ctx context.Context, call string, l store.RateLimit, start time.Time) (int64, error) {
	q := s.windowQuery(l, start)
	res, err := q.NewAggregationQuery().WithSum(fCounterValue, fCounterValue).Get(ctx)
	if err != nil {
		return 0, readErr(call+": AggregationQuery.Get(sum)", err)
	}
	n, err := aggregateInt(res, fCounterValue)
	if err != nil {
		return 0, fmt.Errorf("firestore: %s: window of %s: %w", call, problem.Truncate(l.Key, 40), err)
	}
	return n, nil
}

// shardValue is the count in one shard document; a missing one is 0.
func shardValue(snap *firestore.DocumentSnapshot) (int64, error) {
	if !snap.Exists() {
		return 0, nil
	}
	v, err := snap.DataAt(fCounterValue)
	if err != nil {
		return 0, fmt.Errorf("firestore: DocumentSnapshot.DataAt(%s): %w", snap.Ref.Path, err)
	}
	i, ok := v.(int64)
	if !ok {
		return 0, fmt.Errorf("firestore: %s: counter %v is a %T, not an integer", snap.Ref.Path, v, v)
	}
	return i, nil
}

// readWindows returns the count of each limit's window containing now:
// one read per distinct window. The one-shard windows are read in one
// BatchGet, each window of several shards with sumWindow, concurrently:
// one RPC per such window plus one.
func (s *Store) readWindows(ctx context.Context, call string, ls []store.RateLimit, now time.Time) ([]int64, error) {
	out := make([]int64, len(ls))
	first := make([]int, len(ls)) // index in ls of the first limit with the same window
	seen := make(map[string]int)  // key and window start -> index in ls
	var refs []*firestore.DocumentRef
	var refOf []int // index in ls of each ref's limit
	var sums []int  // indexes in ls of the distinct windows of several shards
	for i, l := range ls {
		if err := l.Check(); err != nil {
			return nil, err
		}
		w := strconv.FormatInt(l.WindowStart(now).Unix(), 10) + " " + l.Key
		j, ok := seen[w]
		if !ok {
			j = i
			seen[w] = i
			if l.Shards <= 1 {
				refs = append(refs, s.shardRefs(l, l.WindowStart(now))[0])
				refOf = append(refOf, i)
			} else {
				sums = append(sums, i)
			}
		}
		first[i] = j
	}
	errs := make([]error, len(sums))
	var wg sync.WaitGroup
	for k, i := range sums {
		wg.Go(func() { out[i], errs[k] = s.sumWindow(ctx, call, ls[i], ls[i].WindowStart(now)) })
	}
	var batchErr error
	if len(refs) > 0 {
		batchErr = s.readShards(ctx, call, refs, refOf, out)
	}
	wg.Wait()
	if err := errors.Join(append(errs, batchErr)...); err != nil {
		return nil, err
	}
	for i, j := range first {
		out[i] = out[j]
	}
	return out, nil
}

// readShards reads one-shard windows in one BatchGet, setting out[refOf[k]]
// to the count in refs[k].
func (s *Store) readShards(ctx context.Context, call string, refs []*firestore.DocumentRef, refOf []int, out []int64) error {
	snaps, err := s.client.GetAll(ctx, refs)
	if err != nil {
		return readErr(call+": Client.GetAll", err)
	}
	for k, snap := range snaps {
		if out[refOf[k]], err = shardValue(snap); err != nil {
			return err
		}
	}
	return nil
}

// add increments one random shard of l's window at now by n.
func (s *Store) add(ctx context.Context, call string, l store.RateLimit, n int64, now time.Time) error {
	refs := s.shardRefs(l, l.WindowStart(now))
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

// Spend reads the count of l's window at now (readWindows) and, if it plus
// n is at most l.Max, adds n to one shard: one read and one write when
// allowed, one read when refused, one write when l has no Max. See the
// overshoot note above.
func (s *Store) Spend(ctx context.Context, l store.RateLimit, n int64, now time.Time) (bool, time.Time, error) {
	const call = "Spend"
	if err := l.Check(); err != nil {
		return false, time.Time{}, err
	}
	if l.Max > 0 {
		counts, err := s.readWindows(ctx, call, []store.RateLimit{l}, now)
		if err != nil {
			return false, time.Time{}, err
		}
		if counts[0]+n > l.Max {
			return false, l.WindowEnd(now), nil
		}
	}
	if err := s.add(ctx, call, l, n, now); err != nil {
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
	return s.add(ctx, "Add", l, n, now)
}

// Counts reads each limit's window with readWindows: one read per distinct
// window; one RPC for all the one-shard windows (an order's identifiers'
// failed validations), and one more per window of several shards.
func (s *Store) Counts(ctx context.Context, ls []store.RateLimit, now time.Time) ([]int64, error) {
	return s.readWindows(ctx, "Counts", ls, now)
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
