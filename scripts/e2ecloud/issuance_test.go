package e2ecloud

import (
	"crypto/x509"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/acme"

	"github.com/acmera/acmera/scripts/internal/e2eutil"
)

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
	ctx := e2eutil.TestContext(t, 3*time.Minute)
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
		cb := e2eutil.NeedCertbot(t)
		leaf := runCertbot(t, cb, s, roots, "certbot-http.example.test", "--standalone",
			"--http-01-port", strconv.Itoa(s.HTTP01.Port), "--http-01-address", "127.0.0.1")
		record(t, leaf, "http-01")
	})
	t.Run("certbot/dns-01", func(t *testing.T) {
		name := "certbot-dns.example.test"
		cb := e2eutil.NeedCertbot(t)
		leaf := runCertbot(t, cb, s, roots, name, cb.ManualDNS("../../testdata/e2e")...)
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
func runCertbot(t *testing.T, cb *e2eutil.Certbot, s *stack, roots *x509.CertPool, name string, auth ...string) *x509.Certificate {
	t.Helper()
	cb.Env = append(cb.Env, "TESTDNS_URL="+s.DNS.ControlURL())
	cb.Must(slices.Concat([]string{"certonly", "--agree-tos", "--register-unsafely-without-email",
		"--server", s.DirURL, "-d", name}, auth)...)
	chain, key := cb.Lineage(name)
	leaf, err := e2eutil.VerifyChain(roots, chain, acme.DomainIDs(name), key.Public())
	mustf(t, err, "certbot's certificate")
	return leaf
}
