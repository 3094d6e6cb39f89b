package cas

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/acmera/acmera/pkg/ca"
	"github.com/acmera/acmera/scripts/fakegcp/casfake"
)

// env is one fake CAS on a loopback listener and a real client to it.
type env struct {
	fake   *casfake.Server
	issuer *Issuer
	sleeps *sleepLog
}

// sleepLog records the backoffs the issuer asked for, without waiting.
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

const testBackoff = 10 * time.Millisecond

// newEnv starts a fake with cfg and an Issuer with attempts tries.
func newEnv(t *testing.T, cfg casfake.Config, attempts int) *env {
	t.Helper()
	fake, err := casfake.New(cfg)
	if err != nil {
		t.Fatalf("casfake.New: %v", err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("net.Listen: %v", err)
	}
	srv := fake.Serve(lis)
	t.Cleanup(srv.Stop)
	log := &sleepLog{}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	iss, err := New(ctx, Config{
		Pool:     fake.Pool(),
		Endpoint: lis.Addr().String(),
		Retry:    Retry{Attempts: attempts, BaseBackoff: testBackoff, Sleep: log.sleep},
	}, option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = iss.Close() })
	return &env{fake: fake, issuer: iss, sleeps: log}
}

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func ecKey(t *testing.T, c elliptic.Curve) crypto.Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		t.Fatalf("ecdsa.GenerateKey: %v", err)
	}
	return k
}

func newCSR(t *testing.T, key crypto.Signer, names ...string) *x509.CertificateRequest {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
	}, key)
	if err != nil {
		t.Fatalf("x509.CreateCertificateRequest: %v", err)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		t.Fatalf("x509.ParseCertificateRequest: %v", err)
	}
	return csr
}

func issueReq(t *testing.T, order string, key crypto.Signer) ca.IssueRequest {
	t.Helper()
	csr := newCSR(t, key, order+".example.internal")
	return ca.IssueRequest{
		CSR:         csr,
		PublicKey:   csr.PublicKey,
		CommonName:  csr.DNSNames[0],
		DNSNames:    csr.DNSNames,
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
