package e2ecloud

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/acme"

	"github.com/acmera/acmera/scripts/internal/e2eutil"
)

// retryTransport re-sends a request whose connection failed (the server
// was killed or is restarting), a bounded number of times. A re-sent POST
// carries the same JWS: if the dead server had redeemed its nonce, the
// server answers badNonce and the ACME client signs it again.
type retryTransport struct {
	base     http.RoundTripper
	attempts int
	delay    time.Duration
	retries  *atomic.Int64 // counts re-sends, may be nil
}

func (rt *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	for i := 1; ; i++ {
		r := req
		if i > 1 && req.Body != nil && req.Body != http.NoBody {
			body, err := req.GetBody()
			if err != nil {
				return nil, fmt.Errorf("GetBody: %w", err)
			}
			r = req.Clone(req.Context())
			r.Body = body
		}
		res, err := rt.base.RoundTrip(r)
		if err == nil || i >= rt.attempts || req.Context().Err() != nil {
			return res, err
		}
		if rt.retries != nil {
			rt.retries.Add(1)
		}
		select {
		case <-time.After(rt.delay):
		case <-req.Context().Done():
			return nil, req.Context().Err()
		}
	}
}

// newClient returns an x/crypto/acme client with a fresh key, retrying
// refused connections (up to ~10 s) and retriable ACME errors (briefly).
func newClient(dirURL string, retries *atomic.Int64) (*acme.Client, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("ecdsa.GenerateKey: %w", err)
	}
	tr := &retryTransport{base: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 4}, attempts: 100,
		delay: 100 * time.Millisecond, retries: retries}
	return &acme.Client{Key: k, DirectoryURL: dirURL, HTTPClient: &http.Client{Timeout: 30 * time.Second, Transport: tr},
		RetryBackoff: shortBackoff}, nil
}

// shortBackoff bounds x/crypto/acme's own retries (badNonce, 5xx).
func shortBackoff(n int, _ *http.Request, _ *http.Response) time.Duration {
	if n > 10 {
		return 0
	}
	return time.Duration(n) * 200 * time.Millisecond
}

// register creates the client's account (RFC 8555 §7.3).
func register(ctx context.Context, cl *acme.Client) error {
	a, err := cl.Register(ctx, &acme.Account{Contact: []string{"mailto:e2e@example.test"}}, acme.AcceptTOS)
	if err != nil {
		return fmt.Errorf("Register: %w", err)
	}
	if a.Status != acme.StatusValid || a.URI == "" {
		return fmt.Errorf("Register: account %+v, want valid with a URI", a)
	}
	return nil
}

// answered is one challenge a client answered.
type answered struct {
	Authz     *acme.Authorization
	Challenge *acme.Challenge
}

// IDs returns the authorization and challenge IDs from the challenge URL
// (…/chall/{authz}/{challenge}).
func (a answered) IDs() (authzID, challengeID string) {
	parts := strings.Split(a.Challenge.URI, "/")
	if len(parts) < 2 {
		return "", ""
	}
	return parts[len(parts)-2], parts[len(parts)-1]
}

// authorize places an order for names and answers one challenge of type
// typ per pending authorization, then waits for the order to be ready
// (RFC 8555 §7.4, §7.5.1).
func (s *stack) authorize(ctx context.Context, cl *acme.Client, names []string, typ string) (*acme.Order, []answered, error) {
	o, err := cl.AuthorizeOrder(ctx, acme.DomainIDs(names...))
	if err != nil {
		return nil, nil, fmt.Errorf("AuthorizeOrder %v: %w", names, err)
	}
	var done []answered
	for _, u := range o.AuthzURLs {
		z, err := cl.GetAuthorization(ctx, u)
		if err != nil {
			return o, done, fmt.Errorf("GetAuthorization: %w", err)
		}
		if z.Status == acme.StatusValid {
			continue
		}
		ch, err := e2eutil.FindChallenge(z, typ)
		if err != nil {
			return o, done, err
		}
		if err := s.Present(cl, z, ch); err != nil {
			return o, done, err
		}
		if _, err := cl.Accept(ctx, ch); err != nil {
			return o, done, fmt.Errorf("Accept %s: %w", ch.URI, err)
		}
		done = append(done, answered{Authz: z, Challenge: ch})
		if _, err := cl.WaitAuthorization(ctx, z.URI); err != nil {
			return o, done, fmt.Errorf("WaitAuthorization %s (%s): %w", z.Identifier.Value, typ, err)
		}
	}
	ready, err := cl.WaitOrder(ctx, o.URI)
	if err != nil {
		return o, done, fmt.Errorf("WaitOrder: %w", err)
	}
	if ready.Status != acme.StatusReady {
		return o, done, fmt.Errorf("order %s after every authorization is valid, want ready", ready.Status)
	}
	return ready, done, nil
}

// finalize submits a CSR for names and downloads the certificate. A
// finalize cut short by a killed server is recovered by polling the order
// (it is processing or already valid) and fetching its certificate.
func finalize(ctx context.Context, cl *acme.Client, o *acme.Order, names []string) ([][]byte, crypto.Signer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("ecdsa.GenerateKey: %w", err)
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: names}, key)
	if err != nil {
		return nil, nil, fmt.Errorf("x509.CreateCertificateRequest: %w", err)
	}
	chain, _, ferr := cl.CreateOrderCert(ctx, o.FinalizeURL, csr, true)
	if ferr == nil {
		return chain, key, nil
	}
	var oe *acme.OrderError
	if errors.As(ferr, &oe) {
		return nil, key, fmt.Errorf("CreateOrderCert: %w", ferr)
	}
	now, err := cl.WaitOrder(ctx, o.URI)
	if err != nil {
		return nil, key, fmt.Errorf("CreateOrderCert: %v; then WaitOrder: %w", ferr, err)
	}
	if now.Status == acme.StatusReady { // the finalize never took effect: once more
		if chain, _, err = cl.CreateOrderCert(ctx, o.FinalizeURL, csr, true); err != nil {
			return nil, key, fmt.Errorf("CreateOrderCert (again): %w", err)
		}
		return chain, key, nil
	}
	if chain, err = cl.FetchCert(ctx, now.CertURL, true); err != nil {
		return nil, key, fmt.Errorf("CreateOrderCert: %v; then FetchCert: %w", ferr, err)
	}
	return chain, key, nil
}

// issued is one completed x/crypto/acme issuance.
type issued struct {
	Order    *acme.Order
	Answered []answered
	Leaf     *x509.Certificate
}

// issue runs a whole order with one client and verifies the chain.
func (s *stack) issue(ctx context.Context, cl *acme.Client, roots *x509.CertPool, names []string, typ string) (*issued, error) {
	o, done, err := s.authorize(ctx, cl, names, typ)
	if err != nil {
		return nil, err
	}
	chain, key, err := finalize(ctx, cl, o, names)
	if err != nil {
		return nil, err
	}
	leaf, err := e2eutil.VerifyChain(roots, chain, acme.DomainIDs(names...), key.Public())
	if err != nil {
		return nil, err
	}
	return &issued{Order: o, Answered: done, Leaf: leaf}, nil
}
