package firestore

import (
	"context"
	"errors"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/acmera/acmera/pkg/core"
	"github.com/acmera/acmera/pkg/problem"
	"github.com/acmera/acmera/pkg/store"
)

// BeginFinalize moves a ready, unexpired order to processing and stores its
// CSR (RFC 8555 §7.4). It writes one document, so it is an optimistic
// update rather than a transaction: read the order, read its
// authorizations (each must be valid at now), then write the order
// conditional on its update time. A single-identifier order costs 2 reads
// and 1 write in 3 RPCs, with no locks; of two racing finalizes the second
// writer fails its precondition, re-reads and sees processing. Reading the
// authorizations outside a transaction is still serializable: whatever
// invalidates one of them either writes this order too (deactivating the
// order's own authorization), so the precondition catches it, or is ordered
// after this finalize (deactivating a reused authorization touches only its
// own order).
func (s *Store) BeginFinalize(ctx context.Context, orderID string, csr []byte, now time.Time) (*core.Order, error) {
	const call = "BeginFinalize"
	ref, err := doc(s.orders, orderID)
	if err != nil {
		return nil, err
	}
	return transition(ctx, call, ref, orderFromSnap, func(o *core.Order) ([]firestore.Update, error) {
		if st := o.StatusAt(now); st != core.StatusReady {
			return nil, conflictf("%s: order %s is %s", call, orderID, st)
		}
		if err := s.authzsValid(ctx, o, now); err != nil {
			return nil, err
		}
		o.Status, o.CSR, o.UpdatedAt = core.StatusProcessing, csr, now
		ups, err := orderStateUpdates(o, orderExpireAt(o))
		if err != nil {
			return nil, err
		}
		return append(ups, firestore.Update{Path: fCSR, Value: csr}), nil
	})
}

// authzsValid reads all of o's authorizations in one BatchGet and returns a
// conflict unless each exists and is valid at now.
func (s *Store) authzsValid(ctx context.Context, o *core.Order, now time.Time) error {
	refs := make([]*firestore.DocumentRef, 0, len(o.AuthzIDs))
	for _, id := range o.AuthzIDs {
		ref, err := doc(s.authzs, id)
		if err != nil {
			return conflictf("BeginFinalize: order %s: authorization %q: %v", o.ID, id, err)
		}
		refs = append(refs, ref)
	}
	snaps, err := s.client.GetAll(ctx, refs)
	if err != nil {
		return readErr("BeginFinalize: Client.GetAll(authorizations)", err)
	}
	for _, snap := range snaps {
		if !snap.Exists() {
			return conflictf("BeginFinalize: order %s: authorization %s is gone", o.ID, snap.Ref.ID)
		}
		a, err := authzFromSnap(snap)
		if err != nil {
			return err
		}
		if st := a.StatusAt(now); st != core.StatusValid {
			return conflictf("BeginFinalize: order %s: authorization %s is %s", o.ID, a.ID, st)
		}
	}
	return nil
}

// CompleteFinalize moves a processing order to valid and Creates its
// certificate in one transaction: 1 read (the order), 2 writes; an order
// that replaces a certificate (RFC 9773 §5) also reads that certificate and,
// if no earlier order replaced it, marks it replaced by this one. The
// certificate's document ID is the order ID whatever cert.ID says, so an
// order never records two.
func (s *Store) CompleteFinalize(ctx context.Context, orderID string, cert *core.Certificate) (*core.Order, error) {
	const call = "CompleteFinalize"
	oref, err := doc(s.orders, orderID)
	if err != nil {
		return nil, err
	}
	cref := s.certs.Doc(orderID)
	cd := certToDoc(cert)
	var current, result *core.Order
	err = s.runTx(ctx, call, func(_ context.Context, tx *firestore.Transaction) error {
		current, result = nil, nil
		snap, err := tx.Get(oref)
		if err != nil {
			return readErr(call+": Transaction.Get(order)", err)
		}
		o, err := orderFromSnap(snap)
		if err != nil {
			return err
		}
		if o.Status != core.StatusProcessing {
			current = o
			return conflictf("%s: order %s is %s", call, orderID, o.Status)
		}
		// Every read comes before the first write, as transactions require.
		var replaced *firestore.DocumentRef
		if o.ReplacesCertID != "" && o.ReplacesCertID != orderID {
			ref, err := doc(s.certs, o.ReplacesCertID)
			if err != nil {
				return err
			}
			old, err := tx.Get(ref)
			if err != nil {
				err = readErr(call+": Transaction.Get(replaced certificate)", err)
			}
			switch {
			case errors.Is(err, store.ErrNotFound):
			case err != nil:
				return err
			default:
				if by, _ := old.DataAt(fReplacedBy); by == nil || by == "" {
					replaced = ref
				}
			}
		}
		o.Status, o.CertificateID, o.UpdatedAt = core.StatusValid, orderID, s.now()
		ups, err := orderStateUpdates(o, certExpireAt(cert))
		if err != nil {
			return err
		}
		if err := tx.Create(cref, cd); err != nil {
			return err
		}
		if replaced != nil {
			if err := tx.Update(replaced, []firestore.Update{{Path: fReplacedBy, Value: orderID}}); err != nil {
				return err
			}
		}
		if err := tx.Update(oref, append(ups, firestore.Update{Path: fCertificateID, Value: orderID})); err != nil {
			return err
		}
		result = o
		return nil
	})
	if err != nil {
		return current, err
	}
	return result, nil
}

// RecordCARequest stores the CA's name for the certificate being issued on
// a processing order: one read, one write conditional on its update time.
func (s *Store) RecordCARequest(ctx context.Context, orderID, resource string) error {
	const call = "RecordCARequest"
	ref, err := doc(s.orders, orderID)
	if err != nil {
		return err
	}
	_, err = transition(ctx, call, ref, orderFromSnap, func(o *core.Order) ([]firestore.Update, error) {
		if o.Status != core.StatusProcessing {
			return nil, conflictf("%s: order %s is %s", call, orderID, o.Status)
		}
		o.CAResource = resource
		return []firestore.Update{{Path: fCAResource, Value: resource}}, nil
	})
	return err
}

// FailFinalize moves a processing order to invalid with prob (RFC 8555
// §7.4). One document: one read, one write conditional on its update time.
func (s *Store) FailFinalize(ctx context.Context, orderID string, prob *problem.Problem) (*core.Order, error) {
	const call = "FailFinalize"
	ref, err := doc(s.orders, orderID)
	if err != nil {
		return nil, err
	}
	return transition(ctx, call, ref, orderFromSnap, func(o *core.Order) ([]firestore.Update, error) {
		if o.Status != core.StatusProcessing {
			return nil, conflictf("%s: order %s is %s", call, orderID, o.Status)
		}
		o.Status, o.Error, o.UpdatedAt = core.StatusInvalid, prob, s.now()
		return orderStateUpdates(o, orderExpireAt(o))
	})
}

// GetCertificate reads a certificate (RFC 8555 §7.4.2). One document read.
func (s *Store) GetCertificate(ctx context.Context, id string) (*core.Certificate, error) {
	ref, err := doc(s.certs, id)
	if err != nil {
		return nil, err
	}
	snap, err := ref.Get(ctx)
	if err != nil {
		return nil, readErr("GetCertificate: DocumentRef.Get", err)
	}
	return certFromSnap(snap)
}

// GetCertificateBySerial finds a certificate by serial (for revocation,
// RFC 8555 §7.6, and ARI). Query: serial == X, limit 1, served by
// Firestore's automatic single-field index. One document read.
func (s *Store) GetCertificateBySerial(ctx context.Context, serial string) (*core.Certificate, error) {
	snaps, err := s.certs.Where(fSerial, "==", serial).Limit(1).Documents(ctx).GetAll()
	if err != nil {
		return nil, readErr("GetCertificateBySerial: Query.GetAll", err)
	}
	if len(snaps) == 0 {
		return nil, notFoundf("certificate with serial %q", serial)
	}
	return certFromSnap(snaps[0])
}

// RevokeCertificate marks a valid certificate revoked (RFC 8555 §7.6) with
// an RFC 5280 §5.3.1 reason. One document: one read, one conditional write.
func (s *Store) RevokeCertificate(ctx context.Context, id string, reason int, at time.Time) (*core.Certificate, error) {
	const call = "RevokeCertificate"
	ref, err := doc(s.certs, id)
	if err != nil {
		return nil, err
	}
	return transition(ctx, call, ref, certFromSnap, func(c *core.Certificate) ([]firestore.Update, error) {
		if c.Status != core.StatusValid {
			return nil, conflictf("%s: certificate %s is %s", call, id, c.Status)
		}
		c.Status, c.RevokedAt, c.RevocationReason = core.StatusRevoked, utc(at), reason
		return []firestore.Update{
			{Path: fStatus, Value: string(c.Status)},
			{Path: fRevokedAt, Value: at},
			{Path: fReason, Value: int64(reason)},
		}, nil
	})
}
