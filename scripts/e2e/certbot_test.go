package e2e

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/acme"
)

// certbotTimeout bounds one certbot run.
const certbotTimeout = 2 * time.Minute

// certbotRunner runs certbot with its own config, work and logs
// directories, trusting the server's root through REQUESTS_CA_BUNDLE.
type certbotRunner struct {
	t     *testing.T
	bin   string
	base  string
	env   []string
	roots *x509.CertPool
}

// needCertbot finds certbot; a missing certbot skips the test, except in
// CI (CI=true), where it fails.
func needCertbot(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("certbot")
	if err == nil {
		return bin
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("certbot not found (%v): CI must install it (apt-get install -y certbot)", err)
	}
	t.Skipf("certbot not found (%v): install Debian's certbot package to run this test", err)
	return ""
}

// run runs certbot with args plus the common flags, and returns its
// combined output and error.
func (c *certbotRunner) run(args ...string) (string, error) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), certbotTimeout)
	defer cancel()
	all := slices.Concat(args, []string{
		"--config-dir", filepath.Join(c.base, "config"),
		"--work-dir", filepath.Join(c.base, "work"),
		"--logs-dir", filepath.Join(c.base, "logs"),
		"--non-interactive"})
	cmd := exec.CommandContext(ctx, c.bin, all...)
	cmd.Env = c.env
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	c.t.Logf("certbot %s:\n%s", strings.Join(args, " "), out)
	return string(out), err
}

// must runs certbot and fails the test if it fails.
func (c *certbotRunner) must(args ...string) string {
	c.t.Helper()
	out, err := c.run(args...)
	if err != nil {
		c.dumpLog()
		c.t.Fatalf("certbot %s: %v", args[0], err)
	}
	return out
}

func (c *certbotRunner) dumpLog() {
	b, err := os.ReadFile(filepath.Join(c.base, "logs", "letsencrypt.log"))
	if err != nil {
		return
	}
	if len(b) > 12<<10 {
		b = b[len(b)-12<<10:]
	}
	c.t.Logf("certbot log (tail):\n%s", b)
}

// lineage reads a certificate, its chain and key, and verifies them.
func (c *certbotRunner) verify(certPath, keyPath string, names ...string) *x509.Certificate {
	c.t.Helper()
	chain := readPEMChain(c.t, certPath)
	key := readKey(c.t, keyPath)
	return verifyChain(c.t, c.roots, chain, acme.DomainIDs(names...), key.Public())
}

// TestCertbot runs Debian's certbot against acmera: certonly with http-01
// (standalone) and dns-01 (manual hooks writing to scripts/testdns), a
// restart of acmera on the same data, a forced renewal of both lineages
// (accounts survive), and revocation by the account key of a certificate
// issued before the restart (certificates survive) and by the
// certificate's key, with alreadyRevoked on a second attempt.
func TestCertbot(t *testing.T) {
	bin := needCertbot(t)
	t.Parallel()
	dns := startDNS(t, true)
	port := freePort(t)
	srv := startServer(t, serverConfig{HTTP01Port: port, Resolver: dns.Addr()})
	hooks, err := filepath.Abs("../../testdata/e2e")
	if err != nil {
		t.Fatalf("filepath.Abs: %v", err)
	}
	cb := &certbotRunner{t: t, bin: bin, base: t.TempDir(), roots: srv.Root,
		env: childEnv("REQUESTS_CA_BUNDLE="+srv.RootPEM, "TESTDNS_URL="+dns.ControlURL())}
	live := func(name, file string) string { return filepath.Join(cb.base, "config", "live", name, file) }
	archive := func(name, file string) string { return filepath.Join(cb.base, "config", "archive", name, file) }
	account := []string{"--server", srv.DirURL, "--agree-tos", "--register-unsafely-without-email"}

	cb.must(append([]string{"certonly", "--standalone", "--preferred-challenges", "http",
		"--http-01-port", strconv.Itoa(port), "--http-01-address", "127.0.0.1",
		"--cert-name", "http", "-d", "certbot-http.e2e.test"}, account...)...)
	cb.must(append([]string{"certonly", "--manual", "--preferred-challenges", "dns",
		"--manual-auth-hook", "sh " + filepath.Join(hooks, "certbot-auth-hook.sh"),
		"--manual-cleanup-hook", "sh " + filepath.Join(hooks, "certbot-cleanup-hook.sh"),
		"--cert-name", "dns", "-d", "certbot-dns.e2e.test", "-d", "*.certbot-dns.e2e.test"}, account...)...)
	httpCert := cb.verify(live("http", "fullchain.pem"), live("http", "privkey.pem"), "certbot-http.e2e.test")
	dnsCert := cb.verify(live("dns", "fullchain.pem"), live("dns", "privkey.pem"), "certbot-dns.e2e.test", "*.certbot-dns.e2e.test")
	if got := dns.TXT("_acme-challenge.certbot-dns.e2e.test"); len(got) != 0 {
		t.Errorf("TXT values left after the cleanup hook: %q", got)
	}

	// Restart acmera on the same address and data directory, then renew.
	srv.Stop()
	srv.Start()
	out := cb.must("renew", "--force-renewal", "--no-random-sleep-on-renew")
	if !strings.Contains(out, "all renewals succeeded") && !strings.Contains(out, "Congratulations") {
		t.Errorf("certbot renew did not report success")
	}
	httpNew := cb.verify(live("http", "fullchain.pem"), live("http", "privkey.pem"), "certbot-http.e2e.test")
	dnsNew := cb.verify(live("dns", "fullchain.pem"), live("dns", "privkey.pem"), "certbot-dns.e2e.test", "*.certbot-dns.e2e.test")
	if httpNew.SerialNumber.Cmp(httpCert.SerialNumber) == 0 || dnsNew.SerialNumber.Cmp(dnsCert.SerialNumber) == 0 {
		t.Errorf("renew kept the old certificates")
	}

	revoke := []string{"revoke", "--server", srv.DirURL, "--no-delete-after-revoke"}
	// By the account key, a certificate issued before the restart.
	byAccount := slices.Concat(revoke, []string{"--cert-path", archive("http", "cert1.pem"), "--reason", "superseded"})
	cb.must(byAccount...)
	wantAlreadyRevoked(t, cb, byAccount)
	// By the certificate's key.
	byKey := slices.Concat(revoke, []string{"--cert-path", live("dns", "cert.pem"), "--key-path", live("dns", "privkey.pem"), "--reason", "keycompromise"})
	cb.must(byKey...)
	wantAlreadyRevoked(t, cb, byKey)
}

// wantAlreadyRevoked runs a revocation again: certbot must fail, and the
// server's answer, in certbot's debug log (certbot 2.1 on Python 3.11
// reports it as "AttributeError: can't set attribute", a certbot bug), must
// be 400 with the alreadyRevoked problem.
func wantAlreadyRevoked(t *testing.T, cb *certbotRunner, args []string) {
	t.Helper()
	if _, err := cb.run(args...); err == nil {
		t.Errorf("second certbot revoke succeeded")
	}
	b, err := os.ReadFile(filepath.Join(cb.base, "logs", "letsencrypt.log"))
	if err != nil {
		t.Fatalf("certbot log: %v", err)
	}
	log := string(b)
	i := strings.LastIndex(log, "Received response:\nHTTP ")
	if i < 0 || !strings.HasPrefix(log[i+len("Received response:\nHTTP "):], "400") ||
		!strings.Contains(log[i:], `"type":"urn:ietf:params:acme:error:alreadyRevoked"`) {
		cb.dumpLog()
		t.Errorf("second certbot revoke: the server's last answer is not 400 alreadyRevoked")
	}
}

// readPEMChain reads every CERTIFICATE block of a PEM file.
func readPEMChain(t *testing.T, path string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("os.ReadFile: %v", err)
	}
	var chain [][]byte
	for {
		var p *pem.Block
		if p, b = pem.Decode(b); p == nil {
			break
		}
		if p.Type == "CERTIFICATE" {
			chain = append(chain, p.Bytes)
		}
	}
	return chain
}

// readKey reads a PEM private key (PKCS#8, SEC 1 or PKCS#1).
func readKey(t *testing.T, path string) crypto.Signer {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("os.ReadFile: %v", err)
	}
	p, _ := pem.Decode(b)
	if p == nil {
		t.Fatalf("%s: no PEM block", path)
	}
	if k, err := x509.ParsePKCS8PrivateKey(p.Bytes); err == nil {
		return k.(crypto.Signer)
	}
	if k, err := x509.ParseECPrivateKey(p.Bytes); err == nil {
		return k
	}
	k, err := x509.ParsePKCS1PrivateKey(p.Bytes)
	if err != nil {
		t.Fatalf("%s: not a PKCS#8, SEC 1 or PKCS#1 key", path)
	}
	return k
}
