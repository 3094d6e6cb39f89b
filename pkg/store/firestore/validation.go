package firestore

import (
	"context"
	"errors"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/acmera/acmera/pkg/core"
	"github.com/acmera/acmera/pkg/store"
)

// RecordValidation records a validation result (RFC 8555 §7.5.1, §7.1.6).
// Optimistic, not a transaction, so that parallel validations of one order
// never wait on locks or the client's 1 s abort backoff: it reads the
// authorization, its order, and, only for a success on an order with other
// authorizations, those others; then it commits the authorization and (if
// the order is pending) the order, each conditional on its update time. Every
// validation of a pending order writes the order, even when its status stays,
// so two sibling validations cannot both miss each other: the second commit
// fails its precondition and is re-planned. A single-identifier order costs
// 2 reads and 2 writes.
func (s *Store) RecordValidation(ctx context.Context, r core.ValidationResult) (*core.Authorization, error) {
	const call = "RecordValidation"
	aref, err := doc(s.authzs, r.AuthzID)
	if err != nil {
		return nil, err
	}
	for range maxOptimisticAttempts {
		p, current, err := s.planValidation(ctx, aref, r)
		if err != nil {
			return current, err
		}
		err = s.runTx(ctx, call, p.commit)
		if errors.Is(err, store.ErrConflict) {
			continue // a document changed since the reads: plan again
		}
		if err != nil {
			return nil, err
		}
		return p.authz, nil
	}
	return nil, conflictf("%s: authorization %s kept changing after %d attempts", call, r.AuthzID, maxOptimisticAttempts)
}

// validationPlan is what RecordValidation will commit and the update times
// the documents must still have.
type validationPlan struct {
	aref, oref   *firestore.DocumentRef
	aTime, oTime time.Time
	authz        *core.Authorization
	order        *core.Order // nil: the order is not written
	orderChanged bool
}

// planValidation reads what RecordValidation needs and applies r in memory.
// On a conflict it returns the current authorization.
func (s *Store) planValidation(ctx context.Context, aref *firestore.DocumentRef, r core.ValidationResult) (*validationPlan, *core.Authorization, error) {
	asnap, err := aref.Get(ctx)
	if err != nil {
		return nil, nil, readErr("RecordValidation: DocumentRef.Get(authorization)", err)
	}
	a, err := authzFromSnap(asnap)
	if err != nil {
		return nil, nil, err
	}
	if !core.ApplyValidation(a, r) {
		current, _ := authzFromSnap(asnap)
		return nil, current, conflictf("RecordValidation: authorization %s is %s, challenge %s not processing", a.ID, current.Status, r.ChallengeID)
	}
	p := &validationPlan{aref: aref, aTime: asnap.UpdateTime, authz: a}
	o, osnap, err := s.ownOrder(ctx, a)
	if err != nil || o == nil || o.Status != core.StatusPending {
		return p, nil, err
	}
	p.oref, p.oTime, p.order = osnap.Ref, osnap.UpdateTime, o
	next := core.StatusInvalid
	if a.Status == core.StatusValid {
		if next, err = s.orderStatusWith(ctx, o, a); err != nil {
			return nil, nil, err
		}
	}
	if next != o.Status {
		o.Status, o.UpdatedAt, p.orderChanged = next, r.ValidatedAt, true
		if o.UpdatedAt.IsZero() {
			o.UpdatedAt = s.now()
		}
		if next == core.StatusInvalid {
			o.Error = r.Error
		}
	}
	return p, nil, nil
}

// commit writes the plan in one atomic commit (a transaction with no
// reads, so it takes no locks) with update-time preconditions.
func (p *validationPlan) commit(_ context.Context, tx *firestore.Transaction) error {
	ups, err := authzStateUpdates(p.authz)
	if err != nil {
		return err
	}
	if err := tx.Update(p.aref, ups, firestore.LastUpdateTime(p.aTime)); err != nil {
		return err
	}
	if p.order == nil {
		return nil
	}
	// An unchanged order is still written (a revision bump), so that its
	// update time moves and a concurrent sibling validation re-plans.
	oups := []firestore.Update{{Path: fRevision, Value: firestore.Increment(1)}}
	if p.orderChanged {
		st, err := orderStateUpdates(p.order, orderExpireAt(p.order))
		if err != nil {
			return err
		}
		oups = append(oups, st...)
	}
	return tx.Update(p.oref, oups, firestore.LastUpdateTime(p.oTime))
}

// orderStatusWith is the status order o moves to now that a (one of its
// authorizations) is valid; it reads the order's other authorizations, if
// any, in one BatchGet.
func (s *Store) orderStatusWith(ctx context.Context, o *core.Order, a *core.Authorization) (core.Status, error) {
	statuses := []core.Status{a.Status}
	var refs []*firestore.DocumentRef
	for _, id := range o.AuthzIDs {
		if id == a.ID {
			continue
		}
		ref, err := doc(s.authzs, id)
		if err != nil {
			return "", err
		}
		refs = append(refs, ref)
	}
	if len(refs) == 0 {
		return core.OrderStatusFromAuthzs(statuses), nil
	}
	snaps, err := s.client.GetAll(ctx, refs)
	if err != nil {
		return "", readErr("RecordValidation: Client.GetAll(authorizations)", err)
	}
	for _, snap := range snaps {
		if !snap.Exists() {
			statuses = append(statuses, core.StatusInvalid) // deleted by TTL: expired
			continue
		}
		other, err := authzFromSnap(snap)
		if err != nil {
			return "", err
		}
		statuses = append(statuses, other.Status)
	}
	return core.OrderStatusFromAuthzs(statuses), nil
}

// ownOrder reads the order a pending authorization belongs to; nil when a
// has none or it is gone.
func (s *Store) ownOrder(ctx context.Context, a *core.Authorization) (*core.Order, *firestore.DocumentSnapshot, error) {
	if a.OrderID == "" {
		return nil, nil, nil
	}
	ref, err := doc(s.orders, a.OrderID)
	if err != nil {
		return nil, nil, nil
	}
	snap, err := ref.Get(ctx)
	if err != nil {
		err = readErr("RecordValidation: DocumentRef.Get(order)", err)
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil, nil
		}
		return nil, nil, err
	}
	o, err := orderFromSnap(snap)
	return o, snap, err
}

// DeactivateAuthorization moves a pending or valid authorization to
// deactivated (RFC 8555 §7.5.2) and its own order, if pending or ready, to
// invalid, in one transaction: 2 reads (authorization, order), up to 2
// writes. Orders that merely reuse the authorization are not touched; they
// see it deactivated at finalize (BeginFinalize reads every authorization).
func (s *Store) DeactivateAuthorization(ctx context.Context, authzID string) (*core.Authorization, error) {
	const call = "DeactivateAuthorization"
	aref, err := doc(s.authzs, authzID)
	if err != nil {
		return nil, err
	}
	var current, result *core.Authorization
	err = s.runTx(ctx, call, func(_ context.Context, tx *firestore.Transaction) error {
		current, result = nil, nil
		a, err := txAuthz(tx, aref)
		if err != nil {
			return err
		}
		if a.Status != core.StatusPending && a.Status != core.StatusValid {
			current = a
			return conflictf("%s: authorization %s is %s", call, a.ID, a.Status)
		}
		o, oref, err := s.txOwnOrder(tx, a)
		if err != nil {
			return err
		}
		a.Status = core.StatusDeactivated
		ups, err := authzStateUpdates(a)
		if err != nil {
			return err
		}
		if err := tx.Update(aref, ups); err != nil {
			return err
		}
		if o != nil && (o.Status == core.StatusPending || o.Status == core.StatusReady) {
			o.Status, o.UpdatedAt = core.StatusInvalid, s.now()
			if err := txUpdateOrder(tx, oref, o); err != nil {
				return err
			}
		}
		result = a
		return nil
	})
	if err != nil {
		return current, err
	}
	return result, nil
}

// txAuthz reads an authorization in tx.
func txAuthz(tx *firestore.Transaction, ref *firestore.DocumentRef) (*core.Authorization, error) {
	snap, err := tx.Get(ref)
	if err != nil {
		return nil, readErr("Transaction.Get(authorization)", err)
	}
	return authzFromSnap(snap)
}

// txOwnOrder reads the order a pending authorization belongs to, in tx;
// nil when a has none or it is gone.
func (s *Store) txOwnOrder(tx *firestore.Transaction, a *core.Authorization) (*core.Order, *firestore.DocumentRef, error) {
	if a.OrderID == "" {
		return nil, nil, nil
	}
	ref, err := doc(s.orders, a.OrderID)
	if err != nil {
		return nil, nil, nil
	}
	snap, err := tx.Get(ref)
	if err != nil {
		err = readErr("Transaction.Get(order)", err)
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil, nil
		}
		return nil, nil, err
	}
	o, err := orderFromSnap(snap)
	return o, ref, err
}

// txUpdateOrder writes o's status fields in tx.
func txUpdateOrder(tx *firestore.Transaction, ref *firestore.DocumentRef, o *core.Order) error {
	ups, err := orderStateUpdates(o, orderExpireAt(o))
	if err != nil {
		return err
	}
	return tx.Update(ref, ups)
}
