package ra

import (
	"sync"
	"time"

	"github.com/acmera/acmera/pkg/core"
)

// accountCache keeps recently read accounts for a short time, so that the
// account lookup behind every kid-signed request (RFC 8555 §6.2) does not
// cost a store read each time.
//
// It is only correct when this RA is the only writer of accounts in its
// store (the embedded default, one process on one bbolt file): every
// change this RA makes evicts the entry after the store write, and a read
// that began before an eviction is not cached (see epoch), so the next
// request sees the change. A change made by another process is not seen
// until the entry expires, which would let a deactivated account or a
// rolled-over key work for up to the TTL (RFC 8555 §7.3.5, §7.3.6): the
// cloud functions, many instances on one Firestore, therefore run with
// the cache disabled (Config.AccountCacheTTL zero).
//
// It is bounded: when full it is emptied, which costs only re-reads.
type accountCache struct {
	ttl time.Duration
	max int
	mu  sync.Mutex
	m   map[string]cachedAccount
	// epoch counts evictions. A reader takes it before reading the
	// store and puts only if no eviction happened since: otherwise the
	// account it read may predate a change, and caching it would undo
	// the eviction.
	epoch uint64
}

type cachedAccount struct {
	a       *core.Account
	expires time.Time
}

func newAccountCache(ttl time.Duration, max int) *accountCache {
	return &accountCache{ttl: ttl, max: max, m: make(map[string]cachedAccount)}
}

// begin returns the epoch to pass to put: call it before reading the
// store.
func (c *accountCache) begin() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.epoch
}

// get returns the cached account, or nil.
func (c *accountCache) get(id string, now time.Time) *core.Account {
	if c.ttl <= 0 {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[id]
	if !ok || now.After(e.expires) {
		return nil
	}
	return e.a
}

// put caches a, read from the store after begin returned epoch, unless an
// eviction happened in between.
func (c *accountCache) put(a *core.Account, epoch uint64, now time.Time) {
	if c.ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if epoch != c.epoch {
		return
	}
	if len(c.m) >= c.max {
		clear(c.m)
	}
	c.m[a.ID] = cachedAccount{a: a, expires: now.Add(c.ttl)}
}

// evict drops an account after a change to it was written (or failed to
// be: the store may hold either state), and keeps reads in flight from
// caching what they read.
func (c *accountCache) evict(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	delete(c.m, id)
}
