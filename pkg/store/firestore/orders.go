package firestore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"cloud.google.com/go/firestore"
	"google.golang.org/api/iterator"

	"github.com/acmera/acmera/pkg/acme"
	"github.com/acmera/acmera/pkg/core"
)

// GetOrder reads an order (RFC 8555 §7.1.3). One document read.
func (s *Store) GetOrder(ctx context.Context, id string) (*core.Order, error) {
	ref, err := doc(s.orders, id)
	if err != nil {
		return nil, err
	}
	snap, err := ref.Get(ctx)
	if err != nil {
		return nil, readErr("GetOrder: DocumentRef.Get", err)
	}
	return orderFromSnap(snap)
}

// GetAuthorization reads an authorization with its challenges (RFC 8555
// §7.1.4). One document read.
func (s *Store) GetAuthorization(ctx context.Context, id string) (*core.Authorization, error) {
	ref, err := doc(s.authzs, id)
	if err != nil {
		return nil, err
	}
	snap, err := ref.Get(ctx)
	if err != nil {
		return nil, readErr("GetAuthorization: DocumentRef.Get", err)
	}
	return authzFromSnap(snap)
}

// CreateOrder Creates the order and its new authorizations in one
// transaction with no reads: 1 + len(authzs) writes. Reused authorizations
// named in o.AuthzIDs are not touched (RFC 8555 §7.4). Create fails if an ID
// is taken, so nothing is overwritten.
func (s *Store) CreateOrder(ctx context.Context, o *core.Order, authzs []*core.Authorization) error {
	const call = "CreateOrder"
	oref, err := doc(s.orders, o.ID)
	if err != nil {
		return err
	}
	od, err := orderToDoc(o)
	if err != nil {
		return fmt.Errorf("firestore: %s: %w", call, err)
	}
	refs := make([]*firestore.DocumentRef, len(authzs))
	docs := make([]*authzDoc, len(authzs))
	for i, a := range authzs {
		if refs[i], err = doc(s.authzs, a.ID); err != nil {
			return err
		}
		if docs[i], err = authzToDoc(a); err != nil {
			return fmt.Errorf("firestore: %s: %w", call, err)
		}
	}
	return s.runTx(ctx, call, func(_ context.Context, tx *firestore.Transaction) error {
		for i := range refs {
			if err := tx.Create(refs[i], docs[i]); err != nil {
				return err
			}
		}
		return tx.Create(oref, od)
	})
}

// ListOrders returns an account's order IDs, newest first (RFC 8555
// §7.1.2.1). Query: accountId == X order by createdAt desc (composite index
// in CompositeIndexes), IDs only. One read per ID returned (at least one).
func (s *Store) ListOrders(ctx context.Context, accountID string, limit int) ([]string, error) {
	if limit <= 0 {
		return nil, nil
	}
	q := s.orders.Where(fAccountID, "==", accountID).OrderBy(fCreatedAt, firestore.Desc).Select().Limit(limit)
	it := q.Documents(ctx)
	defer it.Stop()
	var ids []string
	for range limit {
		snap, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return nil, readErr("ListOrders: DocumentIterator.Next", err)
		}
		ids = append(ids, snap.Ref.ID)
	}
	return ids, nil
}

// maxInValues is Firestore's limit on the values of one "in" filter.
const maxInValues = 30

// FindValidAuthorizations returns reusable valid authorizations (RFC 8555
// §7.4) of the account and profile for idents, expiring after notBefore.
// Query: accountId, profile, status == valid, identKey in [idents], expires
// > notBefore (composite index in CompositeIndexes), one query per 30
// identifiers; one read per authorization returned (at least one per
// query). When several match, the one expiring last wins.
func (s *Store) FindValidAuthorizations(ctx context.Context, accountID, profile string, idents []acme.Identifier, notBefore time.Time) (map[acme.Identifier]*core.Authorization, error) {
	byKey := make(map[string]acme.Identifier, len(idents))
	keys := make([]string, 0, len(idents))
	for _, id := range idents {
		k := identKey(id, false)
		if _, dup := byKey[k]; !dup {
			byKey[k] = id
			keys = append(keys, k)
		}
	}
	out := make(map[acme.Identifier]*core.Authorization)
	for len(keys) > 0 {
		chunk := keys[:min(len(keys), maxInValues)]
		keys = keys[len(chunk):]
		q := s.authzs.Where(fAccountID, "==", accountID).
			Where(fProfile, "==", profile).
			Where(fStatus, "==", string(core.StatusValid)).
			Where(fIdentKey, "in", chunk).
			Where(fExpires, ">", notBefore)
		snaps, err := q.Documents(ctx).GetAll()
		if err != nil {
			return nil, readErr("FindValidAuthorizations: Query.GetAll", err)
		}
		for _, snap := range snaps {
			a, err := authzFromSnap(snap)
			if err != nil {
				return nil, err
			}
			id := byKey[identKey(a.Identifier, a.Wildcard)]
			if prev, ok := out[id]; !ok || a.Expires.After(prev.Expires) {
				out[id] = a
			}
		}
	}
	return out, nil
}

// MarkChallengeProcessing moves a pending challenge of a pending
// authorization to processing (RFC 8555 §7.5.1). It touches one document, so
// it is an optimistic update, not a transaction: one read, one write
// conditional on the authorization's update time.
func (s *Store) MarkChallengeProcessing(ctx context.Context, authzID, challengeID string) (*core.Authorization, error) {
	const call = "MarkChallengeProcessing"
	ref, err := doc(s.authzs, authzID)
	if err != nil {
		return nil, err
	}
	return transition(ctx, call, ref, authzFromSnap, func(a *core.Authorization) ([]firestore.Update, error) {
		ch := a.Challenge(challengeID)
		if ch == nil {
			return nil, notFoundf("%s: authorization %s has no challenge %s", call, authzID, challengeID)
		}
		if !core.ChallengeCanStart(a, ch) {
			return nil, conflictf("%s: authorization %s is %s, challenge %s is %s", call, authzID, a.Status, challengeID, ch.Status)
		}
		ch.Status = core.StatusProcessing
		return authzStateUpdates(a)
	})
}
