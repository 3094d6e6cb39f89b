package bolt

import (
	"context"
	"errors"
	"slices"
	"time"

	"go.etcd.io/bbolt"

	"github.com/acmera/acmera/pkg/core"
	"github.com/acmera/acmera/pkg/problem"
	"github.com/acmera/acmera/pkg/store"
)

// orderResult converts the order a transition captured; err is the
// transition's outcome, returned alongside.
func orderResult(d *orderDoc, err error) (*core.Order, error) {
	if d == nil {
		return nil, err
	}
	o, cerr := d.core()
	if cerr != nil {
		return nil, cerr
	}
	return o, err
}

// BeginFinalize moves a ready, unexpired order whose authorizations are all
// still valid at now to processing and stores its CSR (RFC 8555 §7.4);
// ErrConflict, with the current order, otherwise.
func (s *Store) BeginFinalize(ctx context.Context, orderID string, csr []byte, now time.Time) (*core.Order, error) {
	csr = slices.Clone(csr)
	var out *orderDoc
	err := s.update(ctx, "BeginFinalize", func(tx *bbolt.Tx) error {
		d, err := loadReady(tx, orderID, now)
		if out = d; err != nil {
			return err
		}
		d.status, d.csr, d.updatedAt = string(core.StatusProcessing), csr, now
		if err := put(tx, bucketOrders, []byte(d.id), d.encode()); err != nil {
			return err
		}
		return put(tx, bucketProcessing, processingOrderKey(d.id), nil)
	})
	return orderResult(out, err)
}

// loadReady loads an order that can be finalized at now: ready, unexpired,
// every authorization still valid; ErrConflict, with the order, otherwise.
func loadReady(tx *bbolt.Tx, orderID string, now time.Time) (*orderDoc, error) {
	d := new(orderDoc)
	if err := load(tx, bucketOrders, orderID, d); err != nil {
		return nil, err
	}
	if d.status != string(core.StatusReady) || !now.Before(d.expires) {
		return d, conflict("order %q is %s, expires %s", orderID, d.status, d.expires)
	}
	for _, id := range d.authzIDs {
		var a authzDoc
		if err := load(tx, bucketAuthzs, id, &a); err != nil {
			return d, conflict("order %q: authorization %q: %v", orderID, id, err)
		}
		if a.status != string(core.StatusValid) || !now.Before(a.expires) {
			return d, conflict("order %q: authorization %q is %s, expires %s", orderID, id, a.status, a.expires)
		}
	}
	return d, nil
}

// CompleteFinalize moves a processing order to valid and stores its
// certificate, with ID = order ID, in one transaction (RFC 8555 §7.4);
// ErrConflict if the order is not processing or the serial is taken.
func (s *Store) CompleteFinalize(ctx context.Context, orderID string, cert *core.Certificate) (*core.Order, error) {
	cd, cval, updated := s.certRecord(orderID, cert)
	var out *orderDoc
	err := s.update(ctx, "CompleteFinalize", func(tx *bbolt.Tx) error {
		out = nil
		d := new(orderDoc)
		if err := load(tx, bucketOrders, orderID, d); err != nil {
			return err
		}
		out = d
		if d.status != string(core.StatusProcessing) {
			return conflict("order %q is %s", orderID, d.status)
		}
		if err := putIssued(tx, d, cd, cval, updated); err != nil {
			return err
		}
		return del(tx, bucketProcessing, processingOrderKey(d.id))
	})
	return orderResult(out, err)
}

// FinalizeAtOnce implements store.AtOnceFinalizer: BeginFinalize's checks
// and CompleteFinalize's writes in one transaction, so the order goes from
// ready to valid with its certificate without a processing state (and its
// CSR is never stored).
func (s *Store) FinalizeAtOnce(ctx context.Context, orderID string, now time.Time, cert *core.Certificate) (*core.Order, error) {
	cd, cval, updated := s.certRecord(orderID, cert)
	var out *orderDoc
	err := s.update(ctx, "FinalizeAtOnce", func(tx *bbolt.Tx) error {
		d, err := loadReady(tx, orderID, now)
		if out = d; err != nil {
			return err
		}
		return putIssued(tx, d, cd, cval, updated)
	})
	return orderResult(out, err)
}

// certRecord is the stored form of the certificate of order orderID and
// the time the order records as its update (the certificate's CreatedAt,
// else now).
func (s *Store) certRecord(orderID string, cert *core.Certificate) (certDoc, []byte, time.Time) {
	cd := certToDoc(cert)
	cd.id, cd.orderID = orderID, orderID
	if cd.status == "" {
		cd.status = string(core.StatusValid)
	}
	updated := cert.CreatedAt
	if updated.IsZero() {
		updated = s.now()
	}
	return cd, cd.encode(), updated
}

// putIssued stores order d as valid with certificate cd (cval encoded),
// marking what it replaces; ErrConflict, with nothing written, if the
// serial is another's.
func putIssued(tx *bbolt.Tx, d *orderDoc, cd certDoc, cval []byte, updated time.Time) error {
	if owner := bucket(tx, bucketCertSerials).Get([]byte(cd.serial)); cd.serial != "" && owner != nil && string(owner) != d.id {
		return conflict("serial %q belongs to certificate %q", cd.serial, owner)
	}
	// The CSR served the CA call and its retries, which end here
	// (core.Order.CSR): a valid order does not keep it, a quarter of
	// what an issuance stores.
	d.status, d.certificateID, d.updatedAt, d.csr = string(core.StatusValid), d.id, updated, nil
	if err := put(tx, bucketOrders, []byte(d.id), d.encode()); err != nil {
		return err
	}
	if err := putChainTail(tx, &cd); err != nil {
		return err
	}
	if err := put(tx, bucketCerts, []byte(d.id), cval); err != nil {
		return err
	}
	if err := markReplaced(tx, d); err != nil {
		return err
	}
	if cd.serial == "" {
		return nil
	}
	return put(tx, bucketCertSerials, []byte(cd.serial), []byte(d.id))
}

// markReplaced records order d as the replacement of the certificate it
// names in replaces (RFC 9773 §5), unless an earlier order already is or
// the certificate is gone.
func markReplaced(tx *bbolt.Tx, d *orderDoc) error {
	if d.replacesCertID == "" || d.replacesCertID == d.id {
		return nil
	}
	old := new(certDoc)
	switch err := loadCert(tx, d.replacesCertID, old); {
	case errors.Is(err, store.ErrNotFound):
		return nil
	case err != nil:
		return err
	case old.replacedBy != "":
		return nil
	}
	old.replacedBy = d.id
	return put(tx, bucketCerts, []byte(old.id), old.encode())
}

// RecordCARequest stores the CA's name for the certificate being issued
// on a processing order; ErrConflict if it is not processing.
func (s *Store) RecordCARequest(ctx context.Context, orderID, resource string) error {
	return s.update(ctx, "RecordCARequest", func(tx *bbolt.Tx) error {
		d := new(orderDoc)
		if err := load(tx, bucketOrders, orderID, d); err != nil {
			return err
		}
		if d.status != string(core.StatusProcessing) {
			return conflict("order %q is %s", orderID, d.status)
		}
		d.caResource = resource
		return put(tx, bucketOrders, []byte(d.id), d.encode())
	})
}

// FailFinalize moves a processing order to invalid with prob (RFC 8555
// §7.4); ErrConflict if it is not processing.
func (s *Store) FailFinalize(ctx context.Context, orderID string, prob *problem.Problem) (*core.Order, error) {
	errJSON, err := encodeProblem(prob)
	if err != nil {
		return nil, err
	}
	now := s.now()
	var out *orderDoc
	err = s.update(ctx, "FailFinalize", func(tx *bbolt.Tx) error {
		out = nil
		d := new(orderDoc)
		if err := load(tx, bucketOrders, orderID, d); err != nil {
			return err
		}
		out = d
		if d.status != string(core.StatusProcessing) {
			return conflict("order %q is %s", orderID, d.status)
		}
		d.status, d.errJSON, d.updatedAt = string(core.StatusInvalid), errJSON, now
		if err := put(tx, bucketOrders, []byte(d.id), d.encode()); err != nil {
			return err
		}
		return del(tx, bucketProcessing, processingOrderKey(d.id))
	})
	return orderResult(out, err)
}

// GetCertificate implements store.Reader.
func (s *Store) GetCertificate(ctx context.Context, id string) (*core.Certificate, error) {
	var d certDoc
	if err := s.view(ctx, "GetCertificate", func(tx *bbolt.Tx) error {
		return loadCert(tx, id, &d)
	}); err != nil {
		return nil, err
	}
	return d.core(), nil
}

// GetCertificateBySerial implements store.Reader.
func (s *Store) GetCertificateBySerial(ctx context.Context, serial string) (*core.Certificate, error) {
	var d certDoc
	if err := s.view(ctx, "GetCertificateBySerial", func(tx *bbolt.Tx) error {
		id := bucket(tx, bucketCertSerials).Get([]byte(serial))
		if id == nil {
			return notFound("certificate with serial %q", serial)
		}
		return loadCert(tx, string(id), &d)
	}); err != nil {
		return nil, err
	}
	return d.core(), nil
}

// RevokeCertificate marks a valid certificate revoked at at with an RFC
// 5280 §5.3.1 reason code (RFC 8555 §7.6); ErrConflict if it is not valid.
func (s *Store) RevokeCertificate(ctx context.Context, id string, reason int, at time.Time) (*core.Certificate, error) {
	var out *certDoc
	err := s.update(ctx, "RevokeCertificate", func(tx *bbolt.Tx) error {
		out = nil
		d := new(certDoc)
		if err := loadCert(tx, id, d); err != nil {
			return err
		}
		out = d
		if d.status != string(core.StatusValid) {
			return conflict("certificate %q is %s", id, d.status)
		}
		d.status, d.revokedAt, d.reason = string(core.StatusRevoked), at, int64(reason)
		return put(tx, bucketCerts, []byte(id), d.encode())
	})
	if out == nil {
		return nil, err
	}
	return out.core(), err
}
