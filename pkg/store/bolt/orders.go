package bolt

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"github.com/acmera/acmera/pkg/acme"
	"github.com/acmera/acmera/pkg/core"
	"github.com/acmera/acmera/pkg/store"
)

// GetOrder implements store.Reader.
func (s *Store) GetOrder(ctx context.Context, id string) (*core.Order, error) {
	var d orderDoc
	if err := s.view(ctx, "GetOrder", func(tx *bbolt.Tx) error {
		return load(tx, bucketOrders, id, &d)
	}); err != nil {
		return nil, err
	}
	return d.core()
}

// GetAuthorization implements store.Reader.
func (s *Store) GetAuthorization(ctx context.Context, id string) (*core.Authorization, error) {
	var d authzDoc
	if err := s.view(ctx, "GetAuthorization", func(tx *bbolt.Tx) error {
		return load(tx, bucketAuthzs, id, &d)
	}); err != nil {
		return nil, err
	}
	return d.core()
}

// CreateOrder stores a new order and its new authorizations in one
// transaction (RFC 8555 §7.4). Authorizations in authzs whose ID already
// exists (reused ones) are left as they are; ErrConflict if the order ID is
// taken.
func (s *Store) CreateOrder(ctx context.Context, o *core.Order, authzs []*core.Authorization) error {
	no, err := newOrderDocs(o, authzs)
	if err != nil {
		return err
	}
	return s.update(ctx, "CreateOrder", func(tx *bbolt.Tx) error {
		if exists(tx, bucketOrders, no.od.id) {
			return conflict("order %q exists", no.od.id)
		}
		return no.put(tx)
	})
}

// SpendCreateOrder counts the order against l and stores it in one
// transaction (store.OrderSpender): one commit for a new order.
func (s *Store) SpendCreateOrder(ctx context.Context, l store.RateLimit, now time.Time, o *core.Order, authzs []*core.Authorization) (bool, time.Time, error) {
	if err := l.Check(); err != nil {
		return false, time.Time{}, err
	}
	no, err := newOrderDocs(o, authzs)
	if err != nil {
		return false, time.Time{}, err
	}
	var ok bool
	err = s.update(ctx, "SpendCreateOrder", func(tx *bbolt.Tx) error {
		ok = false
		// Every precondition before any write (see the package comment).
		if exists(tx, bucketOrders, no.od.id) {
			return conflict("order %q exists", no.od.id)
		}
		c, err := count(tx, l, now)
		if err != nil {
			return err
		}
		if l.Max > 0 && c+1 > l.Max {
			return nil
		}
		ok = true
		if err := put(tx, bucketRateLimits, rateLimitKey(l, l.WindowStart(now)), counterDoc{n: c + 1, end: l.WindowEnd(now)}.encode()); err != nil {
			return err
		}
		return no.put(tx)
	})
	if err != nil {
		return false, time.Time{}, err
	}
	if !ok {
		return false, l.WindowEnd(now), nil
	}
	return true, time.Time{}, nil
}

// newOrder is a new order and its new authorizations, encoded outside
// the transaction.
type newOrder struct {
	od   orderDoc
	oval []byte
	ads  []authzDoc
	vals [][]byte
}

func newOrderDocs(o *core.Order, authzs []*core.Authorization) (*newOrder, error) {
	od, err := orderToDoc(o)
	if err != nil {
		return nil, err
	}
	no := &newOrder{od: od, ads: make([]authzDoc, len(authzs)), vals: make([][]byte, len(authzs))}
	for i, a := range authzs {
		if no.ads[i], err = authzToDoc(a); err != nil {
			return nil, err
		}
		no.vals[i] = no.ads[i].encode()
	}
	no.oval = no.od.encode()
	return no, nil
}

// put writes the order, its new authorizations and its indexes; the
// caller has checked that the order does not exist.
func (no *newOrder) put(tx *bbolt.Tx) error {
	for i := range no.ads {
		if err := putNewAuthz(tx, &no.ads[i], no.vals[i]); err != nil {
			return err
		}
	}
	od := &no.od
	if err := put(tx, bucketOrders, []byte(od.id), no.oval); err != nil {
		return err
	}
	if od.status == string(core.StatusProcessing) {
		if err := put(tx, bucketProcessing, processingOrderKey(od.id), nil); err != nil {
			return err
		}
	}
	return put(tx, bucketAccountOrders, accountOrderKey(od.accountID, od.createdAt, od.id), nil)
}

// putNewAuthz writes an authorization unless one with its ID exists, and
// indexes it if it is valid.
func putNewAuthz(tx *bbolt.Tx, d *authzDoc, val []byte) error {
	if exists(tx, bucketAuthzs, d.id) {
		return nil
	}
	if err := put(tx, bucketAuthzs, []byte(d.id), val); err != nil {
		return err
	}
	switch d.status {
	case string(core.StatusValid):
		return indexValid(tx, d)
	case string(core.StatusPending):
		return indexPending(tx, d)
	}
	return nil
}

func indexValid(tx *bbolt.Tx, d *authzDoc) error {
	w := &writer{}
	w.time(d.expires)
	return put(tx, bucketValidAuthzs, validAuthzKey(d), w.b)
}

// ListOrders returns an account's order IDs, newest first, at most limit
// (RFC 8555 §7.1.2.1). An unknown account has no orders.
func (s *Store) ListOrders(ctx context.Context, accountID string, limit int) ([]string, error) {
	var ids []string
	err := s.view(ctx, "ListOrders", func(tx *bbolt.Tx) error {
		ids = nil
		prefix := accountOrderPrefix(accountID)
		end := append([]byte(accountID), 1)
		c := bucket(tx, bucketAccountOrders).Cursor()
		k, _ := c.Seek(end)
		if k == nil {
			k, _ = c.Last()
		} else {
			k, _ = c.Prev()
		}
		for ; k != nil && len(ids) < limit && bytes.HasPrefix(k, prefix); k, _ = c.Prev() {
			if len(k) > len(prefix)+12 {
				ids = append(ids, string(k[len(prefix)+12:]))
			}
		}
		return nil
	})
	return ids, err
}

// FindValidAuthorizations returns, per identifier, the valid authorization
// of the account and profile that expires last, if it does not expire
// before notBefore (RFC 8555 §7.4 authorization reuse).
func (s *Store) FindValidAuthorizations(ctx context.Context, accountID, profile string, idents []acme.Identifier, notBefore time.Time) (map[acme.Identifier]*core.Authorization, error) {
	docs := make(map[acme.Identifier]*authzDoc, len(idents))
	err := s.view(ctx, "FindValidAuthorizations", func(tx *bbolt.Tx) error {
		c := bucket(tx, bucketValidAuthzs).Cursor()
		for _, ident := range idents {
			d, err := bestValid(tx, c, validAuthzPrefix(accountID, profile, ident), notBefore)
			if err != nil {
				return err
			}
			if d != nil {
				docs[ident] = d
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make(map[acme.Identifier]*core.Authorization, len(docs))
	for ident, d := range docs {
		a, err := d.core()
		if err != nil {
			return nil, err
		}
		out[ident] = a
	}
	return out, nil
}

// bestValid scans one validAuthzs prefix for the latest-expiring entry not
// expiring before notBefore, and loads it.
func bestValid(tx *bbolt.Tx, c *bbolt.Cursor, prefix []byte, notBefore time.Time) (*authzDoc, error) {
	var best []byte
	var bestExp time.Time
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		r := &reader{b: v}
		exp := r.time()
		if r.err != nil || exp.Before(notBefore) || (best != nil && !exp.After(bestExp)) {
			continue
		}
		best, bestExp = k[len(prefix):], exp
	}
	if best == nil {
		return nil, nil
	}
	d := new(authzDoc)
	if err := load(tx, bucketAuthzs, string(best), d); err != nil {
		return nil, err
	}
	if d.status != string(core.StatusValid) {
		return nil, nil
	}
	return d, nil
}

// DeactivateAuthorization moves a pending or valid authorization to
// deactivated, and its own order, if pending or ready, to invalid
// (RFC 8555 §7.5.2).
func (s *Store) DeactivateAuthorization(ctx context.Context, authzID string) (*core.Authorization, error) {
	now := s.now()
	var out *authzDoc
	err := s.update(ctx, "DeactivateAuthorization", func(tx *bbolt.Tx) error {
		out = nil
		d := new(authzDoc)
		if err := load(tx, bucketAuthzs, authzID, d); err != nil {
			return err
		}
		out = d
		if d.status != string(core.StatusPending) && d.status != string(core.StatusValid) {
			return conflict("authorization %q is %s", authzID, d.status)
		}
		if err := unindexAuthz(tx, d); err != nil {
			return err
		}
		d.status = string(core.StatusDeactivated)
		if err := put(tx, bucketAuthzs, []byte(d.id), d.encode()); err != nil {
			return err
		}
		return invalidateOrder(tx, d.orderID, nil, now, core.StatusPending, core.StatusReady)
	})
	if out == nil {
		return nil, err
	}
	a, cerr := out.core()
	if cerr != nil {
		return nil, cerr
	}
	return a, err
}

// unindexAuthz removes an authorization from the validAuthzs,
// pendingAuthzs and processing indexes.
func unindexAuthz(tx *bbolt.Tx, d *authzDoc) error {
	if err := unindexPending(tx, d); err != nil {
		return err
	}
	if d.status == string(core.StatusValid) {
		if err := del(tx, bucketValidAuthzs, validAuthzKey(d)); err != nil {
			return err
		}
	}
	for i := range d.challenges {
		if d.challenges[i].status == string(core.StatusProcessing) {
			if err := del(tx, bucketProcessing, processingChallengeKey(d.id, d.challenges[i].id)); err != nil {
				return err
			}
		}
	}
	return nil
}

// invalidateOrder moves order id, if it exists and is in one of from, to
// invalid with errJSON. It writes only on success.
func invalidateOrder(tx *bbolt.Tx, id string, errJSON []byte, now time.Time, from ...core.Status) error {
	if id == "" {
		return nil
	}
	var od orderDoc
	v := bucket(tx, bucketOrders).Get([]byte(id))
	if v == nil {
		return nil
	}
	if err := od.decode(v); err != nil {
		return fmt.Errorf("decode order %q: %w", id, err)
	}
	for _, st := range from {
		if od.status == string(st) {
			od.status, od.updatedAt = string(core.StatusInvalid), now
			if errJSON != nil {
				od.errJSON = errJSON
			}
			return put(tx, bucketOrders, []byte(id), od.encode())
		}
	}
	return nil
}
