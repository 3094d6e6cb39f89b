package ra

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"hash"
	"time"

	"github.com/acmera/acmera/pkg/core"
	"github.com/acmera/acmera/pkg/policy"
	"github.com/acmera/acmera/pkg/problem"
	"github.com/acmera/acmera/pkg/store"
)

// EABBinding is the externalAccountBinding of a newAccount request
// (RFC 8555 §7.3.4) whose structure the WFE checked: a flattened JWS over
// the account's key, with a MAC algorithm, the newAccount URL and no nonce.
// The RA checks the MAC and the key.
type EABBinding struct {
	// KID is the inner JWS's kid, the EAB key's identifier.
	KID string
	// Alg is HS256, HS384 or HS512.
	Alg string
	// SigningInput is the inner JWS's protected and payload members as
	// received, joined by '.' (RFC 7515 §5.2).
	SigningInput []byte
	// MAC is the inner JWS's decoded signature.
	MAC []byte
}

// macHash returns the hash of a JWS MAC algorithm (RFC 7518 §3.2).
func macHash(alg string) func() hash.Hash {
	switch alg {
	case "HS256":
		return sha256.New
	case "HS384":
		return sha512.New384
	case "HS512":
		return sha512.New
	}
	return nil
}

// checkEAB reads the binding's key and checks the MAC, in constant time,
// and that the key is of profile: unauthorized otherwise. Whether the key
// can still bind an account is decided by the store, atomically with the
// account's creation; the key is returned for that error's detail.
func (r *RA) checkEAB(ctx context.Context, b *EABBinding, profile string) (*core.EABKey, error) {
	h := macHash(b.Alg)
	if h == nil {
		return nil, problem.Malformedf("the externalAccountBinding algorithm %q is not a MAC; use HS256, HS384 or HS512", problem.Truncate(b.Alg, 16))
	}
	k, err := r.store.GetEABKey(ctx, b.KID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, problem.Unauthorizedf("no EAB key %q exists", problem.Truncate(b.KID, 64))
	}
	if err != nil {
		return nil, fmt.Errorf("store.GetEABKey: %w", err)
	}
	mac := hmac.New(h, k.HMAC)
	mac.Write(b.SigningInput)
	if !hmac.Equal(mac.Sum(nil), b.MAC) {
		return nil, problem.Unauthorizedf("the externalAccountBinding MAC does not verify with EAB key %q", k.KID)
	}
	if k.Profile != profile {
		return nil, problem.Unauthorizedf("EAB key %q is not for profile %q; use the directory of its profile", k.KID, profile)
	}
	return k, nil
}

// unusableEAB is the client's problem for a key the store refused to
// bind: why, from the key as read before (never the secret).
func unusableEAB(k *core.EABKey, at time.Time) error {
	if err := k.CanBind(at); err != nil {
		return problem.Unauthorizedf("%s", err.Error())
	}
	return problem.Unauthorizedf("EAB key %q was used or revoked concurrently; it can no longer bind an account", k.KID)
}

// narrowing returns the narrowing of the EAB key that bound acct, nil for
// an unbound account. The key is read for every order, so a revocation
// holds at once on every instance: unauthorized for a revoked key.
func (r *RA) narrowing(ctx context.Context, acct *core.Account) (*policy.Narrowing, error) {
	if acct.EABKeyID == "" {
		return nil, nil
	}
	k, err := r.store.GetEABKey(ctx, acct.EABKeyID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, problem.Unauthorizedf("EAB key %q that bound this account no longer exists", acct.EABKeyID)
	}
	if err != nil {
		return nil, fmt.Errorf("store.GetEABKey: %w", err)
	}
	if k.Revoked() {
		return nil, problem.Unauthorizedf("EAB key %q that bound this account was revoked at %s; this account may place no orders",
			k.KID, k.RevokedAt.UTC().Format(time.RFC3339))
	}
	n, err := policy.NewNarrowing(k)
	if err != nil {
		return nil, fmt.Errorf("policy.NewNarrowing: %w", err)
	}
	return n, nil
}
