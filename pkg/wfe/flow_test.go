package wfe_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/acme"

	acmefn "github.com/acmera/acmera/functions/acme"
	"github.com/acmera/acmera/pkg/ca/local"
	"github.com/acmera/acmera/pkg/nonce"
	"github.com/acmera/acmera/pkg/policy"
	"github.com/acmera/acmera/pkg/queue"
	"github.com/acmera/acmera/pkg/queue/inproc"
	"github.com/acmera/acmera/pkg/ra"
	"github.com/acmera/acmera/pkg/store"
	"github.com/acmera/acmera/pkg/store/bolt"
	"github.com/acmera/acmera/pkg/va"
)

// env is an in-process acmera over the embedded parts, with an http-01
// responder on loopback.
type env struct {
	dir     string
	srv     *httptest.Server
	tokens  sync.Map // token -> key authorization
	http01  *httptest.Server
	rootDER []byte
	// last is the last POST the server received (URL and body), for
	// checks that compare a response with what was sent.
	last atomic.Pointer[sentRequest]
}

type sentRequest struct {
	url  string
	body []byte
}

// newEnv starts the env with the embedded default's settings (the account
// cache on), changed by opts.
func newEnv(t *testing.T, opts ...func(*acmefn.Parts)) *env {
	t.Helper()
	dir := t.TempDir()
	st, err := bolt.Open(filepath.Join(dir, "acmera.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return newEnvOn(t, dir, st, opts...)
}

// newEnvOn builds the in-process acmera over st, with the local CA's
// files in dir. The outbox finalize task is delayed by an hour, so no
// delayed write lands while a test compares store snapshots.
func newEnvOn(t *testing.T, dir string, st store.Store, opts ...func(*acmefn.Parts)) *env {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	e := &env{dir: dir}
	e.http01 = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := strings.TrimPrefix(r.URL.Path, "/.well-known/acme-challenge/")
		if v, ok := e.tokens.Load(tok); ok {
			io.WriteString(w, v.(string))
			return
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(e.http01.Close)
	port, _ := strconv.Atoi(e.http01.URL[strings.LastIndexByte(e.http01.URL, ':')+1:])
	issuer, err := local.Open(ctx, local.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	roots, _ := issuer.Roots(ctx)
	e.rootDER = roots[0]
	v, err := va.New(va.Config{HTTP01Port: port, Timeout: 2 * time.Second, Attempts: 1,
		AllowNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}) // the responder is on loopback
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var r *ra.RA
	q := inproc.New(ctx, queue.HandlerFunc(func(ctx context.Context, t queue.Task) error { return r.HandleTask(ctx, t) }), inproc.Config{Workers: 4})
	t.Cleanup(func() { q.Close(context.Background()) })
	parts := acmefn.Parts{Store: st, Queue: q, Issuer: issuer, Validator: v, Policy: policy.AllowAny(), NonceKey: nonce.NewKey(), Logger: log,
		FinalizeRetryDelay: time.Hour, AccountCacheTTL: 5 * time.Second}
	for _, o := range opts {
		o(&parts)
	}
	if r, err = acmefn.NewRA(parts); err != nil {
		t.Fatal(err)
	}
	h, err := acmefn.NewHandler(r, parts)
	if err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
			e.last.Store(&sentRequest{url: r.URL.String(), body: body})
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(e.srv.Close)
	return e
}

func (e *env) client(t *testing.T) *acme.Client {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	return &acme.Client{Key: key, DirectoryURL: e.srv.URL + "/acme/acme/directory"}
}

// issueIP registers c and issues a certificate for 127.0.0.1 over
// http-01, returning the chain and the certificate's key.
func (e *env) issueIP(t *testing.T, ctx context.Context, c *acme.Client) ([][]byte, *ecdsa.PrivateKey) {
	t.Helper()
	if _, err := c.Register(ctx, &acme.Account{Contact: []string{"mailto:ops@example.com"}}, acme.AcceptTOS); err != nil {
		t.Fatalf("Register: %v", err)
	}
	o, err := c.AuthorizeOrder(ctx, []acme.AuthzID{{Type: "ip", Value: "127.0.0.1"}})
	if err != nil {
		t.Fatalf("AuthorizeOrder: %v", err)
	}
	for _, u := range o.AuthzURLs {
		z, err := c.GetAuthorization(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		var chal *acme.Challenge
		for _, ch := range z.Challenges {
			if ch.Type == "http-01" {
				chal = ch
			}
		}
		if chal == nil {
			t.Fatalf("no http-01 challenge in %+v", z.Challenges)
		}
		ka, _ := c.HTTP01ChallengeResponse(chal.Token)
		e.tokens.Store(chal.Token, ka)
		if _, err := c.Accept(ctx, chal); err != nil {
			t.Fatalf("Accept: %v", err)
		}
		if _, err := c.WaitAuthorization(ctx, u); err != nil {
			t.Fatalf("WaitAuthorization: %v", err)
		}
	}
	if o, err = c.WaitOrder(ctx, o.URI); err != nil {
		t.Fatalf("WaitOrder: %v", err)
	}
	certKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csr, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}, certKey)
	der, _, err := c.CreateOrderCert(ctx, o.FinalizeURL, csr, true)
	if err != nil {
		t.Fatalf("CreateOrderCert: %v", err)
	}
	return der, certKey
}

func TestIssueIPWithHTTP01(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := e.client(t)
	der, certKey := e.issueIP(t, ctx, c)
	leaf, err := x509.ParseCertificate(der[0])
	if err != nil {
		t.Fatal(err)
	}
	root, _ := x509.ParseCertificate(e.rootDER)
	pool, inter := x509.NewCertPool(), x509.NewCertPool()
	pool.AddCert(root)
	for _, d := range der[1:] {
		ic, _ := x509.ParseCertificate(d)
		inter.AddCert(ic)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter}); err != nil {
		t.Fatalf("chain does not verify: %v", err)
	}
	if got := leaf.IPAddresses; len(got) != 1 || netip.MustParseAddr("127.0.0.1") != addr(got[0]) {
		t.Fatalf("leaf IPs = %v", got)
	}
	if life := leaf.NotAfter.Sub(leaf.NotBefore); life < 23*time.Hour || life > 25*time.Hour {
		t.Fatalf("lifetime %v, want ~24h", life)
	}
	if err := c.RevokeCert(ctx, certKey, der[0], acme.CRLReasonKeyCompromise); err != nil {
		t.Fatalf("RevokeCert by cert key: %v", err)
	}
}

func addr(ip net.IP) netip.Addr { a, _ := netip.AddrFromSlice(ip); return a.Unmap() }
