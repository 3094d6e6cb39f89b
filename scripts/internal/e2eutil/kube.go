package e2eutil

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

const (
	// KubeStartTimeout bounds the start of etcd, then of kube-apiserver, to
	// their health endpoints answering 200.
	KubeStartTimeout = 90 * time.Second
	// apiserverGrace is how long kube-apiserver has after SIGTERM before it
	// is killed: its graceful shutdown drains for longer than a test needs.
	apiserverGrace = 2 * time.Second
)

// Kube is a kube-apiserver on loopback, backed by its own etcd, reached
// with a static bearer token in the system:masters group.
type Kube struct {
	URL        string       // https://127.0.0.1:PORT
	Kubeconfig string       // a kubeconfig file for URL, the token and the serving CA
	HC         *http.Client // trusts the serving CA and sends the token
}

// StartKube starts etcd (the binary etcdBin) and kube-apiserver (apiBin)
// on loopback ports with state and logs under dir, waits until the
// apiserver is ready, and stops both when the test ends (dumping their
// logs if it failed).
func StartKube(t testing.TB, etcdBin, apiBin, dir string) *Kube {
	t.Helper()
	etcdURL := startEtcd(t, etcdBin, dir)
	caPEM, certPath, keyPath := servingCert(t, dir)
	saKey := filepath.Join(dir, "sa.key")
	writeECKey(t, saKey)
	tok := make([]byte, 16)
	_, _ = rand.Read(tok)
	token := hex.EncodeToString(tok)
	tokens := filepath.Join(dir, "tokens.csv")
	writeFile(t, tokens, token+",e2e-admin,e2e-admin,system:masters\n")

	port := FreePort(t)
	k := &Kube{URL: "https://127.0.0.1:" + strconv.Itoa(port), Kubeconfig: filepath.Join(dir, "kubeconfig")}
	cmd := exec.Command(apiBin,
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", "--secure-port="+strconv.Itoa(port),
		"--tls-cert-file="+certPath, "--tls-private-key-file="+keyPath, "--cert-dir="+filepath.Join(dir, "certs"),
		"--token-auth-file="+tokens, "--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc", "--service-account-key-file="+saKey,
		"--service-account-signing-key-file="+saKey, "--service-cluster-ip-range=10.96.0.0/24",
		"--endpoint-reconciler-type=none", "--profiling=false")
	cmd.Env = Environ()
	logPath := filepath.Join(dir, "kube-apiserver.log")
	p, err := StartProcess(ProcessConfig{Name: "kube-apiserver", Cmd: cmd, LogPath: logPath})
	if err != nil {
		t.Fatalf("start kube-apiserver: %v", err)
	}
	stopOnCleanup(t, p, "kube-apiserver", logPath, apiserverGrace)
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	k.HC = HTTPClient(roots)
	k.HC.Transport = bearer{token: token, base: k.HC.Transport}
	ctx, cancel := context.WithTimeout(t.Context(), KubeStartTimeout)
	defer cancel()
	if err := WaitHTTP(ctx, k.HC, k.URL+"/readyz", http.StatusOK, p.Exited()); err != nil {
		t.Fatalf("kube-apiserver not ready: %v", err)
	}
	writeFile(t, k.Kubeconfig, kubeconfig(k.URL, caPEM, token))
	return k
}

// startEtcd starts etcd on two loopback ports and returns its client URL
// once /health answers.
func startEtcd(t testing.TB, bin, dir string) string {
	t.Helper()
	client := "http://127.0.0.1:" + strconv.Itoa(FreePort(t))
	peer := "http://127.0.0.1:" + strconv.Itoa(FreePort(t))
	cmd := exec.Command(bin, "--name=e2e", "--data-dir="+filepath.Join(dir, "etcd"),
		"--listen-client-urls="+client, "--advertise-client-urls="+client,
		"--listen-peer-urls="+peer, "--initial-advertise-peer-urls="+peer, "--initial-cluster=e2e="+peer)
	cmd.Env = Environ()
	logPath := filepath.Join(dir, "etcd.log")
	p, err := StartProcess(ProcessConfig{Name: "etcd", Cmd: cmd, LogPath: logPath})
	if err != nil {
		t.Fatalf("start etcd: %v", err)
	}
	stopOnCleanup(t, p, "etcd", logPath, StopGrace)
	ctx, cancel := context.WithTimeout(t.Context(), KubeStartTimeout)
	defer cancel()
	if err := WaitHTTP(ctx, HTTPClient(nil), client+"/health", http.StatusOK, p.Exited()); err != nil {
		t.Fatalf("etcd not healthy: %v", err)
	}
	return client
}

// stopOnCleanup stops p with SIGTERM when the test ends (SIGKILL after
// grace), and shows its log if the test failed.
func stopOnCleanup(t testing.TB, p *Process, name, logPath string, grace time.Duration) {
	t.Cleanup(func() {
		if err := p.Stop(grace); err != nil {
			t.Logf("stop %s: %v", name, err)
		}
		if t.Failed() {
			DumpLog(t, name, logPath)
		}
	})
}

// bearer adds the apiserver token to every request.
type bearer struct {
	token string
	base  http.RoundTripper
}

func (b bearer) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", "Bearer "+b.token)
	return b.base.RoundTrip(req)
}

// kubeconfig is a kubeconfig for server, trusting caPEM, with token.
func kubeconfig(server string, caPEM []byte, token string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: e2e
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: e2e-admin
  user:
    token: %s
contexts:
- name: e2e
  context:
    cluster: e2e
    user: e2e-admin
current-context: e2e
`, server, base64.StdEncoding.EncodeToString(caPEM), token)
}

// Do sends a request with in as its JSON body (nil: none) and decodes the
// JSON answer into out (nil: discarded). contentType defaults to
// application/json; a patch names its own. Any status but 2xx is an
// error carrying the apiserver's message.
func (k *Kube) Do(ctx context.Context, method, path, contentType string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("json.Marshal: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, k.URL+path, body)
	if err != nil {
		return fmt.Errorf("http.NewRequest: %w", err)
	}
	if contentType == "" {
		contentType = "application/json"
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Accept", "application/json")
	res, err := k.HC.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	if res.StatusCode/100 != 2 {
		return &KubeError{Method: method, Path: path, Status: res.StatusCode, Body: string(b)}
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: json.Unmarshal: %w", method, path, err)
		}
	}
	return nil
}

// KubeError is an apiserver answer other than 2xx.
type KubeError struct {
	Method, Path string
	Status       int
	Body         string
}

func (e *KubeError) Error() string {
	return fmt.Sprintf("%s %s: status %d: %s", e.Method, e.Path, e.Status, e.Body)
}

// IsNotFound reports whether err is a 404 from the apiserver.
func IsNotFound(err error) bool {
	var ke *KubeError
	return errors.As(err, &ke) && ke.Status == http.StatusNotFound
}

// servingCert writes a CA and a serving certificate for 127.0.0.1 under
// dir, and returns the CA's PEM and the certificate's and key's paths.
func servingCert(t testing.TB, dir string) (caPEM []byte, certPath, keyPath string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("ecdsa.GenerateKey: %v", err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "e2e kube CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		t.Fatalf("x509.CreateCertificate (CA): %v", err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	keyPath = filepath.Join(dir, "apiserver.key")
	key := writeECKey(t, keyPath)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "kube-apiserver"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), DNSNames: []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		t.Fatalf("x509.CreateCertificate (serving): %v", err)
	}
	caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	certPath = filepath.Join(dir, "apiserver.crt")
	writeFile(t, certPath, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	return caPEM, certPath, keyPath
}

// writeECKey writes a new P-256 key, PEM "EC PRIVATE KEY", to path.
func writeECKey(t testing.TB, path string) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("ecdsa.GenerateKey: %v", err)
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatalf("x509.MarshalECPrivateKey: %v", err)
	}
	writeFile(t, path, string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})))
	return key
}

func writeFile(t testing.TB, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatalf("os.WriteFile: %v", err)
	}
}
