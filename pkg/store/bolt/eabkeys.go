package bolt

import (
	"context"
	"fmt"
	"slices"
	"time"

	"go.etcd.io/bbolt"

	"github.com/acmera/acmera/pkg/core"
	"github.com/acmera/acmera/pkg/store"
)

// eabKeyDoc is the stored external account binding key (bucket eabKeys,
// keyed by kid). It is a document type of its own, in the docVersion
// layout; files written before EAB existed get the empty bucket on Open.
type eabKeyDoc struct {
	kid, profile       string
	hmac               []byte
	reusable           bool
	expires, createdAt time.Time
	revokedAt          time.Time
	uses               uint64
	allow, challenges  []string
	maxLifetime        time.Duration
}

func eabKeyToDoc(k *core.EABKey) eabKeyDoc {
	return eabKeyDoc{kid: k.KID, profile: k.Profile, hmac: slices.Clone(k.HMAC), reusable: k.Reusable,
		expires: k.Expires, createdAt: k.CreatedAt, revokedAt: k.RevokedAt, uses: uint64(max(k.Uses, 0)),
		allow: slices.Clone(k.Allow), challenges: slices.Clone(k.Challenges), maxLifetime: k.MaxLifetime}
}

func (d *eabKeyDoc) core() *core.EABKey {
	return &core.EABKey{KID: d.kid, Profile: d.profile, HMAC: d.hmac, Reusable: d.reusable,
		Expires: d.expires, CreatedAt: d.createdAt, RevokedAt: d.revokedAt, Uses: int(d.uses),
		Allow: d.allow, Challenges: d.challenges, MaxLifetime: d.maxLifetime}
}

func (d *eabKeyDoc) encode() []byte {
	w := newWriter(96 + len(d.hmac))
	w.str(d.kid)
	w.str(d.profile)
	w.bytes(d.hmac)
	w.bool(d.reusable)
	w.time(d.expires)
	w.time(d.createdAt)
	w.time(d.revokedAt)
	w.uint(d.uses)
	w.strs(d.allow)
	w.strs(d.challenges)
	w.int(int64(d.maxLifetime))
	return w.b
}

func (d *eabKeyDoc) decode(b []byte) error {
	r := newReader(b)
	d.kid, d.profile, d.hmac, d.reusable = r.str(), r.str(), r.bytes(), r.bool()
	d.expires, d.createdAt, d.revokedAt = r.time(), r.time(), r.time()
	d.uses, d.allow, d.challenges = r.uint(), r.strs(), r.strs()
	d.maxLifetime = time.Duration(r.int())
	return r.err
}

// CreateEABKey implements store.EABKeys.
func (s *Store) CreateEABKey(ctx context.Context, k *core.EABKey) error {
	d := eabKeyToDoc(k)
	val := d.encode()
	return s.update(ctx, "CreateEABKey", func(tx *bbolt.Tx) error {
		if exists(tx, bucketEABKeys, d.kid) {
			return conflict("EAB key %q exists", d.kid)
		}
		return put(tx, bucketEABKeys, []byte(d.kid), val)
	})
}

// GetEABKey implements store.EABKeys.
func (s *Store) GetEABKey(ctx context.Context, kid string) (*core.EABKey, error) {
	var d eabKeyDoc
	err := s.view(ctx, "GetEABKey", func(tx *bbolt.Tx) error {
		return load(tx, bucketEABKeys, kid, &d)
	})
	if err != nil {
		return nil, err
	}
	return d.core(), nil
}

// ListEABKeys implements store.EABKeys; bbolt keeps keys sorted.
func (s *Store) ListEABKeys(ctx context.Context) ([]*core.EABKey, error) {
	var out []*core.EABKey
	err := s.view(ctx, "ListEABKeys", func(tx *bbolt.Tx) error {
		out = nil
		return bucket(tx, bucketEABKeys).ForEach(func(k, v []byte) error {
			var d eabKeyDoc
			if err := d.decode(v); err != nil {
				return fmt.Errorf("decode %s %q: %w", bucketEABKeys, k, err)
			}
			out = append(out, d.core())
			return nil
		})
	})
	return out, err
}

// RevokeEABKey implements store.EABKeys.
func (s *Store) RevokeEABKey(ctx context.Context, kid string, at time.Time) (*core.EABKey, error) {
	var out *core.EABKey
	err := s.update(ctx, "RevokeEABKey", func(tx *bbolt.Tx) error {
		out = nil
		var d eabKeyDoc
		if err := load(tx, bucketEABKeys, kid, &d); err != nil {
			return err
		}
		if !d.revokedAt.IsZero() {
			out = d.core()
			return conflict("EAB key %q is already revoked", kid)
		}
		d.revokedAt = at
		if err := put(tx, bucketEABKeys, []byte(kid), d.encode()); err != nil {
			return err
		}
		out = d.core()
		return nil
	})
	return out, err
}

// bindEABKey checks inside CreateAccount's transaction that the key named
// by a can bind it and returns the key's new document; it writes nothing.
func bindEABKey(tx *bbolt.Tx, a *core.Account) (*eabKeyDoc, error) {
	var d eabKeyDoc
	if err := load(tx, bucketEABKeys, a.EABKeyID, &d); err != nil {
		if isOutcome(err) {
			return nil, fmt.Errorf("%w: EAB key %q does not exist", store.ErrEABKeyUnusable, a.EABKeyID)
		}
		return nil, err
	}
	k := d.core()
	if k.Profile != a.Profile {
		return nil, fmt.Errorf("%w: EAB key %q is of profile %q, not %q", store.ErrEABKeyUnusable, k.KID, k.Profile, a.Profile)
	}
	if err := k.CanBind(a.CreatedAt); err != nil {
		return nil, fmt.Errorf("%w: %w", store.ErrEABKeyUnusable, err)
	}
	d.uses++
	return &d, nil
}
