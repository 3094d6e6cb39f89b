package e2eutil

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// CaddyStopGrace is how long Caddy has to exit after SIGTERM.
const CaddyStopGrace = 10 * time.Second

// NeedCaddy finds Caddy ($CADDY_BIN, else caddy on PATH). A missing Caddy
// skips the test, or fails it under CI=true (see Missing).
func NeedCaddy(t testing.TB) string {
	t.Helper()
	if bin := os.Getenv("CADDY_BIN"); bin != "" {
		return bin
	}
	bin, err := exec.LookPath("caddy")
	if err != nil {
		Missing(t, "caddy not found: set CADDY_BIN=$(scripts/caddy-build.sh) (scripts/test.sh does)")
	}
	return bin
}

// Caddy is a Caddy server run from a Caddyfile for a test. Its home,
// config and data directories (XDG_*) are under Dir, so it writes nothing
// outside it; the Caddyfile names its storage (CaddyStorage).
type Caddy struct {
	Dir     string // the Caddyfile, caddy.log, and Caddy's home
	LogPath string // Caddy's output
	proc    *Process
}

// CaddyStorage is the storage directory a Caddyfile in dir should name
// (`storage file_system <it>`), where WaitCert looks for certificates.
func CaddyStorage(dir string) string { return filepath.Join(dir, "storage") }

// StartCaddy writes caddyfile to dir and runs `caddy run` on it until the
// test ends (then SIGTERM; the log is dumped if the test failed).
func StartCaddy(t testing.TB, bin, dir, caddyfile string) *Caddy {
	t.Helper()
	c := &Caddy{Dir: dir, LogPath: filepath.Join(dir, "caddy.log")}
	path := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(path, []byte(caddyfile), 0o600); err != nil {
		t.Fatalf("os.WriteFile: %v", err)
	}
	cmd := exec.Command(bin, "run", "--config", path, "--adapter", "caddyfile")
	cmd.Dir = dir
	cmd.Env = Environ("HOME="+dir, "XDG_CONFIG_HOME="+filepath.Join(dir, "config"), "XDG_DATA_HOME="+filepath.Join(dir, "data"))
	p, err := StartProcess(ProcessConfig{Name: "caddy", Cmd: cmd, LogPath: c.LogPath})
	if err != nil {
		t.Fatal(err)
	}
	c.proc = p
	t.Cleanup(func() {
		if err := p.Stop(CaddyStopGrace); err != nil {
			t.Errorf("stop caddy: %v", err)
		}
		if t.Failed() {
			DumpLog(t, "caddy", c.LogPath)
		}
	})
	return c
}

// WaitCert waits, bounded by ctx, until Caddy has stored a certificate and
// key for name (storage/certificates/<issuer>/<name>/<name>.crt and .key),
// and returns the chain and key (a file still being written is read again
// later); it fails early if Caddy exits.
func (c *Caddy) WaitCert(ctx context.Context, name string) ([][]byte, crypto.Signer, error) {
	pattern := filepath.Join(CaddyStorage(c.Dir), "certificates", "*", name, name+".crt")
	last := errors.New("not stored yet")
	for {
		if m, _ := filepath.Glob(pattern); len(m) == 1 {
			chain, key, err := readCertAndKey(m[0], strings.TrimSuffix(m[0], ".crt")+".key")
			if err == nil && len(chain) > 0 {
				return chain, key, nil
			}
			last = fmt.Errorf("%s: %v (%d certificates)", m[0], err, len(chain))
		}
		select {
		case <-c.proc.Exited():
			return nil, nil, fmt.Errorf("caddy exited before storing a certificate for %s", name)
		case <-ctx.Done():
			return nil, nil, fmt.Errorf("no certificate for %s in Caddy's storage: %w (last: %v)", name, ctx.Err(), last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
