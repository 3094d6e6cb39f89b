package bolt

import (
	"context"

	"go.etcd.io/bbolt"

	"github.com/acmera/acmera/pkg/core"
)

// authzResult converts the authorization a transition captured; err is the
// transition's outcome, returned alongside.
func authzResult(d *authzDoc, err error) (*core.Authorization, error) {
	if d == nil {
		return nil, err
	}
	a, cerr := d.core()
	if cerr != nil {
		return nil, cerr
	}
	return a, err
}

// MarkChallengeProcessing moves a pending challenge of a pending
// authorization to processing (RFC 8555 §7.5.1); ErrConflict, with the
// current authorization, if either is not pending.
func (s *Store) MarkChallengeProcessing(ctx context.Context, authzID, challengeID string) (*core.Authorization, error) {
	var out *authzDoc
	err := s.update(ctx, "MarkChallengeProcessing", func(tx *bbolt.Tx) error {
		out = nil
		d := new(authzDoc)
		if err := load(tx, bucketAuthzs, authzID, d); err != nil {
			return err
		}
		ch := d.challenge(challengeID)
		if ch == nil {
			return notFound("challenge %q of authorization %q", challengeID, authzID)
		}
		out = d
		if d.status != string(core.StatusPending) || ch.status != string(core.StatusPending) {
			return conflict("challenge %q is %s, authorization %s", challengeID, ch.status, d.status)
		}
		ch.status = string(core.StatusProcessing)
		if err := put(tx, bucketAuthzs, []byte(d.id), d.encode()); err != nil {
			return err
		}
		return put(tx, bucketProcessing, processingChallengeKey(authzID, challengeID), nil)
	})
	return authzResult(out, err)
}

// RecordValidation records a validation result (RFC 8555 §7.5.1, §7.1.6)
// in one transaction: the challenge and authorization become valid or
// invalid, and the authorization's pending order becomes ready when all its
// authorizations are valid, or invalid with the result's error.
// ErrConflict, with the current authorization, if the challenge is not
// processing or the authorization is no longer pending.
func (s *Store) RecordValidation(ctx context.Context, r core.ValidationResult) (*core.Authorization, error) {
	errJSON, err := encodeProblem(r.Error)
	if err != nil {
		return nil, err
	}
	var out *authzDoc
	err = s.update(ctx, "RecordValidation", func(tx *bbolt.Tx) error {
		out = nil
		d := new(authzDoc)
		if err := load(tx, bucketAuthzs, r.AuthzID, d); err != nil {
			return err
		}
		ch := d.challenge(r.ChallengeID)
		if ch == nil {
			return notFound("challenge %q of authorization %q", r.ChallengeID, r.AuthzID)
		}
		out = d
		if ch.status != string(core.StatusProcessing) || d.status != string(core.StatusPending) {
			return conflict("challenge %q is %s, authorization %s", r.ChallengeID, ch.status, d.status)
		}
		// Preconditions hold: from here on every path writes.
		if err := del(tx, bucketProcessing, processingChallengeKey(d.id, ch.id)); err != nil {
			return err
		}
		if err := unindexPending(tx, d); err != nil {
			return err
		}
		if errJSON == nil {
			ch.status, ch.validated, d.status = string(core.StatusValid), r.ValidatedAt, string(core.StatusValid)
			if !r.Expires.IsZero() {
				d.expires = r.Expires
			}
		} else {
			ch.status, ch.errJSON, d.status = string(core.StatusInvalid), errJSON, string(core.StatusInvalid)
		}
		if err := put(tx, bucketAuthzs, []byte(d.id), d.encode()); err != nil {
			return err
		}
		if errJSON == nil {
			if err := indexValid(tx, d); err != nil {
				return err
			}
			return advanceOrder(tx, d, r)
		}
		return invalidateOrder(tx, d.orderID, errJSON, r.ValidatedAt, core.StatusPending)
	})
	return authzResult(out, err)
}

// advanceOrder moves the pending order of the just-validated authorization
// d to ready if every one of its authorizations is now valid (or to
// invalid if one of them has failed meanwhile).
func advanceOrder(tx *bbolt.Tx, d *authzDoc, r core.ValidationResult) error {
	if d.orderID == "" {
		return nil
	}
	var od orderDoc
	if err := load(tx, bucketOrders, d.orderID, &od); err != nil {
		return ignoreNotFound(err)
	}
	if od.status != string(core.StatusPending) {
		return nil
	}
	statuses := make([]core.Status, 0, len(od.authzIDs))
	for _, id := range od.authzIDs {
		if id == d.id {
			statuses = append(statuses, core.StatusValid)
			continue
		}
		var other authzDoc
		if err := load(tx, bucketAuthzs, id, &other); err != nil {
			if ignoreNotFound(err) != nil {
				return err
			}
			statuses = append(statuses, core.StatusInvalid) // a missing authorization can never be valid
			continue
		}
		statuses = append(statuses, core.Status(other.status))
	}
	next := core.OrderStatusFromAuthzs(statuses)
	if next == core.StatusPending {
		return nil
	}
	od.status, od.updatedAt = string(next), r.ValidatedAt
	return put(tx, bucketOrders, []byte(od.id), od.encode())
}
