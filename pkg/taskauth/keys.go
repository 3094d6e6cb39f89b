package taskauth

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"google.golang.org/api/idtoken"
)

// maxJWKSBytes bounds a fetched key set.
const maxJWKSBytes = 1 << 20

// jwksFetchTimeout bounds one key-set fetch.
const jwksFetchTimeout = 10 * time.Second

// jwksCache verifies tokens against keys fetched from a JWKS URL (RFC 7517
// §5), cached for CacheTTL and refetched on an unknown "kid" at most once
// per MinRefresh.
type jwksCache struct {
	cfg Config

	mu      sync.Mutex
	keys    map[string]jose.JSONWebKey
	fetched time.Time // last successful fetch
	tried   time.Time // last fetch attempt
}

func newJWKSCache(cfg Config) *jwksCache { return &jwksCache{cfg: cfg} }

// check implements signatureChecker.
func (c *jwksCache) check(ctx context.Context, raw string) (*claims, error) {
	tok, err := parseRS256(raw)
	if err != nil {
		return nil, err
	}
	kid := tok.Headers[0].KeyID
	if kid == "" {
		return nil, unauthenticated("token has no kid", nil)
	}
	key, err := c.key(ctx, kid)
	if err != nil {
		return nil, err
	}
	var cl claims
	if err := tok.Claims(key.Key, &cl); err != nil {
		return nil, unauthenticated("bad signature", err)
	}
	return &cl, nil
}

// key returns the public key named kid, fetching the set when it is stale
// or lacks kid and the refresh budget allows.
func (c *jwksCache) key(ctx context.Context, kid string) (jose.JSONWebKey, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.cfg.Now()
	stale := c.keys == nil || now.Sub(c.fetched) >= c.cfg.CacheTTL
	k, ok := c.keys[kid]
	mayFetch := c.tried.IsZero() || now.Sub(c.tried) >= c.cfg.MinRefresh
	if (!ok || stale) && mayFetch {
		c.tried = now
		keys, err := c.fetch(ctx)
		switch {
		case err == nil:
			c.keys, c.fetched = keys, now
		case c.keys == nil:
			return jose.JSONWebKey{}, unavailable("signing keys unavailable", err)
		}
		k, ok = c.keys[kid]
	}
	if c.keys == nil {
		return jose.JSONWebKey{}, unavailable("signing keys unavailable", nil)
	}
	if !ok {
		return jose.JSONWebKey{}, unauthenticated(fmt.Sprintf("unknown key %q", kid), nil)
	}
	return k, nil
}

// fetch GETs the key set and keeps its RSA signing keys by kid.
func (c *jwksCache) fetch(ctx context.Context) (map[string]jose.JSONWebKey, error) {
	ctx, cancel := context.WithTimeout(ctx, jwksFetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.cfg.JWKSURL, nil)
	if err != nil {
		return nil, fmt.Errorf("http.NewRequest: %w", err)
	}
	resp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("http.Client.Do: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: status %d", c.cfg.JWKSURL, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read JWKS: %w", err)
	}
	if len(body) > maxJWKSBytes {
		return nil, fmt.Errorf("JWKS larger than %d bytes", maxJWKSBytes)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("json.Unmarshal JWKS: %w", err)
	}
	keys := map[string]jose.JSONWebKey{}
	for _, k := range set.Keys {
		if k.KeyID == "" || !k.IsPublic() || (k.Use != "" && k.Use != "sig") {
			continue
		}
		if k.Algorithm != "" && k.Algorithm != string(jose.RS256) {
			continue
		}
		keys[k.KeyID] = k
	}
	return keys, nil
}

// googleChecker verifies tokens against Google's published certificates
// through idtoken (which caches them per their Cache-Control). The audience
// is checked by checkClaims, so a wrong audience is a 403, not a 401.
type googleChecker struct {
	val *idtoken.Validator
}

// check implements signatureChecker.
func (g googleChecker) check(ctx context.Context, raw string) (*claims, error) {
	if _, err := parseRS256(raw); err != nil {
		return nil, err
	}
	p, err := g.val.Validate(ctx, raw, "")
	if err != nil {
		return nil, unauthenticated("token rejected", err)
	}
	b, err := json.Marshal(p.Claims)
	if err != nil {
		return nil, fmt.Errorf("json.Marshal claims: %w", err)
	}
	var cl claims
	if err := json.Unmarshal(b, &cl); err != nil {
		return nil, unauthenticated("malformed claims", err)
	}
	return &cl, nil
}
