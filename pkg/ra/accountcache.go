package ra

import (
	"sync"
	"time"

	"github.com/acmera/acmera/pkg/core"
)

// accountCache keeps recently read accounts for a short time, so that the
// account lookup behind every kid-signed request (RFC 8555 §6.2) does not
// cost a store read each time. A change made by this instance evicts the
// entry at once; a change made by another instance (deactivation, key
// rollover) is seen here within the TTL. It is bounded: when full it is
// emptied, which costs only re-reads.
type accountCache struct {
	ttl time.Duration
	max int
	mu  sync.Mutex
	m   map[string]cachedAccount
}

type cachedAccount struct {
	a       *core.Account
	expires time.Time
}

func newAccountCache(ttl time.Duration, max int) *accountCache {
	return &accountCache{ttl: ttl, max: max, m: make(map[string]cachedAccount)}
}

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

func (c *accountCache) put(a *core.Account, now time.Time) {
	if c.ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		clear(c.m)
	}
	c.m[a.ID] = cachedAccount{a: a, expires: now.Add(c.ttl)}
}

func (c *accountCache) evict(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, id)
}
