package ra

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/acmera/acmera/pkg/ca"
	"github.com/acmera/acmera/pkg/certpem"
	"github.com/acmera/acmera/pkg/core"
	"github.com/acmera/acmera/pkg/problem"
	"github.com/acmera/acmera/pkg/queue"
	"github.com/acmera/acmera/pkg/store"
)

func parseJWK(b []byte) (crypto.PublicKey, error) {
	var k jose.JSONWebKey
	if err := k.UnmarshalJSON(b); err != nil {
		return nil, fmt.Errorf("jose.JSONWebKey.UnmarshalJSON: %w", err)
	}
	return k.Key, nil
}

// Finalize checks a CSR against a ready order, moves the order to
// processing exactly once and asks the CA to sign (RFC 8555 §7.4). A
// transient CA failure leaves the order processing and queues a retry; the
// client keeps polling the order.
func (r *RA) Finalize(ctx context.Context, acct *core.Account, orderID string, csrDER []byte) (*core.Order, error) {
	o, err := r.store.GetOrder(ctx, orderID)
	if err != nil {
		return nil, notFound(err, "order", "store.GetOrder")
	}
	if err := owned(acct, o.AccountID, "order"); err != nil {
		return nil, err
	}
	now := r.now()
	if s := o.StatusAt(now); s != core.StatusReady {
		return nil, problem.New(problem.OrderNotReady, "the order is %s, not ready", s)
	}
	csr, err := checkCSR(csrDER, o, acct)
	if err != nil {
		return nil, err
	}
	o, err = r.store.BeginFinalize(ctx, orderID, csrDER, now)
	if errors.Is(err, store.ErrConflict) {
		if o != nil && o.Status == core.StatusReady {
			return nil, problem.New(problem.OrderNotReady, "an authorization of the order is no longer valid; create a new order")
		}
		return nil, problem.New(problem.OrderNotReady, "the order is already being finalized")
	}
	if err != nil {
		return nil, fmt.Errorf("store.BeginFinalize: %w", err)
	}
	// The order is now processing: finish the CA call and its record even if
	// the client goes away, so the order does not wait for a retry.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 60*time.Second)
	defer cancel()
	o, err = r.issue(ctx, o, csr)
	if err == nil && o.Status == core.StatusProcessing {
		r.enqueueFinalize(ctx, o)
	}
	return o, err
}

// issue calls the CA for a processing order and records the outcome. It
// returns the order as it then stands: still processing after a transient
// CA failure, which the caller must arrange to retry.
func (r *RA) issue(ctx context.Context, o *core.Order, csr *x509.CertificateRequest) (*core.Order, error) {
	pr, err := r.profile(o.Profile)
	if err != nil {
		return nil, err
	}
	lifetime := time.Duration(pr.DefaultLifetime)
	if !o.NotAfter.IsZero() {
		start := o.NotBefore
		if start.IsZero() {
			start = r.now()
		}
		lifetime = o.NotAfter.Sub(start)
	}
	req := ca.IssueRequest{CSR: csr, NotBefore: o.NotBefore, Lifetime: lifetime, Template: pr.CATemplate, RequestID: ca.RequestID(o.ID)}
	issued, err := r.ca.Issue(ctx, req)
	var rejected *ca.RejectedError
	switch {
	case errors.As(err, &rejected):
		return r.failFinalize(ctx, o, problem.BadCSRf("the CA refused to issue: %s", rejected.Detail))
	case err != nil:
		// The order stays processing; the caller arranges the retry.
		r.log.WarnContext(ctx, "CA issue failed; finalize will be retried", "order", o.ID, "error", err.Error())
		return o, nil
	}
	cert, err := certificateFrom(o, issued, r.now())
	if err != nil {
		return nil, err
	}
	done, err := r.store.CompleteFinalize(ctx, o.ID, cert)
	r.waiters.notify(orderKey(o.ID))
	if errors.Is(err, store.ErrConflict) {
		return r.store.GetOrder(ctx, o.ID) // a concurrent retry recorded it first
	}
	if err != nil {
		return nil, fmt.Errorf("store.CompleteFinalize: %w", err)
	}
	r.log.InfoContext(ctx, "certificate issued", "event", "certificate.issue", "account", o.AccountID, "order", o.ID,
		"identifiers", identValues(o.Identifiers), "serial", cert.Serial, "notAfter", cert.NotAfter,
		"caResource", cert.CAResource, "profile", o.Profile)
	return done, nil
}

func (r *RA) failFinalize(ctx context.Context, o *core.Order, prob *problem.Problem) (*core.Order, error) {
	done, err := r.store.FailFinalize(ctx, o.ID, prob)
	r.waiters.notify(orderKey(o.ID))
	if errors.Is(err, store.ErrConflict) {
		return r.store.GetOrder(ctx, o.ID)
	}
	if err != nil {
		return nil, fmt.Errorf("store.FailFinalize: %w", err)
	}
	r.log.WarnContext(ctx, "finalize failed", "event", "order.invalid", "order", o.ID, "problem", string(prob.Type), "detail", prob.Detail)
	return done, nil
}

func (r *RA) enqueueFinalize(ctx context.Context, o *core.Order) {
	t := queue.Task{Kind: queue.KindFinalize, Profile: o.Profile, OrderID: o.ID}
	if err := r.queue.Enqueue(ctx, t); err != nil {
		// The order stays processing; the next poll of the order re-queues it.
		r.log.ErrorContext(ctx, "queue.Enqueue finalize retry failed", "order", o.ID, "error", err.Error())
	}
}

// retryFinalize re-runs the CA call of a processing order with the same
// request ID. After the finalize timeout it gives up and marks the order
// invalid, so that no order stays processing forever.
func (r *RA) retryFinalize(ctx context.Context, t queue.Task) error {
	o, err := r.store.GetOrder(ctx, t.OrderID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("store.GetOrder: %w", err)
	}
	if o.Status != core.StatusProcessing {
		return nil
	}
	if r.now().Sub(o.UpdatedAt) > r.finalizeTimeout {
		_, err := r.failFinalize(ctx, o, problem.New(problem.ServerInternal, "the CA did not issue within %v; create a new order", r.finalizeTimeout))
		return err
	}
	csr, err := x509.ParseCertificateRequest(o.CSR)
	if err != nil {
		_, err := r.failFinalize(ctx, o, problem.BadCSRf("the stored CSR could not be parsed"))
		return err
	}
	done, err := r.issue(ctx, o, csr)
	if err != nil {
		return err
	}
	if done.Status == core.StatusProcessing {
		return fmt.Errorf("ra: CA still failing for order %s", o.ID)
	}
	return nil
}

// certificateFrom builds the certificate record of an issued chain.
func certificateFrom(o *core.Order, issued *ca.Issued, now time.Time) (*core.Certificate, error) {
	if issued == nil || len(issued.Chain) == 0 {
		return nil, errors.New("ca: empty chain")
	}
	leaf, err := x509.ParseCertificate(issued.Chain[0])
	if err != nil {
		return nil, fmt.Errorf("x509.ParseCertificate leaf: %w", err)
	}
	var chain []byte
	for _, der := range issued.Chain {
		chain = certpem.Append(chain, der)
	}
	return &core.Certificate{
		ID: o.ID, AccountID: o.AccountID, OrderID: o.ID, Profile: o.Profile,
		Serial: SerialString(leaf.SerialNumber), Chain: chain, NotBefore: leaf.NotBefore, NotAfter: leaf.NotAfter,
		CAResource: issued.Resource, Status: core.StatusValid, CreatedAt: now,
	}, nil
}

// SerialString encodes a serial as core.Certificate.Serial does.
func SerialString(n *big.Int) string { return n.Text(16) }

// Certificate returns an issued certificate of the account.
func (r *RA) Certificate(ctx context.Context, acct *core.Account, id string) (*core.Certificate, error) {
	c, err := r.store.GetCertificate(ctx, id)
	if err != nil {
		return nil, notFound(err, "certificate", "store.GetCertificate")
	}
	if err := owned(acct, c.AccountID, "certificate"); err != nil {
		return nil, err
	}
	return c, nil
}
