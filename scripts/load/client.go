package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/acme"

	"github.com/acmera/acmera/scripts/internal/e2eutil"
)

// maxPoll caps the interval between two polls of an authorization.
const maxPoll = time.Second

// worker is one ACME client: one account, reused for every issuance, as
// a certbot installation renewing its certificates would.
type worker struct {
	cl        *acme.Client
	tr        *http.Transport
	rsp       *e2eutil.HTTP01
	domain    string
	poll      time.Duration // first poll delay; 0 = the library's WaitAuthorization
	reconnect bool          // drop idle connections after each issuance

	hc         *http.Client
	dirURL     string
	perAccount int // orders before a new account (0: never)
	orders     int // orders placed by the current account
}

// newWorker makes a client with its own connection pool, trusting roots,
// and registers its account.
func newWorker(ctx context.Context, dirURL string, roots *x509.CertPool, cnt *counter, rsp *e2eutil.HTTP01, cfg config) (*worker, error) {
	tr := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     time.Minute,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		TLSHandshakeTimeout: 10 * time.Second,
	}
	w := &worker{
		tr: tr, rsp: rsp, domain: cfg.Domain, poll: cfg.Poll, reconnect: cfg.Reconnect,
		hc: &http.Client{Transport: cnt.wrap(tr), Timeout: cfg.Timeout}, dirURL: dirURL, perAccount: cfg.AccountOrders,
	}
	if err := w.register(ctx); err != nil {
		tr.CloseIdleConnections()
		return nil, err
	}
	return w, nil
}

// register makes a new key and account (RFC 8555 §7.3) for the next
// issuances.
func (w *worker) register(ctx context.Context) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("ecdsa.GenerateKey: %w", err)
	}
	cl := &acme.Client{Key: key, DirectoryURL: w.dirURL, HTTPClient: w.hc, UserAgent: "acmera-load"}
	if _, err := cl.Register(ctx, &acme.Account{}, acme.AcceptTOS); err != nil {
		return fmt.Errorf("acme.Client.Register: %w", err)
	}
	w.cl, w.orders = cl, 0
	return nil
}

func (w *worker) close() { w.tr.CloseIdleConnections() }

// issue runs one full issuance for a fresh random name: new order (§7.4),
// http-01 (§8.3) for each authorization, finalize with a new P-256 key's
// CSR, and download the chain (§7.4.2). It adds the time spent waiting for
// validations to *val and returns the stage that failed with the error.
func (w *worker) issue(ctx context.Context, val *time.Duration) (stage string, err error) {
	if w.reconnect {
		defer w.tr.CloseIdleConnections()
	}
	if w.perAccount > 0 && w.orders >= w.perAccount {
		if err := w.register(ctx); err != nil {
			return "new-account", err
		}
	}
	name := strings.ToLower(rand.Text()) + "." + w.domain
	w.orders++
	o, err := w.cl.AuthorizeOrder(ctx, acme.DomainIDs(name))
	if err != nil {
		return "new-order", err
	}
	for _, u := range o.AuthzURLs {
		if stage, err := w.authorize(ctx, u, val); err != nil {
			return stage, err
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "csr", fmt.Errorf("ecdsa.GenerateKey: %w", err)
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{name}}, key)
	if err != nil {
		return "csr", fmt.Errorf("x509.CreateCertificateRequest: %w", err)
	}
	der, _, err := w.cl.CreateOrderCert(ctx, o.FinalizeURL, csr, true)
	if err != nil {
		return "finalize", err
	}
	return "certificate", checkChain(der, name)
}

// authorize answers the http-01 challenge of one authorization and waits
// until it is valid.
func (w *worker) authorize(ctx context.Context, url string, val *time.Duration) (string, error) {
	z, err := w.cl.GetAuthorization(ctx, url)
	if err != nil {
		return "authz", err
	}
	if z.Status == acme.StatusValid {
		return "", nil
	}
	i := slices.IndexFunc(z.Challenges, func(c *acme.Challenge) bool { return c.Type == "http-01" })
	if i < 0 {
		return "authz", errors.New("no http-01 challenge offered")
	}
	ch := z.Challenges[i]
	ka, err := w.cl.HTTP01ChallengeResponse(ch.Token)
	if err != nil {
		return "challenge", fmt.Errorf("acme.Client.HTTP01ChallengeResponse: %w", err)
	}
	w.rsp.Set(ch.Token, ka)
	defer w.rsp.Remove(ch.Token)
	ch, err = w.cl.Accept(ctx, ch)
	if err != nil {
		return "challenge", err
	}
	if ch.Status == acme.StatusValid {
		return "", nil
	}
	t0 := time.Now()
	err = w.waitAuthz(ctx, z.URI)
	*val += time.Since(t0)
	return "authz-poll", err
}

// waitAuthz polls an authorization until it is valid or invalid. With
// poll > 0 it waits poll, then 1.5 times longer each time up to maxPoll,
// ignoring Retry-After; with poll == 0 it uses the library's
// WaitAuthorization, which honours Retry-After (at least a second).
func (w *worker) waitAuthz(ctx context.Context, url string) error {
	if w.poll <= 0 {
		_, err := w.cl.WaitAuthorization(ctx, url)
		return err
	}
	d := w.poll
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		z, err := w.cl.GetAuthorization(ctx, url)
		if err != nil {
			return err
		}
		switch z.Status {
		case acme.StatusValid:
			return nil
		case acme.StatusInvalid:
			return invalidAuthz(z)
		}
		d = min(d*3/2, maxPoll)
		t.Reset(d)
	}
}

// authzInvalid is an authorization that ended invalid.
type authzInvalid struct{ problem string }

func (e *authzInvalid) Error() string { return "authorization invalid: " + e.problem }

func invalidAuthz(z *acme.Authorization) error {
	for _, c := range z.Challenges {
		var ae *acme.Error
		if errors.As(c.Error, &ae) {
			return &authzInvalid{problem: ae.ProblemType + ": " + ae.Detail}
		}
	}
	return &authzInvalid{problem: "no challenge error given"}
}

// checkChain parses the downloaded chain and checks the leaf names name.
func checkChain(der [][]byte, name string) error {
	if len(der) == 0 {
		return errors.New("empty certificate chain")
	}
	leaf, err := x509.ParseCertificate(der[0])
	if err != nil {
		return fmt.Errorf("x509.ParseCertificate: %w", err)
	}
	if !slices.Equal(leaf.DNSNames, []string{name}) {
		return fmt.Errorf("leaf names %v, want [%s]", leaf.DNSNames, name)
	}
	return nil
}

// errorKind names an error for the report: the stage, then the ACME
// problem type or the kind of failure.
func errorKind(stage string, err error) string {
	var (
		ae *acme.Error
		oe *acme.OrderError
		ze *acme.AuthorizationError
		ai *authzInvalid
		ne net.Error
	)
	switch {
	case errors.As(err, &ae):
		return fmt.Sprintf("%s: %s (HTTP %d)", stage, strings.TrimPrefix(ae.ProblemType, "urn:ietf:params:acme:error:"), ae.StatusCode)
	case errors.As(err, &oe):
		return stage + ": order " + oe.Status
	case errors.As(err, &ze), errors.As(err, &ai):
		return stage + ": authorization invalid"
	case errors.Is(err, context.DeadlineExceeded):
		return stage + ": timeout"
	case errors.Is(err, context.Canceled):
		return stage + ": canceled"
	case errors.As(err, &ne):
		return stage + ": network"
	}
	return stage + ": other"
}
