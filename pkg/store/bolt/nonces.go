package bolt

import (
	"context"
	"hash/maphash"
	"sync"
	"time"

	"github.com/acmera/acmera/pkg/store"
)

// nonceSet is the in-memory set of redeemed nonces (RFC 8555 §6.5.2). A
// ring of entries in redemption order lets expired nonces be forgotten in
// constant time: nonces are redeemed roughly in the order their expiries
// fall, and one redeemed out of order only delays forgetting the ones
// behind it until its own expiry.
//
// A nonce is remembered by a 64-bit keyed hash of its text (hash/maphash,
// with a seed made per set), not the text itself: about 30 bytes per nonce
// instead of about 150, and nothing for the garbage collector to scan. A
// replay hashes to the same key, so it is always refused; two different
// nonces that collide (about one in 2^64 / size) only make the second one
// refused, which the client answers by retrying with a fresh nonce.
//
// Memory is bounded by max entries. When the set is full of unexpired
// nonces it forgets the oldest-redeemed one and raises a floor to its
// expiry: from then on every nonce expiring at or before the floor is
// refused as possibly used. So a full set fails soft (old, unredeemed
// nonces get badNonce and clients retry with a fresh one), never closed,
// and a forgotten nonce can never be replayed.
type nonceSet struct {
	seed  maphash.Seed
	max   int
	mu    sync.Mutex
	used  map[uint64]struct{} // hashes of the remembered nonces
	ring  []nonceEntry        // redemption order: ring[head], then on, n entries (mod max)
	head  int
	n     int
	floor int64 // nonces expiring at or before it are refused
}

// nonceEntry is a remembered nonce. A key is in the ring at most once,
// as it is added only when absent from used.
type nonceEntry struct {
	key     uint64
	expires int64 // Unix nanoseconds
}

func newNonceSet(limit int) *nonceSet {
	limit = max(limit, 1)
	// The ring is allocated once; the runtime maps its pages as they are
	// first written, so an idle server does not pay for it.
	return &nonceSet{seed: maphash.MakeSeed(), max: limit, used: make(map[uint64]struct{}),
		ring: make([]nonceEntry, limit)}
}

// redeem records nonce until expires; ErrConflict if it is already
// recorded or falls at or below the floor.
func (n *nonceSet) redeem(nonce string, expires, now time.Time) error {
	key := maphash.String(n.seed, nonce)
	exp, nowNs := expires.UnixNano(), now.UnixNano()
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.used[key]; ok {
		return store.ErrConflict
	}
	if exp <= n.floor {
		return conflict("nonce older than the forgotten ones")
	}
	for n.n > 0 && n.ring[n.head].expires <= nowNs {
		n.pop() // expired: no need to remember it
	}
	if n.n == n.max {
		n.floor = max(n.floor, n.pop().expires)
	}
	n.used[key] = struct{}{}
	n.ring[(n.head+n.n)%n.max] = nonceEntry{key: key, expires: exp}
	n.n++
	return nil
}

// pop forgets the oldest-redeemed nonce and returns it.
func (n *nonceSet) pop() nonceEntry {
	e := n.ring[n.head]
	delete(n.used, e.key)
	n.head = (n.head + 1) % n.max
	n.n--
	return e
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
