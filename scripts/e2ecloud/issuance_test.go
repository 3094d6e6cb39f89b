package e2ecloud

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// certbotBin is Debian's certbot.
const certbotBin = "/usr/bin/certbot"

// TestIssuance issues certificates through the whole Cloud stack (Firestore
// emulator, fakegcp, an ACME process and a Validate process) with
// x/crypto/acme over http-01, dns-01 and tls-alpn-01, and with certbot over
// http-01 (standalone) and dns-01 (manual hooks publishing TXT records
// through testdns's control API). Every challenge is validated by the
// Validate process, reached through the Cloud Tasks fake, and the CAS fake
// must have received exactly one CreateCertificate per certificate.
func TestIssuance(t *testing.T) {
	t.Parallel()
	needEmulator(t)
	gcp := startFakeGCP(t)
	s := newStack(t, gcp.gcpEndpoints)
	roots := gcp.Roots(t)
	ctx := testCtx(t, 3*time.Minute)
	cl, err := newClient(s.DirURL, nil)
	mustf(t, err, "newClient")
	mustf(t, register(ctx, cl), "register")

	serials := map[string]string{} // serial -> subtest
	wantValidated := map[string]int{}
	record := func(t *testing.T, leaf *x509.Certificate, typ string) {
		if prev, dup := serials[leaf.SerialNumber.String()]; dup {
			t.Errorf("serial %s issued twice (also by %s)", leaf.SerialNumber, prev)
		}
		serials[leaf.SerialNumber.String()] = t.Name()
		wantValidated[typ]++
	}
	for _, tc := range []struct{ typ, name string }{
		{"http-01", "http01.example.test"},
		{"dns-01", "dns01.example.test"},
		{"tls-alpn-01", "alpn01.example.test"},
	} {
		t.Run("x-crypto-acme/"+tc.typ, func(t *testing.T) {
			is, err := s.issue(ctx, cl, roots, []string{tc.name}, tc.typ)
			if err != nil {
				t.Fatal(err)
			}
			if len(is.Answered) != 1 {
				t.Fatalf("answered %d challenges, want 1", len(is.Answered))
			}
			ch := is.Answered[0].Challenge
			switch tc.typ {
			case "http-01":
				if h := s.HTTP01.Hits(ch.Token); h < 1 {
					t.Errorf("the validator never fetched the http-01 token")
				}
			case "tls-alpn-01":
				if h := s.ALPN.Hits(tc.name); h < 1 {
					t.Errorf("the validator never connected for tls-alpn-01")
				}
			}
			record(t, is.Leaf, tc.typ)
		})
	}
	s.HTTP01.Close() // certbot --standalone binds the http-01 port itself
	certbotIssuances(t, s, roots, record)
	checkOneCAcallPerCert(t, gcp, s, len(serials))
	checkValidations(t, s, wantValidated)
}

// certbotIssuances gets one certificate with certbot over http-01
// (standalone) and one over dns-01 (manual hooks using testdns's control
// API), and passes each leaf to record.
func certbotIssuances(t *testing.T, s *stack, roots *x509.CertPool, record func(*testing.T, *x509.Certificate, string)) {
	t.Run("certbot/http-01", func(t *testing.T) {
		leaf := runCertbot(t, s, roots, "certbot-http.example.test", "--standalone",
			"--http-01-port", strconv.Itoa(s.HTTP01.Port), "--http-01-address", "127.0.0.1")
		record(t, leaf, "http-01")
	})
	t.Run("certbot/dns-01", func(t *testing.T) {
		name := "certbot-dns.example.test"
		auth, cleanup := hookScripts(t)
		leaf := runCertbot(t, s, roots, name, "--manual", "--preferred-challenges", "dns",
			"--manual-auth-hook", auth, "--manual-cleanup-hook", cleanup)
		if v := s.DNS.TXT("_acme-challenge." + name); len(v) != 0 {
			t.Errorf("TXT records left after certbot's cleanup hook: %q", v)
		}
		record(t, leaf, "dns-01")
	})
}

// checkOneCAcallPerCert asserts the CAS fake minted exactly n certificates
// with exactly n CreateCertificate calls, and that n issuance audit events
// were logged, each naming the CA resource.
func checkOneCAcallPerCert(t *testing.T, gcp *fakeGCP, s *stack, n int) {
	t.Helper()
	st := gcp.Stats(t)
	t.Logf("after %d certificates: fakegcp stats %+v", n, st)
	if st.Minted != n || st.CAS["CreateCertificate"] != n {
		t.Errorf("CAS: %d minted with %d CreateCertificate calls for %d certificates; want exactly one call and one certificate each",
			st.Minted, st.CAS["CreateCertificate"], n)
	}
	events := append(logEvents(t, s.ACME.Log(), "certificate issued"), logEvents(t, s.Validate.Log(), "certificate issued")...)
	if len(events) != n {
		t.Errorf("%d \"certificate issued\" audit events, want %d", len(events), n)
	}
	for _, e := range events {
		if r, _ := e["caResource"].(string); !strings.HasPrefix(r, casPool+"/certificates/") {
			t.Errorf("audit event %v: caResource %q is not a certificate of %s", e, r, casPool)
		}
	}
}

// checkValidations asserts the Validate process recorded exactly the
// expected successful validations per challenge type.
func checkValidations(t *testing.T, s *stack, want map[string]int) {
	t.Helper()
	got := map[string]int{}
	for _, e := range logEvents(t, s.Validate.Log(), "challenge validated") {
		if e["valid"] == true {
			typ, _ := e["challenge"].(string)
			got[typ]++
		}
	}
	for typ, n := range want {
		if got[typ] != n {
			t.Errorf("Validate logged %d valid %s validations, want %d (all: %v)", got[typ], typ, n, got)
		}
	}
}

// runCertbot runs `certbot certonly` for name against the stack with the
// given authenticator flags and returns the verified leaf.
func runCertbot(t *testing.T, s *stack, roots *x509.CertPool, name string, auth ...string) *x509.Certificate {
	t.Helper()
	if _, err := os.Stat(certbotBin); err != nil {
		missing(t, "certbot not installed: %v", err)
	}
	dir := t.TempDir()
	args := append([]string{"certonly", "--non-interactive", "--agree-tos", "--register-unsafely-without-email",
		"--server", s.DirURL, "-d", name, "--config-dir", filepath.Join(dir, "config"),
		"--work-dir", filepath.Join(dir, "work"), "--logs-dir", filepath.Join(dir, "logs")}, auth...)
	cmd := exec.CommandContext(testCtx(t, 2*time.Minute), certbotBin, args...)
	cmd.Env = append(os.Environ(), "TESTDNS_URL="+s.DNS.ControlURL())
	out, err := cmd.CombinedOutput()
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "logs", "letsencrypt.log"))
		t.Fatalf("certbot %s: %v\n%s\n--- letsencrypt.log (tail) ---\n%s", strings.Join(args, " "), err, out, tail(log, 6<<10))
	}
	live := filepath.Join(dir, "config", "live", name)
	chain := readPEMChain(t, filepath.Join(live, "fullchain.pem"))
	key := readKey(t, filepath.Join(live, "privkey.pem"))
	leaf, err := verifyChain(roots, chain, []string{name}, key.Public())
	if err != nil {
		t.Fatalf("certbot's certificate: %v", err)
	}
	return leaf
}

// hookScripts writes certbot's dns-01 hooks: they publish and remove the
// TXT record through testdns's control API with curl.
func hookScripts(t *testing.T) (auth, cleanup string) {
	t.Helper()
	dir := t.TempDir()
	const common = "#!/bin/sh\nset -eu\n"
	const args = `--data-urlencode "name=_acme-challenge.$CERTBOT_DOMAIN" --data-urlencode "value=$CERTBOT_VALIDATION"`
	auth, cleanup = filepath.Join(dir, "auth.sh"), filepath.Join(dir, "cleanup.sh")
	scripts := map[string]string{
		auth:    common + `curl -fsS --noproxy '*' -X POST "$TESTDNS_URL/txt" ` + args + "\n",
		cleanup: common + `curl -fsS --noproxy '*' -G -X DELETE "$TESTDNS_URL/txt" ` + args + "\n",
	}
	for path, body := range scripts {
		mustf(t, os.WriteFile(path, []byte(body), 0o700), "write %s", path)
	}
	return auth, cleanup
}

func readPEMChain(t *testing.T, path string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	mustf(t, err, "read %s", path)
	var chain [][]byte
	for {
		var blk *pem.Block
		if blk, b = pem.Decode(b); blk == nil {
			break
		}
		if blk.Type == "CERTIFICATE" {
			chain = append(chain, blk.Bytes)
		}
	}
	return chain
}

func readKey(t *testing.T, path string) crypto.Signer {
	t.Helper()
	b, err := os.ReadFile(path)
	mustf(t, err, "read %s", path)
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s: no PEM block", path)
	}
	k, err := parseKey(blk.Bytes)
	mustf(t, err, "parse %s", path)
	return k
}

func parseKey(der []byte) (crypto.Signer, error) {
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		if s, ok := k.(crypto.Signer); ok {
			return s, nil
		}
		return nil, fmt.Errorf("PKCS#8 key %T is not a signer", k)
	}
	if k, err := x509.ParseECPrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k, nil
	}
	return nil, errors.New("not a PKCS#8, SEC 1 or PKCS#1 private key")
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
