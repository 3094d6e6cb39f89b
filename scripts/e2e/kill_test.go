package e2e

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/acme"
)

// acked is what the server told one client before it was killed: each
// field is set only once the server had answered the request.
type acked struct {
	cl       *acme.Client // the client (account) that placed the order
	name     string
	order    string // the order's URL (new-order answered)
	authz    string // its authorization's URL
	answered bool   // the challenge POST was answered
	cert     []byte // the leaf downloaded with the finalize
	certURL  string
	ready    bool // the order was seen ready (authorization valid)
}

// TestKill9KeepsAcknowledgedState runs concurrent issuances against the
// embedded default, kills it with SIGKILL in the middle, restarts it on
// the same data and checks that every state change a client was told
// about survived: orders and authorizations exist, answered challenges
// did not go back to pending, ready orders are not pending again, and
// downloaded certificates are served unchanged. So the store's group
// commit has committed every write before its answer leaves. (SIGKILL
// keeps what reached the kernel; that the commit is also fsync'd before
// the answer is bbolt's Update, which the group commit waits for.)
func TestKill9KeepsAcknowledgedState(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	const workers = 8
	clients := make([]*acme.Client, workers)
	for i := range clients {
		clients[i] = e.newClient(ctx, t)
	}
	run, stop := context.WithCancel(ctx)
	var (
		mu   sync.Mutex
		all  []*acked
		wg   sync.WaitGroup
		done = make(chan struct{}, workers)
	)
	for _, cl := range clients {
		wg.Go(func() {
			for n := 0; run.Err() == nil; n++ {
				a := &acked{cl: cl, name: strings.ToLower(rand.Text()) + ".kill.test"}
				mu.Lock()
				all = append(all, a)
				mu.Unlock()
				if err := e.issueAcked(run, cl, a, &mu); err == nil && n == 1 {
					done <- struct{}{} // this client has completed issuances
				}
			}
		})
	}
	// Kill once every client has completed two issuances, so the kill
	// lands among requests in every state.
	for range workers {
		select {
		case <-done:
		case <-ctx.Done():
			t.Fatal("clients did not complete issuances before the kill")
		}
	}
	if err := e.Srv.Server.Kill(); err != nil {
		t.Fatalf("kill -9 acmera: %v", err)
	}
	stop()
	wg.Wait()
	e.Srv.Start()

	mu.Lock()
	defer mu.Unlock()
	var orders, answered, ready, certs int
	for _, a := range all {
		if a.order == "" {
			continue
		}
		orders++
		cl := a.cl
		o, err := cl.GetOrder(ctx, a.order)
		if err != nil {
			t.Errorf("%s: order acknowledged before the kill is gone: %v", a.name, err)
			continue
		}
		if a.ready && o.Status == acme.StatusPending {
			t.Errorf("%s: order was ready before the kill, pending after", a.name)
		}
		if a.answered {
			answered++
			z, err := cl.GetAuthorization(ctx, a.authz)
			if err != nil {
				t.Errorf("%s: authorization: %v", a.name, err)
			} else if z.Status == acme.StatusPending && !challengeProcessing(z) {
				t.Errorf("%s: challenge was answered before the kill, pending again after: %+v", a.name, z)
			}
		}
		if a.ready {
			ready++
		}
		if a.cert != nil {
			certs++
			chain, err := cl.FetchCert(ctx, a.certURL, false)
			if err != nil || len(chain) == 0 || !bytes.Equal(chain[0], a.cert) {
				t.Errorf("%s: certificate downloaded before the kill: %d certs, %v; want the same leaf", a.name, len(chain), err)
			}
			if o.Status != acme.StatusValid {
				t.Errorf("%s: order with a downloaded certificate is %s after the kill, want valid", a.name, o.Status)
			}
		}
	}
	t.Logf("acknowledged before the kill: %d orders, %d answered challenges, %d ready orders, %d certificates", orders, answered, ready, certs)
	if certs == 0 || orders == certs {
		t.Logf("note: the kill found no issuance in flight (%d orders, %d certificates)", orders, certs)
	}
}

// challengeProcessing reports whether one of z's challenges is processing
// (answered, its validation re-queued after the restart).
func challengeProcessing(z *acme.Authorization) bool {
	for _, c := range z.Challenges {
		if c.Status == acme.StatusProcessing {
			return true
		}
	}
	return false
}

// issueAcked runs one http-01 issuance for a.name, recording in a (under
// mu) each answer the server gave. It returns the first error (the kill
// makes one).
func (e *env) issueAcked(ctx context.Context, cl *acme.Client, a *acked, mu *sync.Mutex) error {
	set := func(f func()) { mu.Lock(); f(); mu.Unlock() }
	ids := acme.DomainIDs(a.name)
	o, err := cl.AuthorizeOrder(ctx, ids)
	if err != nil {
		return err
	}
	if len(o.AuthzURLs) != 1 {
		return fmt.Errorf("order with %d authorizations", len(o.AuthzURLs))
	}
	set(func() { a.order, a.authz = o.URI, o.AuthzURLs[0] })
	z, err := cl.GetAuthorization(ctx, o.AuthzURLs[0])
	if err != nil {
		return err
	}
	var ch *acme.Challenge
	for _, c := range z.Challenges {
		if c.Type == "http-01" {
			ch = c
		}
	}
	if ch == nil {
		return errors.New("no http-01 challenge")
	}
	if err := e.Present(cl, z, ch); err != nil {
		return err
	}
	if _, err := cl.Accept(ctx, ch); err != nil {
		return err
	}
	set(func() { a.answered = true })
	if _, err := cl.WaitAuthorization(ctx, z.URI); err != nil {
		return err
	}
	if o, err = cl.WaitOrder(ctx, o.URI); err != nil {
		return err
	}
	set(func() { a.ready = true })
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("ecdsa.GenerateKey: %w", err)
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{a.name}}, key)
	if err != nil {
		return fmt.Errorf("x509.CreateCertificateRequest: %w", err)
	}
	chain, certURL, err := cl.CreateOrderCert(ctx, o.FinalizeURL, csr, false)
	if err != nil {
		return err
	}
	set(func() { a.cert, a.certURL = chain[0], certURL })
	return nil
}
