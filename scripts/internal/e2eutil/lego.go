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

// LegoTimeout bounds one lego run.
const LegoTimeout = 2 * time.Minute

// Lego runs the lego ACME client (github.com/go-acme/lego/v4's CLI, built
// by scripts/lego-build.sh) for a test, with a --path of its own, so that
// runs of different tests share no account or certificate.
type Lego struct {
	t   testing.TB
	Bin string   // the lego executable
	Dir string   // lego's --path: accounts/ and certificates/
	Env []string // lego's environment: Environ(), plus what the test adds
}

// NeedLego finds lego ($LEGO_BIN, else lego on PATH) and returns a runner
// for t. A missing lego skips the test, or fails it under CI=true (see
// Missing).
func NeedLego(t testing.TB) *Lego {
	t.Helper()
	bin := os.Getenv("LEGO_BIN")
	if bin == "" {
		var err error
		if bin, err = exec.LookPath("lego"); err != nil {
			Missing(t, "lego not found: set LEGO_BIN=$(scripts/lego-build.sh) (scripts/test.sh does)")
		}
	}
	return &Lego{t: t, Bin: bin, Dir: t.TempDir(), Env: Environ()}
}

// Run runs `lego --path Dir args...` (global flags, then the command and
// its flags), bounded by LegoTimeout; it logs and returns the combined
// output, which is lego's log.
func (l *Lego) Run(args ...string) (string, error) {
	l.t.Helper()
	ctx, cancel := context.WithTimeout(l.t.Context(), LegoTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, l.Bin, slices.Concat([]string{"--path", l.Dir}, args)...)
	cmd.Env = l.Env
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	l.t.Logf("lego %s:\n%s", strings.Join(args, " "), out)
	return string(out), err
}

// Must runs lego and fails the test if lego fails.
func (l *Lego) Must(args ...string) string {
	l.t.Helper()
	out, err := l.Run(args...)
	if err != nil {
		l.t.Fatalf("lego %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// CertPath is the path of the file with extension ext (".crt": the leaf
// and its issuer; ".key"; ".json") of the certificate whose first name is
// domain, as lego names it ("*" becomes "_").
func (l *Lego) CertPath(domain, ext string) string {
	return filepath.Join(l.Dir, "certificates", strings.ReplaceAll(domain, "*", "_")+ext)
}

// Cert reads the chain (.crt) and private key (.key) lego saved for
// domain.
func (l *Lego) Cert(domain string) ([][]byte, crypto.Signer) {
	l.t.Helper()
	chain, key, err := readCertAndKey(l.CertPath(domain, ".crt"), l.CertPath(domain, ".key"))
	if err != nil {
		l.t.Fatalf("lego certificate %s: %v", domain, err)
	}
	return chain, key
}
