package e2e

import (
	"crypto/x509"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/crypto/acme"

	"github.com/acmera/acmera/scripts/internal/e2eutil"
)

// TestCertbot runs Debian's certbot against acmera: certonly with http-01
// (standalone) and dns-01 (manual hooks writing to scripts/testdns), a
// restart of acmera on the same data, a forced renewal of both lineages
// (accounts survive), and revocation by the account key of a certificate
// issued before the restart (certificates survive) and by the
// certificate's key, with alreadyRevoked on a second attempt.
func TestCertbot(t *testing.T) {
	cb := e2eutil.NeedCertbot(t)
	t.Parallel()
	dns := e2eutil.StartDNS(t, true)
	port := e2eutil.FreePort(t)
	srv := startServer(t, e2eutil.ServerConfig{HTTP01Port: port, Resolver: dns.Addr()})
	cb.Env = append(cb.Env, "REQUESTS_CA_BUNDLE="+srv.RootPEM, "TESTDNS_URL="+dns.ControlURL())
	verify := func(lineage string, names ...string) *x509.Certificate {
		chain, key := cb.Lineage(lineage)
		return verifyChain(t, srv.Root, chain, acme.DomainIDs(names...), key.Public())
	}
	account := []string{"--server", srv.DirURL, "--agree-tos", "--register-unsafely-without-email"}

	cb.Must(slices.Concat([]string{"certonly", "--standalone", "--preferred-challenges", "http",
		"--http-01-port", strconv.Itoa(port), "--http-01-address", "127.0.0.1",
		"--cert-name", "http", "-d", "certbot-http.e2e.test"}, account)...)
	cb.Must(slices.Concat([]string{"certonly"}, cb.ManualDNS("../../testdata/e2e"),
		[]string{"--cert-name", "dns", "-d", "certbot-dns.e2e.test", "-d", "*.certbot-dns.e2e.test"}, account)...)
	httpCert := verify("http", "certbot-http.e2e.test")
	dnsCert := verify("dns", "certbot-dns.e2e.test", "*.certbot-dns.e2e.test")
	if got := dns.TXT("_acme-challenge.certbot-dns.e2e.test"); len(got) != 0 {
		t.Errorf("TXT values left after the cleanup hook: %q", got)
	}

	// Restart acmera on the same address and data directory, then renew.
	srv.Stop()
	srv.Start()
	out := cb.Must("renew", "--force-renewal", "--no-random-sleep-on-renew")
	if !strings.Contains(out, "all renewals succeeded") && !strings.Contains(out, "Congratulations") {
		t.Errorf("certbot renew did not report success")
	}
	httpNew := verify("http", "certbot-http.e2e.test")
	dnsNew := verify("dns", "certbot-dns.e2e.test", "*.certbot-dns.e2e.test")
	if httpNew.SerialNumber.Cmp(httpCert.SerialNumber) == 0 || dnsNew.SerialNumber.Cmp(dnsCert.SerialNumber) == 0 {
		t.Errorf("renew kept the old certificates")
	}

	revoke := []string{"revoke", "--server", srv.DirURL, "--no-delete-after-revoke"}
	// By the account key, a certificate issued before the restart.
	byAccount := slices.Concat(revoke, []string{"--cert-path", cb.Archive("http", "cert1.pem"), "--reason", "superseded"})
	cb.Must(byAccount...)
	wantAlreadyRevoked(t, cb, byAccount)
	// By the certificate's key.
	byKey := slices.Concat(revoke, []string{"--cert-path", cb.Live("dns", "cert.pem"), "--key-path", cb.Live("dns", "privkey.pem"), "--reason", "keycompromise"})
	cb.Must(byKey...)
	wantAlreadyRevoked(t, cb, byKey)
}

// wantAlreadyRevoked runs a revocation again: certbot must fail, and the
// server's answer, in certbot's debug log (certbot 2.1 on Python 3.11
// reports it as "AttributeError: can't set attribute", a certbot bug), must
// be 400 with the alreadyRevoked problem.
func wantAlreadyRevoked(t *testing.T, cb *e2eutil.Certbot, args []string) {
	t.Helper()
	if _, err := cb.Run(args...); err == nil {
		t.Errorf("second certbot revoke succeeded")
	}
	log := cb.ReadLog()
	i := strings.LastIndex(log, "Received response:\nHTTP ")
	if i < 0 || !strings.HasPrefix(log[i+len("Received response:\nHTTP "):], "400") ||
		!strings.Contains(log[i:], `"type":"urn:ietf:params:acme:error:alreadyRevoked"`) {
		e2eutil.DumpLog(t, "certbot", cb.LogPath())
		t.Errorf("second certbot revoke: the server's last answer is not 400 alreadyRevoked")
	}
}
