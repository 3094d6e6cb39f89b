package bolt

import (
	"context"
	"sync"
	"time"

	"github.com/acmera/acmera/pkg/store"
)

// nonceSet is the in-memory set of redeemed nonces (RFC 8555 §6.5.2). An
// insertion-ordered queue lets expired nonces be forgotten in amortised
// constant time: nonces are redeemed roughly in the order their expiries
// fall, and one redeemed out of order only delays forgetting the ones
// behind it until its own expiry.
//
// Memory is bounded by max entries. When the set is full of unexpired
// nonces it forgets the oldest-redeemed one and raises a floor to its
// expiry: from then on every nonce expiring at or before the floor is
// refused as possibly used. So a full set fails soft (old, unredeemed
// nonces get badNonce and clients retry with a fresh one), never closed,
// and a forgotten nonce can never be replayed.
type nonceSet struct {
	mu    sync.Mutex
	used  map[string]int64 // nonce -> expiry, Unix nanoseconds
	queue []nonceEntry     // insertion order; queue[head:] is live
	head  int
	max   int
	floor int64 // nonces expiring at or before it are refused
}

type nonceEntry struct {
	nonce   string
	expires int64
}

func newNonceSet(limit int) *nonceSet {
	return &nonceSet{used: make(map[string]int64), max: limit}
}

// redeem records nonce until expires; ErrConflict if it is already
// recorded or falls at or below the floor.
func (n *nonceSet) redeem(nonce string, expires, now time.Time) error {
	exp, nowNs := expires.UnixNano(), now.UnixNano()
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.used[nonce]; ok {
		return store.ErrConflict
	}
	if exp <= n.floor {
		return conflict("nonce older than the forgotten ones")
	}
	n.prune(nowNs)
	for len(n.used) >= n.max {
		n.forgetOldest()
	}
	n.used[nonce] = exp
	n.queue = append(n.queue, nonceEntry{nonce: nonce, expires: exp})
	return nil
}

// forgetOldest drops the front of the queue and raises the floor so that
// the dropped nonce stays refused.
func (n *nonceSet) forgetOldest() {
	e := n.queue[n.head]
	if n.used[e.nonce] == e.expires {
		delete(n.used, e.nonce)
	}
	n.floor = max(n.floor, e.expires)
	n.queue[n.head] = nonceEntry{}
	n.head++
}

// prune forgets expired nonces from the front of the queue.
func (n *nonceSet) prune(now int64) {
	for n.head < len(n.queue) && n.queue[n.head].expires <= now {
		e := n.queue[n.head]
		if n.used[e.nonce] == e.expires {
			delete(n.used, e.nonce)
		}
		n.queue[n.head] = nonceEntry{}
		n.head++
	}
	if n.head > 1024 && n.head*2 > len(n.queue) {
		live := copy(n.queue, n.queue[n.head:])
		clear(n.queue[live:])
		n.queue, n.head = n.queue[:live], 0
	}
}

// RedeemNonce records nonce as used until expires (RFC 8555 §6.5);
// ErrConflict if it was already redeemed. Redeemed nonces live in memory
// only, so nonces issued before a restart must be rejected by their seal
// (pkg/nonce seals with a key made at start, or checks the issue time).
func (s *Store) RedeemNonce(ctx context.Context, nonce string, expires time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.nonces.redeem(nonce, expires, s.now())
}
