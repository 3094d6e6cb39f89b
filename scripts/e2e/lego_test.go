package e2e

import (
	"crypto/x509"
	"encoding/json"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/acme"

	"github.com/acmera/acmera/scripts/internal/e2eutil"
)

// TestLego runs the lego CLI (scripts/lego-build.sh) against acmera, with
// lego answering every challenge itself:
//   - http-01 and tls-alpn-01 on the ports acmera validates against, and
//     dns-01 for a name and its wildcard through the exec provider
//     (testdata/e2e/lego-exec.sh writing to scripts/testdns), lego's own
//     propagation check asking the test DNS server;
//   - ARI (RFC 9773): `lego renew --dynamic` leaves a fresh certificate
//     alone (its window is hours away), `lego renew` (30 days, so due)
//     replaces it, and the old certificate's window moves to its end;
//   - `lego revoke`, seen on the CRL, after which ARI makes
//     `lego renew --dynamic` replace the revoked certificate at once;
//   - EAB: on a requireEAB profile lego stops without a binding (it reads
//     the directory's externalAccountRequired) and is issued a certificate
//     with --eab --kid --hmac from `acmera eab create`.
func TestLego(t *testing.T) {
	lego := e2eutil.NeedLego(t)
	t.Parallel()
	dns := e2eutil.StartDNS(t, true)
	httpPort, tlsPort := e2eutil.FreePort(t), e2eutil.FreePort(t)
	srv := startServer(t, e2eutil.ServerConfig{HTTP01Port: httpPort, TLSALPN01Port: tlsPort, Resolver: dns.Addr(),
		Env: []string{"ACMERA_PROFILES_JSON=" + eabProfiles}})
	hook, err := filepath.Abs("../../testdata/e2e/lego-exec.sh")
	if err != nil {
		t.Fatal(err)
	}
	// The exec provider solves one dns-01 challenge at a time, a minute
	// apart unless EXEC_SEQUENCE_INTERVAL says otherwise (seconds).
	lego.Env = append(lego.Env, "LEGO_CA_CERTIFICATES="+srv.RootPEM, "TESTDNS_URL="+dns.ControlURL(),
		"EXEC_PATH="+hook, "EXEC_SEQUENCE_INTERVAL=1", "EXEC_POLLING_INTERVAL=1", "EXEC_PROPAGATION_TIMEOUT=20")
	account := []string{"--server", srv.DirURL, "--accept-tos", "--email", "ops@lego.e2e.test"}
	http01 := []string{"--http", "--http.port", "127.0.0.1:" + strconv.Itoa(httpPort)}
	tls01 := []string{"--tls", "--tls.port", "127.0.0.1:" + strconv.Itoa(tlsPort)}
	dns01 := []string{"--dns", "exec", "--dns.resolvers", dns.Addr(), "--dns.propagation-disable-ans"}
	run := func(solver []string, names ...string) *x509.Certificate {
		t.Helper()
		lego.Must(slices.Concat(account, domains(names), solver, []string{"run"})...)
		return legoCert(t, lego, srv, names...)
	}

	httpCert := run(http01, "lego-http.e2e.test")
	tlsCert := run(tls01, "lego-tls.e2e.test")
	run(dns01, "lego-dns.e2e.test", "*.lego-dns.e2e.test")
	if got := dns.TXT("_acme-challenge.lego-dns.e2e.test"); len(got) != 0 {
		t.Errorf("TXT values left after lego's cleanup: %q", got)
	}
	wantValidated(t, srv, "lego-http.e2e.test", "http-01")
	wantValidated(t, srv, "lego-tls.e2e.test", "tls-alpn-01")
	wantValidated(t, srv, "lego-dns.e2e.test", "dns-01", "dns-01") // the name and its wildcard

	// ARI: not yet, then a renewal that replaces the certificate.
	renew := slices.Concat(account, domains([]string{"lego-http.e2e.test"}), http01, []string{"renew", "--no-random-sleep"})
	out := lego.Must(append(renew, "--dynamic")...)
	if !strings.Contains(out, "renewalInfo endpoint indicates that renewal is not needed") {
		t.Errorf("lego renew --dynamic of a fresh certificate: no ARI answer saying not yet")
	}
	if c := legoCert(t, lego, srv, "lego-http.e2e.test"); c.SerialNumber.Cmp(httpCert.SerialNumber) != 0 {
		t.Fatalf("lego renew --dynamic renewed a certificate that was not due")
	}
	lego.Must(renew...)
	if c := legoCert(t, lego, srv, "lego-http.e2e.test"); c.SerialNumber.Cmp(httpCert.SerialNumber) == 0 {
		t.Fatalf("lego renew kept the old certificate")
	}
	if w := renewalWindow(t, srv, httpCert); !w.Start.Equal(httpCert.NotAfter) {
		t.Errorf("replaced certificate's ARI window starts %s, want its notAfter %s (the renewal did not carry replaces)", w.Start, httpCert.NotAfter)
	}

	// Revocation, then ARI asking for the revoked certificate's renewal.
	lego.Must(slices.Concat(account, domains([]string{"lego-tls.e2e.test"}), []string{"revoke", "--keep", "--reason", "4"})...)
	checkCRLLists(e2eutil.TestContext(t, 30*time.Second), t, srv.Root, tlsCert.Raw, int(acme.CRLReasonSuperseded))
	out = lego.Must(slices.Concat(account, domains([]string{"lego-tls.e2e.test"}), tls01, []string{"renew", "--no-random-sleep", "--dynamic"})...)
	if !strings.Contains(out, "renewalInfo endpoint indicates that renewal is needed") {
		t.Errorf("lego renew --dynamic of a revoked certificate: no ARI answer saying renew now")
	}
	if c := legoCert(t, lego, srv, "lego-tls.e2e.test"); c.SerialNumber.Cmp(tlsCert.SerialNumber) == 0 {
		t.Fatalf("lego renew --dynamic kept the revoked certificate")
	}
	if got := orderReplaces(t, srv, "lego-tls.e2e.test"); len(got) != 2 || got[0] != "" || got[1] == "" {
		t.Errorf("order.create events for lego-tls.e2e.test have replaces %q, want none then one", got)
	}

	legoEAB(t, srv, http01)
}

// legoEAB: a new lego account on the requireEAB profile "teams" is refused
// without a binding and gets a certificate with one.
func legoEAB(t *testing.T, srv *server, http01 []string) {
	t.Helper()
	lego := e2eutil.NeedLego(t)
	lego.Env = append(lego.Env, "LEGO_CA_CERTIFICATES="+srv.RootPEM)
	dir := strings.Replace(srv.DirURL, "/acme/acme/", "/acme/teams/", 1)
	account := []string{"--server", dir, "--accept-tos", "--email", "ops@team-a.test"}
	order := slices.Concat(domains([]string{"lego.team-a.test"}), http01, []string{"run"})
	// lego reads externalAccountRequired in the directory's meta and stops.
	if out, err := lego.Run(slices.Concat(account, order)...); err == nil || !strings.Contains(out, "Server requires External Account Binding") {
		t.Fatalf("lego run without EAB on a requireEAB profile: %v; want it to see that the profile requires EAB", err)
	}
	var key struct{ KID, HMAC string }
	if err := json.Unmarshal([]byte(acmeraCLI(t, srv, "eab", "create", "--profile", "teams", "--allow", "*.team-a.test")), &key); err != nil || key.KID == "" {
		t.Fatalf("eab create: %v", err)
	}
	lego.Must(slices.Concat(account, []string{"--eab", "--kid", key.KID, "--hmac", key.HMAC}, order)...)
	legoCert(t, lego, srv, "lego.team-a.test")
}

// domains are lego's --domains flags for names.
func domains(names []string) []string {
	var flags []string
	for _, n := range names {
		flags = append(flags, "--domains", n)
	}
	return flags
}

// legoCert verifies the certificate lego saved for names (the first names
// its files) and returns its leaf.
func legoCert(t *testing.T, lego *e2eutil.Lego, srv *server, names ...string) *x509.Certificate {
	t.Helper()
	chain, key := lego.Cert(names[0])
	return verifyChain(t, srv.Root, chain, acme.DomainIDs(names...), key.Public())
}

// renewalWindow fetches leaf's ARI suggested window (RFC 9773 §4.1).
func renewalWindow(t *testing.T, srv *server, leaf *x509.Certificate) (w struct{ Start, End time.Time }) {
	t.Helper()
	hc := srv.HTTPClient()
	dirURL := strings.TrimSuffix(srv.DirURL, "directory")
	res, err := hc.Get(dirURL + "renewal-info/" + ariCertID(leaf))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var ri struct {
		SuggestedWindow struct{ Start, End time.Time }
	}
	if err := json.NewDecoder(res.Body).Decode(&ri); err != nil || res.StatusCode != 200 {
		t.Fatalf("renewalInfo: %d (%v)", res.StatusCode, err)
	}
	return ri.SuggestedWindow
}

// orderReplaces is the replaces field of every order.create event in the
// server's log whose identifiers are exactly name, in order.
func orderReplaces(t *testing.T, srv *server, name string) []string {
	t.Helper()
	var got []string
	for _, ev := range logEvents(t, srv, "order.create") {
		if ids, _ := ev["identifiers"].([]any); len(ids) == 1 && ids[0] == name {
			r, _ := ev["replaces"].(string)
			got = append(got, r)
		}
	}
	return got
}
