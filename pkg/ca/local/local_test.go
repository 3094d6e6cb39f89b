package local

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testNow is the fixed instant most tests run at.
var testNow = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

func fixedClock(t time.Time) func() time.Time { return func() time.Time { return t } }

func openCA(t testing.TB, dir string, clock func() time.Time) *CA {
	t.Helper()
	c, err := Open(context.Background(), Config{Dir: dir, Clock: clock})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return c
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("os.ReadFile: %v", err)
	}
	return b
}

func parsePEMCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode(readFile(t, path))
	if b == nil || b.Type != "CERTIFICATE" {
		t.Fatalf("%s: no CERTIFICATE block", path)
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatalf("x509.ParseCertificate: %v", err)
	}
	return c
}

func TestOpenCreatesCA(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	c := openCA(t, dir, fixedClock(testNow))

	if got, want := c.RootPath(), filepath.Join(dir, "root.pem"); got != want {
		t.Errorf("RootPath = %q, want %q", got, want)
	}
	for name, want := range map[string]os.FileMode{
		"root.pem": 0o644, "intermediate.pem": 0o644, "root.key": 0o600, "intermediate.key": 0o600,
	} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("os.Stat: %v", err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s mode = %v, want %v", name, fi.Mode().Perm(), want)
		}
	}
	if data := readFile(t, c.RootPath()); bytes.Contains(data, []byte("PRIVATE KEY")) {
		t.Error("root.pem contains a private key")
	}
	root := parsePEMCert(t, c.RootPath())
	inter := parsePEMCert(t, filepath.Join(dir, "intermediate.pem"))

	tests := []struct {
		name     string
		cert     *x509.Certificate
		pathLen  int
		validity time.Duration
	}{
		{"root", root, 1, 10 * 365 * 24 * time.Hour},
		{"intermediate", inter, 0, 5 * 365 * 24 * time.Hour},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cert := tc.cert
			if !cert.IsCA || !cert.BasicConstraintsValid {
				t.Error("not a CA")
			}
			if cert.MaxPathLen != tc.pathLen || (tc.pathLen == 0 && !cert.MaxPathLenZero) {
				t.Errorf("pathlen = %d (zero=%v), want %d", cert.MaxPathLen, cert.MaxPathLenZero, tc.pathLen)
			}
			if cert.KeyUsage != x509.KeyUsageCertSign|x509.KeyUsageCRLSign {
				t.Errorf("key usage = %v", cert.KeyUsage)
			}
			if len(cert.SubjectKeyId) == 0 {
				t.Error("no SubjectKeyId")
			}
			pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
			if !ok || pub.Curve != elliptic.P256() {
				t.Errorf("public key %T, want ECDSA P-256", cert.PublicKey)
			}
			if got := cert.NotAfter.Sub(cert.NotBefore); got != tc.validity {
				t.Errorf("validity = %s, want %s", got, tc.validity)
			}
			if cert.NotBefore.After(testNow) {
				t.Errorf("NotBefore %s is after creation time %s", cert.NotBefore, testNow)
			}
			if !strings.HasPrefix(cert.Subject.CommonName, "acmera local ") {
				t.Errorf("CN = %q", cert.Subject.CommonName)
			}
		})
	}
	if err := inter.CheckSignatureFrom(root); err != nil {
		t.Errorf("intermediate not signed by root: %v", err)
	}
	if !bytes.Equal(inter.AuthorityKeyId, root.SubjectKeyId) {
		t.Error("intermediate AuthorityKeyId != root SubjectKeyId")
	}
}

func TestOpenReopensSameCA(t *testing.T) {
	dir := t.TempDir()
	first := openCA(t, dir, fixedClock(testNow))
	rootPEM := readFile(t, first.RootPath())
	second := openCA(t, dir, fixedClock(testNow.Add(24*time.Hour)))

	r1, err := first.Roots(context.Background())
	if err != nil {
		t.Fatalf("Roots: %v", err)
	}
	r2, err := second.Roots(context.Background())
	if err != nil {
		t.Fatalf("Roots: %v", err)
	}
	if len(r1) != 1 || len(r2) != 1 || !bytes.Equal(r1[0], r2[0]) {
		t.Fatal("reopened CA has a different root")
	}
	if !bytes.Equal(rootPEM, readFile(t, second.RootPath())) {
		t.Error("root.pem rewritten on reopen")
	}
	if b, _ := pem.Decode(rootPEM); b == nil || !bytes.Equal(b.Bytes, r1[0]) {
		t.Error("root.pem does not hold the DER that Roots returns")
	}
	if !bytes.Equal(first.interDER, second.interDER) {
		t.Error("reopened CA has a different intermediate")
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("os.ReadDir: %v", err)
	}
	if len(entries) != 4 {
		t.Errorf("directory holds %d entries, want the 4 CA files (no temp files left)", len(entries))
	}
}

func TestOpenPartialDirectory(t *testing.T) {
	for _, missing := range []string{"root.pem", "root.key", "intermediate.pem", "intermediate.key"} {
		t.Run(missing, func(t *testing.T) {
			dir := t.TempDir()
			openCA(t, dir, fixedClock(testNow))
			if err := os.Remove(filepath.Join(dir, missing)); err != nil {
				t.Fatalf("os.Remove: %v", err)
			}
			before, _ := os.ReadDir(dir)
			_, err := Open(context.Background(), Config{Dir: dir, Clock: fixedClock(testNow)})
			if err == nil {
				t.Fatal("Open succeeded on a partial CA directory")
			}
			if !strings.Contains(err.Error(), "incomplete") || !strings.Contains(err.Error(), "missing "+missing) {
				t.Errorf("error %q does not name the missing file %s", err, missing)
			}
			if _, serr := os.Stat(filepath.Join(dir, missing)); serr == nil {
				t.Error("Open regenerated the missing file")
			}
			if after, _ := os.ReadDir(dir); len(after) != len(before) {
				t.Errorf("Open changed the directory: %d entries, was %d", len(after), len(before))
			}
		})
	}
}

func TestOpenRejectsInconsistentFiles(t *testing.T) {
	tests := []struct {
		name    string
		swap    string // file copied from another CA
		wantErr string
	}{
		{"foreign intermediate", "intermediate.pem", "does not match"},
		{"foreign intermediate key", "intermediate.key", "intermediate.key does not match"},
		{"foreign root", "root.pem", "does not match"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir, other := t.TempDir(), t.TempDir()
			openCA(t, dir, fixedClock(testNow))
			openCA(t, other, fixedClock(testNow))
			if err := os.WriteFile(filepath.Join(dir, tc.swap), readFile(t, filepath.Join(other, tc.swap)), 0o600); err != nil {
				t.Fatalf("os.WriteFile: %v", err)
			}
			_, err := Open(context.Background(), Config{Dir: dir, Clock: fixedClock(testNow)})
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Open error = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
	t.Run("intermediate and its key from another CA", func(t *testing.T) {
		dir, other := t.TempDir(), t.TempDir()
		openCA(t, dir, fixedClock(testNow))
		openCA(t, other, fixedClock(testNow))
		for _, f := range []string{"intermediate.pem", "intermediate.key"} {
			if err := os.WriteFile(filepath.Join(dir, f), readFile(t, filepath.Join(other, f)), 0o600); err != nil {
				t.Fatalf("os.WriteFile: %v", err)
			}
		}
		_, err := Open(context.Background(), Config{Dir: dir, Clock: fixedClock(testNow)})
		if err == nil || !strings.Contains(err.Error(), "is not signed by root.pem") {
			t.Fatalf("Open error = %v, want intermediate-not-signed-by-root", err)
		}
	})
	t.Run("garbage", func(t *testing.T) {
		dir := t.TempDir()
		openCA(t, dir, fixedClock(testNow))
		if err := os.WriteFile(filepath.Join(dir, "root.key"), []byte("not pem"), 0o600); err != nil {
			t.Fatalf("os.WriteFile: %v", err)
		}
		_, err := Open(context.Background(), Config{Dir: dir, Clock: fixedClock(testNow)})
		if err == nil || !strings.Contains(err.Error(), "root.key") {
			t.Fatalf("Open error = %v, want one naming root.key", err)
		}
	})
}

func TestOpenConfigErrors(t *testing.T) {
	ctx := context.Background()
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	tests := []struct {
		name    string
		ctx     context.Context
		cfg     Config
		wantErr string
	}{
		{"no dir", ctx, Config{}, "Config.Dir is required"},
		{"negative max lifetime", ctx, Config{Dir: t.TempDir(), MaxLifetime: -time.Hour}, "negative MaxLifetime"},
		{"canceled", canceled, Config{Dir: t.TempDir()}, "context canceled"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Open(tc.ctx, tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Open error = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestOpenExpiredIntermediate(t *testing.T) {
	dir := t.TempDir()
	openCA(t, dir, fixedClock(testNow))
	_, err := Open(context.Background(), Config{Dir: dir, Clock: fixedClock(testNow.AddDate(6, 0, 0))})
	if err == nil || !strings.Contains(err.Error(), "intermediate expired") {
		t.Fatalf("Open error = %v, want intermediate expired", err)
	}
}

func TestCustomNames(t *testing.T) {
	dir := t.TempDir()
	c, err := Open(context.Background(), Config{Dir: dir, Clock: fixedClock(testNow), Organization: "Example Corp", CommonName: "Example"})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	root := parsePEMCert(t, c.RootPath())
	if got := root.Subject.Organization; len(got) != 1 || got[0] != "Example Corp" {
		t.Errorf("O = %v", got)
	}
	if !strings.HasPrefix(root.Subject.CommonName, "Example Root CA ") {
		t.Errorf("CN = %q", root.Subject.CommonName)
	}
}
