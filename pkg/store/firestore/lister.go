package firestore

import (
	"context"
	"errors"
	"time"

	"cloud.google.com/go/firestore"
	"google.golang.org/api/iterator"

	"github.com/acmera/acmera/pkg/core"
	"github.com/acmera/acmera/pkg/store"
)

var _ store.Lister = (*Store)(nil)

// fNotAfter is a certificate's expiry.
const fNotAfter = "notAfter"

// certQuery is the query ListCertificates runs for f: the most selective
// condition an index serves, newest first where it can be; Match applies
// the rest. Indexes: serial and notAfter use automatic single-field
// indexes; accountId and status ordered by createdAt use the composite
// indexes of CompositeIndexes.
func (s *Store) certQuery(f store.CertificateFilter) firestore.Query {
	switch {
	case f.Serial != "":
		return s.certs.Where(fSerial, "==", f.Serial)
	case f.AccountID != "":
		return s.certs.Where(fAccountID, "==", f.AccountID).OrderBy(fCreatedAt, firestore.Desc)
	case f.Revoked:
		return s.certs.Where(fStatus, "==", string(core.StatusRevoked)).OrderBy(fCreatedAt, firestore.Desc)
	case !f.ExpiringBefore.IsZero():
		// Soonest first: the certificates of the window that need
		// attention first, re-sorted newest first below.
		return s.certs.Where(fNotAfter, ">", f.Now).Where(fNotAfter, "<", f.ExpiringBefore).OrderBy(fNotAfter, firestore.Asc)
	}
	return s.certs.OrderBy(fCreatedAt, firestore.Desc)
}

// ListCertificates implements store.Lister: one query (certQuery),
// reading at most store.ListScanLimit documents and stopping at f.Limit
// matches.
func (s *Store) ListCertificates(ctx context.Context, f store.CertificateFilter) ([]*core.Certificate, error) {
	if err := f.Check(); err != nil {
		return nil, err
	}
	it := s.certQuery(f).Limit(store.ListScanLimit).Documents(ctx)
	defer it.Stop()
	var out []*core.Certificate
	for range store.ListScanLimit {
		snap, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return nil, readErr("ListCertificates: Query.Documents", err)
		}
		c, err := certFromSnap(snap)
		if err != nil {
			return nil, err
		}
		if !f.Match(c) {
			continue
		}
		if out = append(out, c); len(out) == f.Limit {
			break
		}
	}
	return store.SortNewest(out, f.Limit, func(c *core.Certificate) time.Time { return c.CreatedAt },
		func(c *core.Certificate) string { return c.ID }), nil
}

// ListAccounts implements store.Lister. Query: order by createdAt
// descending (automatic single-field index), limit: one read per account.
func (s *Store) ListAccounts(ctx context.Context, limit int) ([]*core.Account, error) {
	if err := store.CheckLimit(limit); err != nil {
		return nil, err
	}
	snaps, err := s.accounts.OrderBy(fCreatedAt, firestore.Desc).Limit(limit).Documents(ctx).GetAll()
	if err != nil {
		return nil, readErr("ListAccounts: Query.GetAll", err)
	}
	out := make([]*core.Account, 0, len(snaps))
	for _, snap := range snaps {
		a, err := accountFromSnap(snap)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return store.SortNewest(out, limit, func(a *core.Account) time.Time { return a.CreatedAt },
		func(a *core.Account) string { return a.ID }), nil
}

// ListInvalidOrders implements store.Lister. Query: status == invalid
// order by updatedAt descending (a composite index), limit: one read per
// order.
func (s *Store) ListInvalidOrders(ctx context.Context, limit int) ([]*core.Order, error) {
	if err := store.CheckLimit(limit); err != nil {
		return nil, err
	}
	snaps, err := s.orders.Where(fStatus, "==", string(core.StatusInvalid)).OrderBy(fUpdatedAt, firestore.Desc).
		Limit(limit).Documents(ctx).GetAll()
	if err != nil {
		return nil, readErr("ListInvalidOrders: Query.GetAll", err)
	}
	out := make([]*core.Order, 0, len(snaps))
	for _, snap := range snaps {
		o, err := orderFromSnap(snap)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return store.SortNewest(out, limit, func(o *core.Order) time.Time { return o.UpdatedAt },
		func(o *core.Order) string { return o.ID }), nil
}
