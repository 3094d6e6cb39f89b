package wfe

import (
	"fmt"
	"sync"

	"github.com/go-jose/go-jose/v4"

	"github.com/acmera/acmera/pkg/core"
)

// keyCache keeps parsed account keys by thumbprint, so a kid-signed request
// does not re-parse the stored JWK each time. A thumbprint names one key,
// so an entry never goes stale; the cache is emptied when full.
//
// It holds keys, not bindings: which key an account has comes from the
// account the RA returned for this request, and the lookup is by that
// account's current thumbprint. After a key rollover made through any
// instance, the fresh account names the new thumbprint, so the old key is
// never found for it, whatever this cache still holds (RFC 8555 §7.3.5).
type keyCache struct {
	mu  sync.Mutex
	max int
	m   map[string]*jose.JSONWebKey
}

func newKeyCache(max int) *keyCache {
	return &keyCache{max: max, m: make(map[string]*jose.JSONWebKey)}
}

// get returns the parsed key of an account.
func (c *keyCache) get(a *core.Account) (*jose.JSONWebKey, error) {
	c.mu.Lock()
	k, ok := c.m[a.KeyThumbprint]
	c.mu.Unlock()
	if ok {
		return k, nil
	}
	k = new(jose.JSONWebKey)
	if err := k.UnmarshalJSON(a.Key); err != nil {
		return nil, fmt.Errorf("stored key of account %s: %w", a.ID, err)
	}
	c.mu.Lock()
	if len(c.m) >= c.max {
		clear(c.m)
	}
	c.m[a.KeyThumbprint] = k
	c.mu.Unlock()
	return k, nil
}
