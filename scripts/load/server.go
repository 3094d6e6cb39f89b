package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const (
	startTimeout = 30 * time.Second // process start to directory served
	stopTimeout  = 10 * time.Second // SIGTERM to exit, then SIGKILL
)

// child is an acmera process (embedded default) started by the load tool,
// with its own temporary data directory.
type child struct {
	cmd     *exec.Cmd
	dir     string // temporary directory: data/ and acmera.log
	logPath string
	exited  chan struct{}
	dirURL  string
	roots   *x509.CertPool
}

// childConfig says how to start the server and where its validation
// traffic goes.
type childConfig struct {
	Bin        string   // path of the acmera binary
	Resolver   string   // ACMERA_RESOLVERS (host:port of the test DNS server)
	HTTP01Port int      // ACMERA_HTTP01_PORT (the responder's port)
	LogLevel   string   // ACMERA_LOG_LEVEL
	Env        []string // extra KEY=VALUE settings, last
}

// startChild runs the binary on a free loopback port and waits, bounded,
// until it serves its directory over HTTPS trusted through root.pem.
func startChild(ctx context.Context, cfg childConfig) (*child, error) {
	dir, err := os.MkdirTemp("", "acmera-load-")
	if err != nil {
		return nil, fmt.Errorf("os.MkdirTemp: %w", err)
	}
	c := &child{dir: dir, logPath: filepath.Join(dir, "acmera.log"), exited: make(chan struct{})}
	logf, err := os.Create(c.logPath)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("os.Create: %w", err)
	}
	c.cmd = exec.Command(cfg.Bin)
	c.cmd.Env = childEnv(os.Environ(), dir, cfg)
	c.cmd.Stderr = logf
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		_ = logf.Close()
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("exec.Cmd.StdoutPipe: %w", err)
	}
	if err := c.cmd.Start(); err != nil {
		_ = logf.Close()
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("exec.Cmd.Start %s: %w", cfg.Bin, err)
	}
	dirc := make(chan string, 1)
	go scanBanner(stdout, logf, dirc)
	go func() {
		_ = c.cmd.Wait()
		_ = logf.Close()
		close(c.exited)
	}()
	if err := c.waitReady(ctx, dirc); err != nil {
		c.stop()
		return nil, err
	}
	return c, nil
}

// childEnv is the caller's environment minus any acmera or
// functions-framework setting, plus the load run's.
func childEnv(base []string, dir string, cfg childConfig) []string {
	var env []string
	for _, kv := range base {
		if strings.HasPrefix(kv, "ACMERA_") || strings.HasPrefix(kv, "FUNCTION_TARGET=") || strings.HasPrefix(kv, "PORT=") {
			continue
		}
		env = append(env, kv)
	}
	env = append(env,
		"ACMERA_DATA_DIR="+filepath.Join(dir, "data"),
		"ACMERA_ADDR=127.0.0.1:0",
		"ACMERA_LOG_LEVEL="+cfg.LogLevel,
		"ACMERA_RESOLVERS="+cfg.Resolver,
		"ACMERA_HTTP01_PORT="+strconv.Itoa(cfg.HTTP01Port),
	)
	return append(env, cfg.Env...)
}

// waitReady waits for the banner's directory URL, loads root.pem and polls
// the directory until it answers 200.
func (c *child) waitReady(ctx context.Context, dirc <-chan string) error {
	timer := time.NewTimer(startTimeout)
	defer timer.Stop()
	select {
	case c.dirURL = <-dirc:
	case <-c.exited:
		return fmt.Errorf("acmera exited before printing its directory URL (%s); log:\n%s", c.cmd.ProcessState, c.logTail())
	case <-timer.C:
		return fmt.Errorf("acmera printed no directory URL within %s; log:\n%s", startTimeout, c.logTail())
	case <-ctx.Done():
		return ctx.Err()
	}
	roots, err := loadRoots(filepath.Join(c.dir, "data", "root.pem"))
	if err != nil {
		return err
	}
	c.roots = roots
	return waitDirectory(ctx, c.dirURL, roots, startTimeout)
}

// scanBanner copies the server's stdout to its log and sends the directory
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

// loadRoots reads a PEM bundle of trusted roots.
func loadRoots(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("os.ReadFile: %w", err)
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return p, nil
}

// waitDirectory polls the directory until it answers 200, bounded by
// limit.
func waitDirectory(ctx context.Context, dirURL string, roots *x509.CertPool, limit time.Duration) error {
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}}
	defer hc.CloseIdleConnections()
	deadline := time.Now().Add(limit)
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, dirURL, nil)
		if err != nil {
			return fmt.Errorf("http.NewRequest: %w", err)
		}
		res, err := hc.Do(req)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %s", res.Status)
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return fmt.Errorf("GET %s: %w (after %s)", dirURL, err, limit)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// pid is the server's process ID.
func (c *child) pid() int { return c.cmd.Process.Pid }

// stop sends SIGTERM, waits (bounded) for the exit, kills after
// stopTimeout, and removes the temporary directory unless keep is set.
func (c *child) stop() {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(stopTimeout):
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
	_ = os.RemoveAll(c.dir)
}

// logTail is the end of the server's log, for error messages.
func (c *child) logTail() string {
	b, err := os.ReadFile(c.logPath)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	const max = 4096
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return string(b)
}

// errNoServer says how to point the tool at a server.
var errNoServer = errors.New("set -server BIN (start acmera as a child) or -directory URL (an already running server)")
