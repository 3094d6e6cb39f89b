package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	startTimeout = 20 * time.Second // process start to directory served
	stopTimeout  = 10 * time.Second // SIGTERM to exit, then SIGKILL
)

// serverConfig is what one acmera process is pointed at.
type serverConfig struct {
	HTTP01Port    int    // ACMERA_HTTP01_PORT
	TLSALPN01Port int    // ACMERA_TLSALPN01_PORT
	Resolver      string // ACMERA_RESOLVERS (one host:port)
}

// server is one acmera process (embedded default) with its own data
// directory. Stop and Start restart it on the same address and data.
type server struct {
	t       *testing.T
	cfg     serverConfig
	dataDir string
	logPath string
	addr    string // 127.0.0.1:PORT once started
	DirURL  string // https://127.0.0.1:PORT/acme/acme/directory
	Root    *x509.CertPool
	RootPEM string // path of root.pem
	cmd     *exec.Cmd
	exited  chan struct{}
}

// startServer starts acmera on a random loopback port and stops it when
// the test ends (dumping its log if the test failed).
func startServer(t *testing.T, cfg serverConfig) *server {
	t.Helper()
	dir := t.TempDir()
	s := &server{t: t, cfg: cfg, dataDir: filepath.Join(dir, "data"), logPath: filepath.Join(dir, "acmera.log"), addr: "127.0.0.1:0"}
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			s.dumpLog()
		}
	})
	s.Start()
	return s
}

// childEnv is the environment for a child process: the caller's, minus
// acmera and functions-framework settings and HTTP proxies (everything
// here is loopback), plus NO_PROXY=* for clients that read it.
func childEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch up := strings.ToUpper(name); {
		case strings.HasPrefix(up, "ACMERA_"), up == "FUNCTION_TARGET", up == "PORT",
			strings.HasSuffix(up, "_PROXY"):
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "NO_PROXY=*", "no_proxy=*")
	return append(env, extra...)
}

// env is the acmera process's environment.
func (s *server) env() []string {
	env := childEnv(
		"ACMERA_DATA_DIR="+s.dataDir,
		"ACMERA_ADDR="+s.addr,
		"ACMERA_LOG_LEVEL=debug",
	)
	if s.cfg.HTTP01Port != 0 {
		env = append(env, "ACMERA_HTTP01_PORT="+strconv.Itoa(s.cfg.HTTP01Port))
	}
	if s.cfg.TLSALPN01Port != 0 {
		env = append(env, "ACMERA_TLSALPN01_PORT="+strconv.Itoa(s.cfg.TLSALPN01Port))
	}
	if s.cfg.Resolver != "" {
		env = append(env, "ACMERA_RESOLVERS="+s.cfg.Resolver)
	}
	return env
}

// Start runs the binary and waits, bounded, until it prints its directory
// URL and serves the directory over HTTPS trusted through root.pem.
func (s *server) Start() {
	t := s.t
	t.Helper()
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatalf("os.OpenFile: %v", err)
	}
	cmd := exec.Command(acmeraBin)
	cmd.Env = s.env()
	cmd.Stderr = logf
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("StdoutPipe: %v", err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", acmeraBin, err)
	}
	s.cmd, s.exited = cmd, make(chan struct{})
	go func() {
		_ = cmd.Wait()
		_ = logf.Close()
		close(s.exited)
	}()
	dirc := make(chan string, 1)
	go scanBanner(stdout, logf, dirc)
	select {
	case u := <-dirc:
		s.DirURL = u
	case <-s.exited:
		t.Fatalf("acmera exited before printing its directory URL (%s)", cmd.ProcessState)
	case <-time.After(startTimeout):
		t.Fatalf("acmera printed no directory URL within %s", startTimeout)
	}
	host := strings.TrimPrefix(s.DirURL, "https://")
	s.addr = host[:strings.Index(host, "/")]
	s.RootPEM = filepath.Join(s.dataDir, "root.pem")
	s.loadRoot()
	s.waitDirectory()
}

// scanBanner copies acmera's stdout to the log and sends the directory
// URL from its start-up banner.
func scanBanner(r io.Reader, log io.Writer, dirc chan<- string) {
	sc := bufio.NewScanner(r)
	sent := false
	for sc.Scan() {
		line := sc.Text()
		fmt.Fprintln(log, "stdout:", line)
		if u, ok := strings.CutPrefix(strings.TrimSpace(line), "directory:"); ok && !sent {
			dirc <- strings.TrimSpace(u)
			sent = true
		}
	}
}

func (s *server) loadRoot() {
	b, err := os.ReadFile(s.RootPEM)
	if err != nil {
		s.t.Fatalf("read root.pem: %v", err)
	}
	s.Root = x509.NewCertPool()
	if !s.Root.AppendCertsFromPEM(b) {
		s.t.Fatalf("%s holds no certificate", s.RootPEM)
	}
}

// waitDirectory polls the directory until it answers 200, bounded.
func (s *server) waitDirectory() {
	hc := s.HTTPClient()
	deadline := time.Now().Add(startTimeout)
	for {
		res, err := hc.Get(s.DirURL)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
			err = fmt.Errorf("status %s", res.Status)
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("GET %s: %v (after %s)", s.DirURL, err, startTimeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// HTTPClient trusts only the server's root.
func (s *server) HTTPClient() *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: s.Root, MinVersion: tls.VersionTLS12},
			Proxy:           nil,
		},
	}
}

// Stop sends SIGTERM and waits for the exit; after stopTimeout it kills.
// Stopping a stopped server does nothing.
func (s *server) Stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(stopTimeout):
		s.t.Errorf("acmera did not exit %s after SIGTERM; killing it", stopTimeout)
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	s.cmd = nil
}

// dumpLog prints the tail of the server's log into the test output.
func (s *server) dumpLog() {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		s.t.Logf("acmera log: %v", err)
		return
	}
	const max = 16 << 10
	if len(b) > max {
		b = b[len(b)-max:]
	}
	s.t.Logf("acmera log (%s, last %d bytes):\n%s", s.logPath, len(b), b)
}

// freePort returns a loopback TCP port that was free a moment ago, for
// processes that must bind it themselves (certbot --standalone).
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("net.Listen: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// testCtx is a context bounded by d and canceled when the test ends.
func testCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
