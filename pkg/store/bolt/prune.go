package bolt

import (
	"context"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"github.com/acmera/acmera/pkg/core"
)

// Retention of expired objects, the same as the Firestore store's TTL
// policy (store/firestore/docs.go): Firestore deletes documents itself,
// the embedded store prunes them (Prune, RunPruner).
const (
	// ShortGrace keeps pending, invalid and deactivated authorizations and
	// pending, ready and invalid orders after they expire, so a client
	// polling just after expiry still sees the final state.
	ShortGrace = 6 * time.Hour
	// ProcessingGrace keeps an order that is still processing after it
	// expires, for a finalize retried through a long CA outage.
	ProcessingGrace = 7 * 24 * time.Hour
	// CertGrace keeps a certificate, and its valid order, after its
	// notAfter, for downloads, revocation and ARI.
	CertGrace = 30 * 24 * time.Hour
)

// PruneStats counts what one Prune step looked at and deleted.
type PruneStats struct {
	Scanned, Deleted int
}

// pruneCursor remembers where the last Prune step stopped in each bucket,
// so that successive steps sweep the whole file a bounded slice at a
// time. Only the pruner uses it.
type pruneCursor struct {
	next map[string][]byte // bucket -> first key of the next step; nil: start over
}

// prunedBuckets are the buckets Prune sweeps.
func prunedBuckets() [4]string {
	return [4]string{bucketAuthzs, bucketOrders, bucketCerts, bucketRateLimits}
}

// Prune deletes expired orders, authorizations, certificates (see the
// retention constants) and rate-limit counters whose window has ended,
// with their index entries. One call examines at most limit documents of
// each kind, continuing where the previous call stopped, so its cost is
// bounded whatever the size of the file; repeated calls sweep everything. Candidates are found in a read transaction and
// re-checked in the deleting one, so a document changed meanwhile is kept
// if it is no longer expired.
func (s *Store) Prune(ctx context.Context, now time.Time, limit int) (PruneStats, error) {
	var st PruneStats
	if limit <= 0 {
		return st, nil
	}
	s.pruneMu.Lock()
	defer s.pruneMu.Unlock()
	names := prunedBuckets()
	var doomed [len(names)][]string
	err := s.view(ctx, "Prune", func(tx *bbolt.Tx) error {
		for i, name := range names {
			ids, n, next := scanExpired(tx, name, s.prune.next[name], now, limit)
			doomed[i], st.Scanned, s.prune.next[name] = ids, st.Scanned+n, next
		}
		return nil
	})
	if err != nil {
		return st, err
	}
	for i, name := range names {
		if len(doomed[i]) == 0 {
			continue
		}
		n := 0
		err := s.update(ctx, "Prune", func(tx *bbolt.Tx) error {
			n = 0
			for _, id := range doomed[i] {
				ok, err := deleteIfExpired(tx, name, id, now)
				if err != nil {
					return err
				}
				if ok {
					n++
				}
			}
			return nil
		})
		if err != nil {
			return st, err
		}
		st.Deleted += n
	}
	return st, nil
}

// scanExpired reads up to limit documents of bucket name from start and
// returns the IDs of the expired ones, how many it read, and where the
// next scan starts (nil after the last key).
func scanExpired(tx *bbolt.Tx, name string, start []byte, now time.Time, limit int) ([]string, int, []byte) {
	c := bucket(tx, name).Cursor()
	k, v := c.First()
	if start != nil {
		k, v = c.Seek(start)
	}
	var ids []string
	n := 0
	for ; k != nil && n < limit; k, v = c.Next() {
		n++
		if end, ok := retainedUntil(tx, name, v); ok && now.After(end) {
			ids = append(ids, string(k))
		}
	}
	if k == nil {
		return ids, n, nil
	}
	return ids, n, append([]byte(nil), k...)
}

// retainedUntil is the end of retention of a stored document; false if it
// does not decode (it is then left alone).
func retainedUntil(tx *bbolt.Tx, name string, v []byte) (time.Time, bool) {
	switch name {
	case bucketAuthzs:
		var d authzDoc
		if d.decode(v) != nil {
			return time.Time{}, false
		}
		if d.status == string(core.StatusValid) {
			return d.expires, true
		}
		return d.expires.Add(ShortGrace), true
	case bucketOrders:
		var d orderDoc
		if d.decode(v) != nil {
			return time.Time{}, false
		}
		return orderRetainedUntil(tx, &d), true
	case bucketCerts:
		var d certDoc
		if d.decode(v) != nil {
			return time.Time{}, false
		}
		return d.notAfter.Add(CertGrace), true
	case bucketRateLimits:
		d, err := decodeCounter(v)
		if err != nil {
			return time.Time{}, false
		}
		return d.end, true
	}
	return time.Time{}, false
}

// orderRetainedUntil: a valid order lives as long as its certificate.
func orderRetainedUntil(tx *bbolt.Tx, d *orderDoc) time.Time {
	switch d.status {
	case string(core.StatusProcessing):
		return d.expires.Add(ProcessingGrace)
	case string(core.StatusValid):
		var c certDoc
		if d.certificateID != "" && load(tx, bucketCerts, d.certificateID, &c) == nil {
			return c.notAfter.Add(CertGrace)
		}
		// The certificate is gone (pruned): the order follows it.
		return d.updatedAt
	}
	return d.expires.Add(ShortGrace)
}

// deleteIfExpired deletes one document and its index entries if it is
// (still) past its retention.
func deleteIfExpired(tx *bbolt.Tx, name, id string, now time.Time) (bool, error) {
	v := bucket(tx, name).Get([]byte(id))
	if v == nil {
		return false, nil
	}
	end, ok := retainedUntil(tx, name, v)
	if !ok || !now.After(end) {
		return false, nil
	}
	var err error
	switch name {
	case bucketAuthzs:
		var d authzDoc
		if err = d.decode(v); err == nil {
			err = unindexAuthz(tx, &d)
		}
	case bucketOrders:
		var d orderDoc
		if err = d.decode(v); err == nil {
			err = unindexOrder(tx, &d)
		}
	case bucketCerts:
		var d certDoc
		if err = d.decode(v); err == nil && d.serial != "" {
			if owner := bucket(tx, bucketCertSerials).Get([]byte(d.serial)); string(owner) == id {
				err = del(tx, bucketCertSerials, []byte(d.serial))
			}
		}
	}
	if err != nil {
		return false, fmt.Errorf("prune %s %q: %w", name, id, err)
	}
	return true, del(tx, name, []byte(id))
}

// unindexOrder removes an order from the accountOrders and processing
// indexes.
func unindexOrder(tx *bbolt.Tx, d *orderDoc) error {
	if err := del(tx, bucketAccountOrders, accountOrderKey(d.accountID, d.createdAt, d.id)); err != nil {
		return err
	}
	return del(tx, bucketProcessing, processingOrderKey(d.id))
}

// RunPruner calls Prune every interval with limit until ctx is done,
// reporting failures to onError (which may be nil).
func (s *Store) RunPruner(ctx context.Context, interval time.Duration, limit int, onError func(error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := s.Prune(ctx, s.now(), limit); err != nil && onError != nil && ctx.Err() == nil {
			onError(err)
		}
	}
}
