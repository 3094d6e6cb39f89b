package ra

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"net"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/acmera/acmera/pkg/acme"
	"github.com/acmera/acmera/pkg/ca"
	"github.com/acmera/acmera/pkg/certpem"
	"github.com/acmera/acmera/pkg/core"
	"github.com/acmera/acmera/pkg/metrics"
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
// processing exactly once and asks the CA to sign (RFC 8555 §7.4) the
// certificate the RA builds from the order. Before the CA is called, a
// delayed finalize task is queued (an outbox): if this instance dies after
// the CA minted, or the store write fails, the task asks the CA again with
// the same request ID and records what it minted. A transient CA failure
// leaves the order processing for that task; the client keeps polling.
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
	if !o.NotAfter.IsZero() && !o.NotAfter.After(now) {
		return nil, problem.Malformedf("the order's notAfter %s has already passed; create a new order", o.NotAfter.UTC().Format(time.RFC3339))
	}
	csr, err := checkCSR(csrDER, o, acct)
	if err != nil {
		return nil, err
	}
	if f, ok := r.atOnce(o); ok {
		return r.finalizeAtOnce(ctx, f, o, csr, csrDER, now)
	}
	o, err = r.beginFinalize(ctx, orderID, csrDER, now)
	if err != nil {
		return nil, err
	}
	// The order is now processing: finish the CA call and its record even if
	// the client goes away, so the order does not wait for a retry.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), caCallTimeout)
	defer cancel()
	r.enqueueFinalize(ctx, o, r.finalizeRetryDelay)
	done, err := r.issue(ctx, o, csr)
	if err == nil && done.Status != core.StatusProcessing {
		r.cancelFinalize(ctx, o)
	}
	return done, err
}

// beginFinalize moves a ready order to processing (store.BeginFinalize),
// answering a lost race with orderNotReady.
func (r *RA) beginFinalize(ctx context.Context, orderID string, csrDER []byte, now time.Time) (*core.Order, error) {
	o, err := r.store.BeginFinalize(ctx, orderID, csrDER, now)
	if errors.Is(err, store.ErrConflict) {
		return nil, notReady(o)
	}
	if err != nil {
		return nil, fmt.Errorf("store.BeginFinalize: %w", err)
	}
	return o, nil
}

// notReady is the problem of a finalize that found the order o (as it
// now stands) no longer ready to finalize.
func notReady(o *core.Order) *problem.Problem {
	if o != nil && o.Status == core.StatusReady {
		return problem.New(problem.OrderNotReady, "an authorization of the order is no longer valid; create a new order")
	}
	return problem.New(problem.OrderNotReady, "the order is already being finalized")
}

// atOnce reports whether order o can be finalized in one store write: its
// CA signs in this process (ca.InProcess) and the store can record the
// order valid straight from ready (store.AtOnceFinalizer).
func (r *RA) atOnce(o *core.Order) (store.AtOnceFinalizer, bool) {
	f, ok := r.store.(store.AtOnceFinalizer)
	if !ok {
		return nil, false
	}
	iss, err := r.issuer(o.Backend)
	if err != nil {
		return nil, false
	}
	in, ok := iss.(ca.InProcess)
	return f, ok && in.SignsInProcess()
}

// finalizeAtOnce finalizes a ready order whose CA signs in this process:
// it signs first, then records the order valid with its certificate in
// one store write (store.AtOnceFinalizer), one commit instead of two and
// no outbox task. Until that write the certificate exists only here, so a
// crash in between leaves the order ready and nothing issued, and the
// client's next finalize signs again. Any other outcome (the CA refuses,
// the certificate is not the one asked for) is settled the two-step way,
// with the CA's answer already in hand.
func (r *RA) finalizeAtOnce(ctx context.Context, f store.AtOnceFinalizer, o *core.Order, csr *x509.CertificateRequest, csrDER []byte, now time.Time) (*core.Order, error) {
	begun := *o
	begun.UpdatedAt = now // the request time, as BeginFinalize records it
	req, err := r.issueRequest(&begun, csr)
	if err != nil {
		return nil, err
	}
	iss, err := r.issuer(o.Backend)
	if err != nil {
		return nil, err
	}
	issued, caErr := r.callIssue(ctx, iss, o, req)
	if caErr == nil {
		cert, leaf, err := certificateFrom(&begun, issued, r.now())
		if err != nil {
			return nil, err
		}
		if ca.CheckIssued(req, leaf, r.now()) == nil {
			if r.beforeComplete != nil {
				if err := r.beforeComplete(ctx, o.ID); err != nil {
					return nil, err
				}
			}
			done, err := f.FinalizeAtOnce(ctx, o.ID, now, cert)
			if errors.Is(err, store.ErrConflict) {
				return nil, notReady(done)
			}
			if err != nil {
				return nil, fmt.Errorf("store.FinalizeAtOnce: %w", err)
			}
			r.waiters.notify(orderKey(o.ID))
			r.logIssued(ctx, &begun, cert)
			return done, nil
		}
	}
	p, err := r.beginFinalize(ctx, o.ID, csrDER, now)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), caCallTimeout)
	defer cancel()
	r.enqueueFinalize(ctx, p, r.finalizeRetryDelay)
	done, err := r.settle(ctx, p, req, issued, caErr)
	if err == nil && done.Status != core.StatusProcessing {
		r.cancelFinalize(ctx, p)
	}
	return done, err
}

// caCallTimeout bounds one finalize's CA call and record. The outbox task
// runs after it (Config.FinalizeRetryDelay is at least this long by
// default), so the first attempt has ended by then.
const caCallTimeout = 60 * time.Second

// issueRequest builds the certificate acmera decided: the order's
// identifiers as names, the CSR's key, the profile's usages and lifetime.
func (r *RA) issueRequest(o *core.Order, csr *x509.CertificateRequest) (ca.IssueRequest, error) {
	pr, err := r.profile(o.Profile)
	if err != nil {
		return ca.IssueRequest{}, err
	}
	req := ca.IssueRequest{
		CSR: csr, PublicKey: csr.PublicKey, NotBefore: o.NotBefore, Lifetime: time.Duration(pr.DefaultLifetime),
		Template: pr.CATemplate, RequestID: ca.RequestID(o.ID), RequestedAt: o.UpdatedAt,
		Resource: o.CAResource,
		// A CA that names the certificate before signing it (AWS Private
		// CA): record the name, so a retry collects it (Find) instead of
		// asking for a second one once the CA's idempotency window is over.
		Submitted: func(ctx context.Context, resource string) error {
			if err := r.store.RecordCARequest(ctx, o.ID, resource); err != nil {
				return fmt.Errorf("store.RecordCARequest: %w", err)
			}
			return nil
		},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if pr.ClientAuth {
		req.ExtKeyUsage = append(req.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	}
	for _, id := range o.Identifiers {
		switch id.Type {
		case acme.IdentifierDNS:
			req.DNSNames = append(req.DNSNames, id.Value)
		case acme.IdentifierIP:
			req.IPAddresses = append(req.IPAddresses, net.ParseIP(id.Value))
		}
	}
	// The common name repeats the first DNS name where it fits (RFC 5280
	// ub-common-name 64); with none the subject is empty.
	if len(req.DNSNames) > 0 && len(req.DNSNames[0]) <= 64 {
		req.CommonName = req.DNSNames[0]
	}
	if o.NotAfter.IsZero() && o.LifetimeCap > 0 && req.Lifetime > o.LifetimeCap {
		req.Lifetime = o.LifetimeCap // the EAB key's maximum
	}
	if !o.NotAfter.IsZero() {
		start := o.NotBefore
		if start.IsZero() {
			start = o.UpdatedAt
		}
		req.Lifetime = o.NotAfter.Sub(start)
		req.NotAfter = o.NotAfter
	}
	return req, nil
}

// issue calls the CA for a processing order and records the outcome. It
// returns the order as it then stands: still processing after a transient
// CA failure, which the outbox task retries.
func (r *RA) issue(ctx context.Context, o *core.Order, csr *x509.CertificateRequest) (*core.Order, error) {
	req, err := r.issueRequest(o, csr)
	if err != nil {
		return nil, err
	}
	iss, err := r.issuer(o.Backend)
	if err != nil {
		return nil, err
	}
	issued, err := r.callIssue(ctx, iss, o, req)
	return r.settle(ctx, o, req, issued, err)
}

// callIssue asks iss to issue req for order o, counting the call.
func (r *RA) callIssue(ctx context.Context, iss ca.Issuer, o *core.Order, req ca.IssueRequest) (*ca.Issued, error) {
	start := time.Now()
	issued, err := iss.Issue(ctx, req)
	r.countCA(ctx, o.Backend, metrics.CAIssue, start, err)
	return issued, err
}

// settle records the CA's answer (issued, err) to req for processing order
// o: the certificate, a refusal ending the order invalid, or, after a
// transient failure, nothing (the order stays processing for the outbox
// task).
func (r *RA) settle(ctx context.Context, o *core.Order, req ca.IssueRequest, issued *ca.Issued, err error) (*core.Order, error) {
	var rejected *ca.RejectedError
	switch {
	case errors.As(err, &rejected):
		return r.failFinalize(ctx, o, metrics.IssuanceRejected, problem.BadCSRf("the CA refused to issue: %s", rejected.Detail))
	case errors.Is(err, ca.ErrMisconfigured):
		r.log.ErrorContext(ctx, "the CA refused acmera's request: check the CA pool, template and acmera's permissions",
			"event", "ca.misconfigured", "order", o.ID, "error", err.Error())
		return r.failFinalize(ctx, o, metrics.IssuanceMisconfigured, problem.New(problem.ServerInternal, "the CA could not issue because of a server configuration error; the operator has been alerted"))
	case err != nil:
		// The order stays processing; the outbox task retries.
		r.log.WarnContext(ctx, "CA issue failed; finalize will be retried", "order", o.ID, "error", err.Error())
		return o, nil
	}
	return r.record(ctx, o, req, issued)
}

// record checks what the CA returned and stores it. A certificate that is
// not what was asked is revoked and the order fails; one minted for an
// order that has meanwhile ended otherwise is revoked, never orphaned.
func (r *RA) record(ctx context.Context, o *core.Order, req ca.IssueRequest, issued *ca.Issued) (*core.Order, error) {
	cert, leaf, err := certificateFrom(o, issued, r.now())
	if err != nil {
		return nil, err
	}
	var mismatch *ca.MismatchError
	if err := ca.CheckIssued(req, leaf, r.now()); errors.As(err, &mismatch) {
		r.revokeUnusable(ctx, o, cert, leaf, "the CA issued a certificate other than the one requested: "+mismatch.Detail)
		return r.failFinalize(ctx, o, metrics.IssuanceMisissued, problem.New(problem.CAMisissued,
			"the CA returned a certificate that does not match the order (%s); it was revoked and not issued", mismatch.Detail))
	} else if err != nil {
		return nil, fmt.Errorf("ca.CheckIssued: %w", err)
	}
	if r.beforeComplete != nil {
		if err := r.beforeComplete(ctx, o.ID); err != nil {
			return nil, err
		}
	}
	done, err := r.store.CompleteFinalize(ctx, o.ID, cert)
	r.waiters.notify(orderKey(o.ID))
	if errors.Is(err, store.ErrConflict) {
		return r.afterConflict(ctx, o, cert, leaf)
	}
	if err != nil {
		return nil, fmt.Errorf("store.CompleteFinalize: %w", err)
	}
	r.logIssued(ctx, o, cert)
	return done, nil
}

// logIssued counts and logs the issuance of cert for order o, whose
// UpdatedAt is when its finalize began.
func (r *RA) logIssued(ctx context.Context, o *core.Order, cert *core.Certificate) {
	r.metrics.Issuance(ctx, o.Profile, r.backendName(o.Backend), metrics.IssuanceIssued, r.now().Sub(o.UpdatedAt))
	r.log.InfoContext(ctx, "certificate issued", "event", "certificate.issue", "account", o.AccountID, "order", o.ID,
		"identifiers", identValues(o.Identifiers), "serial", cert.Serial, "notAfter", cert.NotAfter,
		"caResource", cert.CAResource, "profile", o.Profile)
}

// afterConflict handles a CompleteFinalize that found the order no longer
// processing: a concurrent retry recorded the same certificate (fine), or
// the order ended without it, and the certificate is revoked.
func (r *RA) afterConflict(ctx context.Context, o *core.Order, cert *core.Certificate, leaf *x509.Certificate) (*core.Order, error) {
	// Revoke only what is known not to be served: a store error here
	// proves nothing, and the certificate may be the one just recorded.
	cur, err := r.store.GetOrder(ctx, o.ID)
	if err != nil {
		return nil, fmt.Errorf("store.GetOrder: %w", err)
	}
	switch cur.Status {
	case core.StatusProcessing:
		return cur, nil // not ended: the outbox task records it
	case core.StatusValid:
		got, err := r.store.GetCertificate(ctx, cur.CertificateID)
		if err != nil {
			return nil, fmt.Errorf("store.GetCertificate: %w", err)
		}
		if got.Serial == cert.Serial {
			return cur, nil
		}
	}
	r.revokeUnusable(ctx, o, cert, leaf, "the CA minted a certificate for an order that had already ended "+string(cur.Status))
	return cur, nil
}

// revokeUnusable revokes at the CA a certificate that will never be served
// and writes an audit event with everything needed to find it.
func (r *RA) revokeUnusable(ctx context.Context, o *core.Order, cert *core.Certificate, leaf *x509.Certificate, why string) {
	iss, err := r.issuer(o.Backend)
	if err == nil {
		start := time.Now()
		err = iss.Revoke(ctx, ca.RevokeRequest{Cert: leaf, Resource: cert.CAResource, Reason: 0})
		r.countCA(ctx, o.Backend, metrics.CARevoke, start, err)
	}
	errText := ""
	if err != nil {
		errText = err.Error()
	}
	r.log.ErrorContext(ctx, why, "event", "certificate.unusable", "account", o.AccountID, "order", o.ID,
		"serial", cert.Serial, "caResource", cert.CAResource, "identifiers", identValues(o.Identifiers),
		"revoked", err == nil, "revokeError", errText)
}

// failFinalize ends a processing order invalid with prob; outcome is the
// issuance outcome it counts (a metrics.Issuance* value).
func (r *RA) failFinalize(ctx context.Context, o *core.Order, outcome string, prob *problem.Problem) (*core.Order, error) {
	done, err := r.store.FailFinalize(ctx, o.ID, prob)
	r.waiters.notify(orderKey(o.ID))
	if errors.Is(err, store.ErrConflict) {
		return r.store.GetOrder(ctx, o.ID)
	}
	if err != nil {
		return nil, fmt.Errorf("store.FailFinalize: %w", err)
	}
	r.metrics.Issuance(ctx, o.Profile, r.backendName(o.Backend), outcome, r.now().Sub(o.UpdatedAt))
	r.log.WarnContext(ctx, "finalize failed", "event", "order.invalid", "order", o.ID, "problem", string(prob.Type), "detail", prob.Detail)
	return done, nil
}

// enqueueFinalize queues the finalize task of o, to run after delay. Its
// name is the order's, so a second enqueue while one waits is a no-op.
func (r *RA) enqueueFinalize(ctx context.Context, o *core.Order, delay time.Duration) {
	t := queue.Task{Kind: queue.KindFinalize, Profile: o.Profile, OrderID: o.ID, After: delay}
	if err := r.queue.Enqueue(ctx, t); err != nil {
		// The order stays processing; the next poll of the order re-queues it.
		r.log.ErrorContext(ctx, "queue.Enqueue finalize retry failed", "order", o.ID, "error", err.Error())
	}
}

// cancelFinalize takes back the outbox task of an order whose finalize
// has ended, where the queue can (queue.Canceler: the in-process queue, in
// which each waiting task holds memory until its time). Where it cannot
// or fails, the task runs and finds the order no longer processing.
func (r *RA) cancelFinalize(ctx context.Context, o *core.Order) {
	c, ok := r.queue.(queue.Canceler)
	if !ok {
		return
	}
	if err := c.Cancel(ctx, queue.Task{Kind: queue.KindFinalize, Profile: o.Profile, OrderID: o.ID}); err != nil {
		r.log.WarnContext(ctx, "queue.Cancel finalize retry failed", "order", o.ID, "error", err.Error())
	}
}

// retryFinalize re-runs the CA call of a processing order with the same
// request ID, which gets back a certificate the CA already minted. Past
// the finalize timeout it ends the order only once the CA says it never
// issued for the request (ca.Finder); a CA that cannot say keeps the
// order processing and the task retrying, so no order is ended invalid
// while its certificate may exist.
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
	csr, err := x509.ParseCertificateRequest(o.CSR)
	if err != nil {
		_, err := r.failFinalize(ctx, o, metrics.IssuanceError, problem.BadCSRf("the stored CSR could not be parsed"))
		return err
	}
	// A certificate the CA minted for an earlier attempt (its answer lost)
	// is recorded without asking the CA to issue again, which might now
	// refuse. Past the finalize timeout, the order ends only when the CA
	// says it never issued; the check comes before a new attempt, so no
	// attempt of this run can still be in flight at the CA.
	iss, err := r.issuer(o.Backend)
	if err != nil {
		return err
	}
	if f, ok := iss.(ca.Finder); ok {
		req, err := r.issueRequest(o, csr)
		if err != nil {
			return err
		}
		start := time.Now()
		issued, err := f.Find(ctx, req)
		r.countCA(ctx, o.Backend, metrics.CAFind, start, err)
		var rejected *ca.RejectedError
		switch {
		case err == nil:
			_, err = r.record(ctx, o, req, issued)
			return err
		case errors.As(err, &rejected):
			// The CA decided against the request it holds (AD CS: a
			// certificate manager denied it, or it was not approved in
			// time): the order ends with the CA's message, as in issue().
			_, err := r.failFinalize(ctx, o, metrics.IssuanceRejected, problem.BadCSRf("the CA refused to issue: %s", rejected.Detail))
			return err
		case errors.Is(err, ca.ErrNotIssued) && r.now().Sub(o.UpdatedAt) > r.finalizeTimeout:
			_, err := r.failFinalize(ctx, o, metrics.IssuanceTimeout, problem.New(problem.ServerInternal, "the CA did not issue within %v; create a new order", r.finalizeTimeout))
			return err
		case !errors.Is(err, ca.ErrNotIssued) && o.CAResource != "":
			// The CA holds a request for this order (recorded through
			// IssueRequest.Submitted) that it has not answered yet (AD
			// CS: pending a manager's approval) or could not be asked
			// about now: enrolling again would make a second request.
			r.log.InfoContext(ctx, "the CA has not issued the recorded request yet; finalize will be retried",
				"order", o.ID, "caResource", o.CAResource, "error", err.Error())
			return fmt.Errorf("ra: CA request %s of order %s not issued yet: %w", o.CAResource, o.ID, err)
		}
	}
	done, err := r.issue(ctx, o, csr)
	if err != nil {
		return err
	}
	if done.Status != core.StatusProcessing {
		return nil
	}
	return fmt.Errorf("ra: CA still failing for order %s", o.ID)
}

// certificateFrom builds the certificate record of an issued chain.
func certificateFrom(o *core.Order, issued *ca.Issued, now time.Time) (*core.Certificate, *x509.Certificate, error) {
	if issued == nil || len(issued.Chain) == 0 {
		return nil, nil, errors.New("ca: empty chain")
	}
	leaf, err := x509.ParseCertificate(issued.Chain[0])
	if err != nil {
		return nil, nil, fmt.Errorf("x509.ParseCertificate leaf: %w", err)
	}
	var chain []byte
	for _, der := range issued.Chain {
		chain = certpem.Append(chain, der)
	}
	return &core.Certificate{
		ID: o.ID, AccountID: o.AccountID, OrderID: o.ID, Profile: o.Profile,
		Serial: SerialString(leaf.SerialNumber), Chain: chain, NotBefore: leaf.NotBefore, NotAfter: leaf.NotAfter,
		CAResource: issued.Resource, Status: core.StatusValid, CreatedAt: now, Backend: o.Backend,
	}, leaf, nil
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
