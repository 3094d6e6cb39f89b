package firestore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"cloud.google.com/go/firestore"
	"google.golang.org/api/iterator"

	"github.com/acmera/acmera/pkg/core"
	"github.com/acmera/acmera/pkg/store"
)

// Field names of eabKeys documents used in updates.
const (
	fUses = "uses"
)

// eabKeyDoc is eabKeys/{kid}: an external account binding key (RFC 8555
// §7.3.4). It has no expireAt: keys are kept, revoked or not, as the
// record of what bound the accounts.
type eabKeyDoc struct {
	Profile     string    `firestore:"profile"`
	HMAC        []byte    `firestore:"hmac"`
	Reusable    bool      `firestore:"reusable"`
	Expires     time.Time `firestore:"expires,omitempty"`
	CreatedAt   time.Time `firestore:"createdAt"`
	RevokedAt   time.Time `firestore:"revokedAt,omitempty"`
	Uses        int64     `firestore:"uses"`
	Allow       []string  `firestore:"allow,omitempty"`
	Challenges  []string  `firestore:"challenges,omitempty"`
	MaxLifetime int64     `firestore:"maxLifetimeNs,omitempty"`
}

func eabKeyToDoc(k *core.EABKey) *eabKeyDoc {
	return &eabKeyDoc{Profile: k.Profile, HMAC: k.HMAC, Reusable: k.Reusable, Expires: k.Expires,
		CreatedAt: k.CreatedAt, RevokedAt: k.RevokedAt, Uses: int64(k.Uses), Allow: k.Allow,
		Challenges: k.Challenges, MaxLifetime: int64(k.MaxLifetime)}
}

func eabKeyFromSnap(snap *firestore.DocumentSnapshot) (*core.EABKey, error) {
	d, err := decode[eabKeyDoc](snap)
	if err != nil {
		return nil, err
	}
	return &core.EABKey{KID: snap.Ref.ID, Profile: d.Profile, HMAC: d.HMAC, Reusable: d.Reusable,
		Expires: utc(d.Expires), CreatedAt: utc(d.CreatedAt), RevokedAt: utc(d.RevokedAt), Uses: int(d.Uses),
		Allow: nilIfEmpty(d.Allow), Challenges: nilIfEmpty(d.Challenges), MaxLifetime: time.Duration(d.MaxLifetime)}, nil
}

// CreateEABKey Creates eabKeys/{kid}: AlreadyExists is store.ErrConflict.
// One write.
func (s *Store) CreateEABKey(ctx context.Context, k *core.EABKey) error {
	ref, err := doc(s.eabKeys, k.KID)
	if err != nil {
		return fmt.Errorf("firestore: CreateEABKey: invalid kid %q", k.KID)
	}
	if _, err := ref.Create(ctx, eabKeyToDoc(k)); err != nil {
		return writeErr("CreateEABKey: DocumentRef.Create", err)
	}
	return nil
}

// GetEABKey reads eabKeys/{kid}. One read.
func (s *Store) GetEABKey(ctx context.Context, kid string) (*core.EABKey, error) {
	ref, err := doc(s.eabKeys, kid)
	if err != nil {
		return nil, err
	}
	snap, err := ref.Get(ctx)
	if err != nil {
		return nil, readErr("GetEABKey: DocumentRef.Get", err)
	}
	return eabKeyFromSnap(snap)
}

// ListEABKeys reads every key, ordered by document ID (the kid). An
// operator's command, not a request path: one read per key.
func (s *Store) ListEABKeys(ctx context.Context) ([]*core.EABKey, error) {
	it := s.eabKeys.OrderBy(firestore.DocumentID, firestore.Asc).Documents(ctx)
	defer it.Stop()
	var out []*core.EABKey
	for {
		snap, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return out, nil
		}
		if err != nil {
			return nil, readErr("ListEABKeys: DocumentIterator.Next", err)
		}
		k, err := eabKeyFromSnap(snap)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
}

// RevokeEABKey sets revokedAt on an unrevoked key: one read, one
// conditional write.
func (s *Store) RevokeEABKey(ctx context.Context, kid string, at time.Time) (*core.EABKey, error) {
	const call = "RevokeEABKey"
	ref, err := doc(s.eabKeys, kid)
	if err != nil {
		return nil, err
	}
	return transition(ctx, call, ref, eabKeyFromSnap, func(k *core.EABKey) ([]firestore.Update, error) {
		if k.Revoked() {
			return nil, conflictf("%s: EAB key %q is already revoked", call, kid)
		}
		k.RevokedAt = utc(at)
		return []firestore.Update{{Path: fRevokedAt, Value: k.RevokedAt}}, nil
	})
}

// bindEABKey reads the key inside CreateAccount's transaction and checks
// that it can bind a; it returns the update that counts the use.
func bindEABKey(tx *firestore.Transaction, ref *firestore.DocumentRef, a *core.Account) ([]firestore.Update, error) {
	snap, err := tx.Get(ref)
	if err != nil {
		err = readErr("CreateAccount: Transaction.Get(eabKey)", err)
		if errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("firestore: CreateAccount: %w: EAB key %q does not exist", store.ErrEABKeyUnusable, a.EABKeyID)
		}
		return nil, err
	}
	k, err := eabKeyFromSnap(snap)
	if err != nil {
		return nil, err
	}
	if k.Profile != a.Profile {
		return nil, fmt.Errorf("firestore: CreateAccount: %w: EAB key %q is of profile %q, not %q", store.ErrEABKeyUnusable, k.KID, k.Profile, a.Profile)
	}
	if err := k.CanBind(a.CreatedAt); err != nil {
		return nil, fmt.Errorf("firestore: CreateAccount: %w: %w", store.ErrEABKeyUnusable, err)
	}
	return []firestore.Update{{Path: fUses, Value: firestore.Increment(1)}}, nil
}
