package bolt

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"github.com/acmera/acmera/pkg/certpem"
	"github.com/acmera/acmera/pkg/core"
	"github.com/acmera/acmera/pkg/store"
)

var _ store.Lister = (*Store)(nil)

// newestSet keeps the newest limit of what it is given, in bounded
// memory: it trims to limit whenever it holds twice that.
type newestSet[T any] struct {
	limit int
	xs    []T
	at    func(T) time.Time
	id    func(T) string
}

func (n *newestSet[T]) add(x T) {
	n.xs = append(n.xs, x)
	if len(n.xs) >= 2*n.limit {
		n.xs = store.SortNewest(n.xs, n.limit, n.at, n.id)
	}
}

func (n *newestSet[T]) result() []T { return store.SortNewest(n.xs, n.limit, n.at, n.id) }

func certAt(c *core.Certificate) time.Time { return c.CreatedAt }
func certID(c *core.Certificate) string    { return c.ID }

// ListCertificates implements store.Lister. A serial is looked up in its
// index and an account's certificates through its orders (a certificate's
// ID is its order's); otherwise it reads the whole certificates bucket in
// one read transaction, which Prune keeps to the certificates within their
// retention: no ACME request waits on it (bbolt readers do not block
// writers).
func (s *Store) ListCertificates(ctx context.Context, f store.CertificateFilter) ([]*core.Certificate, error) {
	if err := f.Check(); err != nil {
		return nil, err
	}
	var out []*core.Certificate
	err := s.view(ctx, "ListCertificates", func(tx *bbolt.Tx) error {
		set := &newestSet[*core.Certificate]{limit: f.Limit, at: certAt, id: certID}
		certs := bucket(tx, bucketCerts)
		try := func(id, v []byte) error {
			if v == nil {
				return nil
			}
			var d certDoc
			if err := d.decode(v); err != nil {
				return fmt.Errorf("decode %s %q: %w", bucketCerts, id, err)
			}
			if err := resolveChain(tx, &d); err != nil {
				return err
			}
			if c := d.core(); f.Match(c) {
				set.add(c)
			}
			return nil
		}
		switch {
		case f.Serial != "":
			if id := bucket(tx, bucketCertSerials).Get([]byte(f.Serial)); id != nil {
				if err := try(id, certs.Get(id)); err != nil {
					return err
				}
			}
		case f.AccountID != "":
			prefix := accountOrderPrefix(f.AccountID)
			c := bucket(tx, bucketAccountOrders).Cursor()
			for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
				id := k[len(prefix)+12:]
				if err := try(id, certs.Get(id)); err != nil {
					return err
				}
			}
		default:
			if err := certs.ForEach(try); err != nil {
				return err
			}
		}
		out = set.result()
		return nil
	})
	return out, err
}

// resolveChain rebuilds a compact certificate's chain (see loadCert).
func resolveChain(tx *bbolt.Tx, d *certDoc) error {
	if d.leafDER == nil {
		return nil
	}
	tail := bucket(tx, bucketChains).Get(d.tailKey)
	if empty := sha256.Sum256(nil); tail == nil && !bytes.Equal(d.tailKey, empty[:]) {
		return fmt.Errorf("certificate %q: chain %x is missing: %w", d.id, d.tailKey, errCorrupt)
	}
	d.chain = append(certpem.Append(make([]byte, 0, 2*len(d.leafDER)+len(tail)), d.leafDER), tail...)
	return nil
}

// ListAccounts implements store.Lister by reading the accounts bucket.
func (s *Store) ListAccounts(ctx context.Context, limit int) ([]*core.Account, error) {
	if err := store.CheckLimit(limit); err != nil {
		return nil, err
	}
	var out []*core.Account
	err := s.view(ctx, "ListAccounts", func(tx *bbolt.Tx) error {
		set := &newestSet[*core.Account]{limit: limit, at: func(a *core.Account) time.Time { return a.CreatedAt },
			id: func(a *core.Account) string { return a.ID }}
		if err := bucket(tx, bucketAccounts).ForEach(func(k, v []byte) error {
			var d accountDoc
			if err := d.decode(v); err != nil {
				return fmt.Errorf("decode %s %q: %w", bucketAccounts, k, err)
			}
			set.add(d.core())
			return nil
		}); err != nil {
			return err
		}
		out = set.result()
		return nil
	})
	return out, err
}

// ListInvalidOrders implements store.Lister by reading the orders bucket
// (which Prune keeps to the orders within their retention).
func (s *Store) ListInvalidOrders(ctx context.Context, limit int) ([]*core.Order, error) {
	if err := store.CheckLimit(limit); err != nil {
		return nil, err
	}
	var out []*core.Order
	err := s.view(ctx, "ListInvalidOrders", func(tx *bbolt.Tx) error {
		set := &newestSet[*core.Order]{limit: limit, at: func(o *core.Order) time.Time { return o.UpdatedAt },
			id: func(o *core.Order) string { return o.ID }}
		if err := bucket(tx, bucketOrders).ForEach(func(k, v []byte) error {
			var d orderDoc
			if err := d.decode(v); err != nil {
				return fmt.Errorf("decode %s %q: %w", bucketOrders, k, err)
			}
			if d.status != string(core.StatusInvalid) {
				return nil
			}
			o, err := d.core()
			if err != nil {
				return fmt.Errorf("order %q: %w", k, err)
			}
			set.add(o)
			return nil
		}); err != nil {
			return err
		}
		out = set.result()
		return nil
	})
	return out, err
}
