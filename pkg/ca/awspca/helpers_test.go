package awspca

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/acmpca"
	"github.com/aws/aws-sdk-go-v2/service/acmpca/schemas"
	"github.com/aws/smithy-go/transport/http/protocol/awsjson"

	"github.com/acmera/acmera/pkg/ca"
	"github.com/acmera/acmera/scripts/fakeaws/pcafake"
	"github.com/acmera/acmera/scripts/fakeaws/sigv4"
)

const (
	testKeyID  = "AKIAACMERATEST000001"
	testSecret = "acmera/test/secret/0123456789abcdefghijk"
)

// wire is one protocol the SDK can speak: its name as pcafake counts it
// and the client option selecting it.
type wire struct {
	name string
	opt  func(*acmpca.Options)
}

// wires are both protocols: Smithy RPC v2 CBOR (acmpca v1.57.0's default)
// and AWS JSON 1.1 forced.
var wires = []wire{
	{name: "rpc-v2-cbor", opt: func(*acmpca.Options) {}},
	{name: "awsJson1_1", opt: func(o *acmpca.Options) { o.Protocol = awsjson.New11(schemas.ACMPrivateCA) }},
}

// eachWire runs fn under both protocols.
func eachWire(t *testing.T, fn func(t *testing.T, w wire)) {
	t.Helper()
	for _, w := range wires {
		t.Run(w.name, func(t *testing.T) { fn(t, w) })
	}
}

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// sleepLog records the waits asked for, without waiting.
type sleepLog struct {
	mu sync.Mutex
	ds []time.Duration
}

func (l *sleepLog) sleep(ctx context.Context, d time.Duration) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ds = append(l.ds, d)
	return ctx.Err()
}

func (l *sleepLog) get() []time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]time.Duration(nil), l.ds...)
}

// env is one fake on a loopback server and a real client to it.
type env struct {
	fake   *pcafake.Server
	url    string
	issuer *Issuer
	clock  *clock
	sleeps *sleepLog
	waits  *sleepLog
	wire   wire
}

const testBackoff = 10 * time.Millisecond

// newFake starts a fake on loopback with the static test key (unless
// fcfg names credentials).
func newFake(t *testing.T, fcfg pcafake.Config, c *clock) (*pcafake.Server, string) {
	t.Helper()
	if fcfg.Credentials == nil {
		fcfg.Credentials = sigv4.Static{testKeyID: testSecret}
	}
	fcfg.Now = c.now
	fake, err := pcafake.New(fcfg)
	if err != nil {
		t.Fatalf("pcafake.New: %v", err)
	}
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	return fake, srv.URL
}

// newEnv starts a fake and an Issuer speaking w to it; mod adjusts the
// Issuer's Config.
func newEnv(t *testing.T, w wire, fcfg pcafake.Config, mod func(*Config)) *env {
	t.Helper()
	c := &clock{t: time.Now().Truncate(time.Second)}
	fake, url := newFake(t, fcfg, c)
	e := &env{fake: fake, url: url, clock: c, sleeps: &sleepLog{}, waits: &sleepLog{}, wire: w}
	cfg := Config{
		CAArn:       fake.CAArn(),
		Endpoint:    url,
		Credentials: credentials.NewStaticCredentialsProvider(testKeyID, testSecret, ""),
		Retry:       Retry{Attempts: 3, BaseBackoff: testBackoff, Sleep: e.sleeps.sleep},
		Wait:        Wait{Polls: 4, Delay: testBackoff, Sleep: e.waits.sleep},
		Now:         c.now,
	}
	if mod != nil {
		mod(&cfg)
	}
	iss, err := New(testCtx(t), cfg, w.opt)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	e.issuer = iss
	return e
}

// checkWire fails unless every request the fake saw used e's protocol.
func (e *env) checkWire(t *testing.T) {
	t.Helper()
	got := e.fake.Protocols()
	if len(got) != 1 || got[e.wire.name] == 0 {
		t.Errorf("fake saw protocols %v, want only %s", got, e.wire.name)
	}
}

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func ecKey(t *testing.T) crypto.Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("ecdsa.GenerateKey: %v", err)
	}
	return k
}

func newCSR(t *testing.T, key crypto.Signer, tmpl *x509.CertificateRequest) *x509.CertificateRequest {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatalf("x509.CreateCertificateRequest: %v", err)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		t.Fatalf("x509.ParseCertificateRequest: %v", err)
	}
	return csr
}

// issueReq is a proper request for one name, as the RA builds it.
func issueReq(t *testing.T, order string) ca.IssueRequest {
	t.Helper()
	name := order + ".example.internal"
	csr := newCSR(t, ecKey(t), &x509.CertificateRequest{Subject: pkix.Name{CommonName: name}, DNSNames: []string{name}})
	return ca.IssueRequest{
		CSR:         csr,
		PublicKey:   csr.PublicKey,
		CommonName:  name,
		DNSNames:    []string{name},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		Lifetime:    24 * time.Hour,
		RequestID:   ca.RequestID(order),
	}
}

func parse(t *testing.T, der []byte) *x509.Certificate {
	t.Helper()
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("x509.ParseCertificate: %v", err)
	}
	return c
}
