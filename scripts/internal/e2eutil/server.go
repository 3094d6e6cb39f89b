package e2eutil

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/url"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

const (
	// AcmeraPkg is the package of the acmera binary.
	AcmeraPkg = "github.com/acmera/acmera/functions/acmera"
	// BuildTimeout bounds the build of one binary.
	BuildTimeout = 5 * time.Minute
	// StartTimeout bounds a server's start, to its directory served.
	StartTimeout = 30 * time.Second
	// StopGrace is how long a server has to exit after SIGTERM.
	StopGrace = 10 * time.Second
)

// ServerConfig says how to run acmera's embedded default and where its
// validations go. Empty settings are left out, so acmera's defaults apply.
type ServerConfig struct {
	Bin           string   // the acmera binary
	Dir           string   // holds data/ (ACMERA_DATA_DIR) and acmera.log
	LogLevel      string   // ACMERA_LOG_LEVEL
	Resolver      string   // ACMERA_RESOLVERS (host:port of the test DNS server)
	HTTP01Port    int      // ACMERA_HTTP01_PORT
	TLSALPN01Port int      // ACMERA_TLSALPN01_PORT
	Env           []string // extra KEY=VALUE settings, last
}

// Server is an acmera process running the embedded default (no cloud
// settings: bbolt data, in-process queue, local CA, HTTPS) on a loopback
// port. Stop and Start restart it on the same address and data.
type Server struct {
	cfg     ServerConfig
	addr    string // ACMERA_ADDR: the first run's port, then the same again
	proc    *Process
	DirURL  string         // https://127.0.0.1:PORT/acme/acme/directory, once started
	Root    *x509.CertPool // the local CA's root (root.pem), once started
	RootPEM string         // path of root.pem
	LogPath string         // the output of every run
}

// NewServer returns a stopped server; Start runs it.
func NewServer(cfg ServerConfig) *Server {
	return &Server{cfg: cfg, addr: Loopback, RootPEM: filepath.Join(cfg.Dir, "data", "root.pem"),
		LogPath: filepath.Join(cfg.Dir, "acmera.log")}
}

// Start runs the binary and waits, bounded by ctx and StartTimeout, until
// it prints its directory URL and serves the directory over HTTPS trusted
// through root.pem. If it does not, Start stops it.
func (s *Server) Start(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, StartTimeout)
	defer cancel()
	cmd := exec.Command(s.cfg.Bin)
	cmd.Env = s.env()
	p, err := StartProcess(ProcessConfig{Name: "acmera", Cmd: cmd, LogPath: s.LogPath, Banner: isDirectoryLine})
	if err != nil {
		return err
	}
	s.proc = p
	if err := s.waitReady(ctx); err != nil {
		_ = s.Stop()
		return err
	}
	return nil
}

// isDirectoryLine spots the directory URL in acmera's start-up banner.
func isDirectoryLine(line string) bool {
	return strings.HasPrefix(strings.TrimSpace(line), "directory:")
}

func (s *Server) waitReady(ctx context.Context) error {
	line, err := s.proc.WaitBanner(ctx)
	if err != nil {
		return err
	}
	_, dir, _ := strings.Cut(line, "directory:")
	s.DirURL = strings.TrimSpace(dir)
	u, err := url.Parse(s.DirURL)
	if err != nil {
		return fmt.Errorf("acmera's directory URL: %w", err)
	}
	s.addr = u.Host
	if s.Root, err = LoadRoots(s.RootPEM); err != nil {
		return err
	}
	hc := s.HTTPClient()
	defer hc.CloseIdleConnections()
	return WaitHTTP(ctx, hc, s.DirURL, http.StatusOK, s.proc.Exited())
}

// env is the process's environment.
func (s *Server) env() []string {
	c := s.cfg
	env := Environ("ACMERA_DATA_DIR="+filepath.Join(c.Dir, "data"), "ACMERA_ADDR="+s.addr)
	if c.LogLevel != "" {
		env = append(env, "ACMERA_LOG_LEVEL="+c.LogLevel)
	}
	if c.Resolver != "" {
		env = append(env, "ACMERA_RESOLVERS="+c.Resolver)
	}
	if c.HTTP01Port != 0 {
		env = append(env, "ACMERA_HTTP01_PORT="+strconv.Itoa(c.HTTP01Port))
	}
	if c.TLSALPN01Port != 0 {
		env = append(env, "ACMERA_TLSALPN01_PORT="+strconv.Itoa(c.TLSALPN01Port))
	}
	return append(env, c.Env...)
}

// Stop sends SIGTERM and waits for the exit; after StopGrace it kills the
// process and says so. Stopping a stopped server does nothing.
func (s *Server) Stop() error {
	if s.proc == nil {
		return nil
	}
	err := s.proc.Stop(StopGrace)
	s.proc = nil
	return err
}

// Kill stops the server with SIGKILL (kill -9): no drain, no clean close
// of its store. Start runs it again on the same address and data.
func (s *Server) Kill() error {
	if s.proc == nil {
		return nil
	}
	err := s.proc.Kill()
	s.proc = nil
	return err
}

// Pid is the running server's process ID.
func (s *Server) Pid() int { return s.proc.Pid() }

// HTTPClient is a client that trusts only the server's root.
func (s *Server) HTTPClient() *http.Client { return HTTPClient(s.Root) }

// HTTPClient is a loopback client with no proxy that trusts roots (nil:
// the system's).
func HTTPClient(roots *x509.CertPool) *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		Proxy:           nil,
		TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
	}}
}

// Build builds the binary of the Go package pkg into dir, bounded by
// BuildTimeout, and returns its path.
func Build(ctx context.Context, dir, pkg string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, BuildTimeout)
	defer cancel()
	bin := filepath.Join(dir, path.Base(pkg))
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", pkg, err, out)
	}
	return bin, nil
}
