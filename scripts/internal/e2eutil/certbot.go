package e2eutil

import (
	"context"
	"crypto"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// CertbotTimeout bounds one certbot run.
const CertbotTimeout = 2 * time.Minute

// Certbot runs Debian's certbot for a test, with config, work and logs
// directories of its own, so that runs of different tests share nothing.
type Certbot struct {
	t   testing.TB
	Bin string   // the certbot executable
	Dir string   // holds config/, work/ and logs/
	Env []string // certbot's environment: Environ(), plus what the test adds
}

// NeedCertbot finds certbot and returns a runner for t. A missing certbot
// skips the test, or fails it under CI=true (see Missing).
func NeedCertbot(t testing.TB) *Certbot {
	t.Helper()
	bin, err := exec.LookPath("certbot")
	if err != nil {
		Missing(t, "certbot not found (%v): install Debian's certbot package (apt-get install -y certbot)", err)
	}
	return &Certbot{t: t, Bin: bin, Dir: t.TempDir(), Env: Environ()}
}

// Run runs certbot with args plus the directory flags and
// --non-interactive, bounded by CertbotTimeout; it logs and returns the
// combined output.
func (c *Certbot) Run(args ...string) (string, error) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.t.Context(), CertbotTimeout)
	defer cancel()
	all := slices.Concat(args, []string{
		"--config-dir", filepath.Join(c.Dir, "config"),
		"--work-dir", filepath.Join(c.Dir, "work"),
		"--logs-dir", filepath.Join(c.Dir, "logs"),
		"--non-interactive"})
	cmd := exec.CommandContext(ctx, c.Bin, all...)
	cmd.Env = c.Env
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	c.t.Logf("certbot %s:\n%s", strings.Join(args, " "), out)
	return string(out), err
}

// Must runs certbot and fails the test, with the tail of certbot's log, if
// certbot fails.
func (c *Certbot) Must(args ...string) string {
	c.t.Helper()
	out, err := c.Run(args...)
	if err != nil {
		DumpLog(c.t, "certbot", c.LogPath())
		c.t.Fatalf("certbot %s: %v", args[0], err)
	}
	return out
}

// LogPath is certbot's debug log, which records every ACME exchange.
func (c *Certbot) LogPath() string { return filepath.Join(c.Dir, "logs", "letsencrypt.log") }

// Live is the path of file (cert.pem, fullchain.pem, privkey.pem) of the
// current certificate of lineage name.
func (c *Certbot) Live(name, file string) string {
	return filepath.Join(c.Dir, "config", "live", name, file)
}

// Lineage reads the current chain (fullchain.pem) and private key
// (privkey.pem) of lineage name.
func (c *Certbot) Lineage(name string) ([][]byte, crypto.Signer) {
	c.t.Helper()
	chain, key, err := readCertAndKey(c.Live(name, "fullchain.pem"), c.Live(name, "privkey.pem"))
	if err != nil {
		c.t.Fatalf("certbot lineage %s: %v", name, err)
	}
	return chain, key
}

// Archive is the path of file (cert1.pem…) of lineage name, kept across
// renewals.
func (c *Certbot) Archive(name, file string) string {
	return filepath.Join(c.Dir, "config", "archive", name, file)
}

// ManualDNS are certbot's flags for dns-01 through the manual hooks in
// hooksDir (testdata/e2e), which publish and remove the TXT records through
// scripts/testdns's control API at $TESTDNS_URL (add it to Env).
func (c *Certbot) ManualDNS(hooksDir string) []string {
	c.t.Helper()
	dir, err := filepath.Abs(hooksDir)
	if err != nil {
		c.t.Fatalf("filepath.Abs: %v", err)
	}
	return []string{"--manual", "--preferred-challenges", "dns",
		"--manual-auth-hook", "sh " + filepath.Join(dir, "certbot-auth-hook.sh"),
		"--manual-cleanup-hook", "sh " + filepath.Join(dir, "certbot-cleanup-hook.sh")}
}

// ReadLog returns certbot's debug log.
func (c *Certbot) ReadLog() string {
	c.t.Helper()
	b, err := os.ReadFile(c.LogPath())
	if err != nil {
		c.t.Fatalf("certbot log: %v", err)
	}
	return string(b)
}
