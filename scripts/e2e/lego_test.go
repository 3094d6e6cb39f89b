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
	"github.com/acmera/acmera/scripts/testdns"
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
	e := newLegoEnv(t, lego)
	httpCert := e.run(e.http01, "lego-http.e2e.test")
	tlsCert := e.run(e.tls01, "lego-tls.e2e.test")
	e.run(e.dns01, "lego-dns.e2e.test", "*.lego-dns.e2e.test")
	if got := e.dns.TXT("_acme-challenge.lego-dns.e2e.test"); len(got) != 0 {
		t.Errorf("TXT values left after lego's cleanup: %q", got)
	}
	wantValidated(t, e.srv, "lego-http.e2e.test", "http-01")
	wantValidated(t, e.srv, "lego-tls.e2e.test", "tls-alpn-01")
	wantValidated(t, e.srv, "lego-dns.e2e.test", "dns-01", "dns-01") // the name and its wildcard

	e.renewByARI(httpCert)
	e.revokeThenRenew(tlsCert)
	e.eab()
}

// legoEnv is acmera (profiles of eabProfiles) with the test DNS server,
// and lego's flags for it.
type legoEnv struct {
	t                    *testing.T
	lego                 *e2eutil.Lego
	srv                  *server
	dns                  *testdns.Server
	account              []string // --server, --accept-tos, --email
	http01, tls01, dns01 []string // a solver's flags
}

func newLegoEnv(t *testing.T, lego *e2eutil.Lego) *legoEnv {
	t.Helper()
	e := &legoEnv{t: t, lego: lego, dns: e2eutil.StartDNS(t, true)}
	httpPort, tlsPort := e2eutil.FreePort(t), e2eutil.FreePort(t)
	e.srv = startServer(t, e2eutil.ServerConfig{HTTP01Port: httpPort, TLSALPN01Port: tlsPort, Resolver: e.dns.Addr(),
		Env: []string{"ACMERA_PROFILES_JSON=" + eabProfiles}})
	hook, err := filepath.Abs("../../testdata/e2e/lego-exec.sh")
	if err != nil {
		t.Fatal(err)
	}
	// The exec provider solves one dns-01 challenge at a time, a minute
	// apart unless EXEC_SEQUENCE_INTERVAL says otherwise (seconds).
	lego.Env = append(lego.Env, "LEGO_CA_CERTIFICATES="+e.srv.RootPEM, "TESTDNS_URL="+e.dns.ControlURL(),
		"EXEC_PATH="+hook, "EXEC_SEQUENCE_INTERVAL=1", "EXEC_POLLING_INTERVAL=1", "EXEC_PROPAGATION_TIMEOUT=20")
	e.account = []string{"--server", e.srv.DirURL, "--accept-tos", "--email", "ops@lego.e2e.test"}
	e.http01 = []string{"--http", "--http.port", "127.0.0.1:" + strconv.Itoa(httpPort)}
	e.tls01 = []string{"--tls", "--tls.port", "127.0.0.1:" + strconv.Itoa(tlsPort)}
	e.dns01 = []string{"--dns", "exec", "--dns.resolvers", e.dns.Addr(), "--dns.propagation-disable-ans"}
	return e
}

// run runs `lego run` for names with the solver's flags and returns the
// verified leaf.
func (e *legoEnv) run(solver []string, names ...string) *x509.Certificate {
	e.t.Helper()
	e.lego.Must(slices.Concat(e.account, domains(names), solver, []string{"run"})...)
	return legoCert(e.t, e.lego, e.srv, names...)
}

// renewByARI: `lego renew --dynamic` leaves leaf alone (ARI: not yet),
// then `lego renew` replaces it and leaf's ARI window moves to its end.
func (e *legoEnv) renewByARI(leaf *x509.Certificate) {
	t := e.t
	t.Helper()
	name := leaf.DNSNames[0]
	renew := slices.Concat(e.account, domains([]string{name}), e.http01, []string{"renew", "--no-random-sleep"})
	out := e.lego.Must(append(renew, "--dynamic")...)
	if !strings.Contains(out, "renewalInfo endpoint indicates that renewal is not needed") {
		t.Errorf("lego renew --dynamic of a fresh certificate: no ARI answer saying not yet")
	}
	if c := legoCert(t, e.lego, e.srv, name); c.SerialNumber.Cmp(leaf.SerialNumber) != 0 {
		t.Fatalf("lego renew --dynamic renewed a certificate that was not due")
	}
	e.lego.Must(renew...)
	if c := legoCert(t, e.lego, e.srv, name); c.SerialNumber.Cmp(leaf.SerialNumber) == 0 {
		t.Fatalf("lego renew kept the old certificate")
	}
	if w := renewalWindow(t, e.srv, leaf); !w.Start.Equal(leaf.NotAfter) {
		t.Errorf("replaced certificate's ARI window starts %s, want its notAfter %s (the renewal did not carry replaces)", w.Start, leaf.NotAfter)
	}
}

// revokeThenRenew: `lego revoke` puts leaf (got by tls-alpn-01) on the CRL,
// then ARI makes `lego renew --dynamic` replace it at once.
func (e *legoEnv) revokeThenRenew(leaf *x509.Certificate) {
	t := e.t
	t.Helper()
	name := leaf.DNSNames[0]
	e.lego.Must(slices.Concat(e.account, domains([]string{name}), []string{"revoke", "--keep", "--reason", "4"})...)
	checkCRLLists(e2eutil.TestContext(t, 30*time.Second), t, e.srv.Root, leaf.Raw, int(acme.CRLReasonSuperseded))
	out := e.lego.Must(slices.Concat(e.account, domains([]string{name}), e.tls01, []string{"renew", "--no-random-sleep", "--dynamic"})...)
	if !strings.Contains(out, "renewalInfo endpoint indicates that renewal is needed") {
		t.Errorf("lego renew --dynamic of a revoked certificate: no ARI answer saying renew now")
	}
	if c := legoCert(t, e.lego, e.srv, name); c.SerialNumber.Cmp(leaf.SerialNumber) == 0 {
		t.Fatalf("lego renew --dynamic kept the revoked certificate")
	}
	if got := orderReplaces(t, e.srv, name); len(got) != 2 || got[0] != "" || got[1] == "" {
		t.Errorf("order.create events for %s have replaces %q, want none then one", name, got)
	}
}

// eab: a new lego account on the requireEAB profile "teams" stops without
// a binding and gets a certificate with one.
func (e *legoEnv) eab() {
	t := e.t
	t.Helper()
	lego := e2eutil.NeedLego(t)
	lego.Env = append(lego.Env, "LEGO_CA_CERTIFICATES="+e.srv.RootPEM)
	dir := strings.Replace(e.srv.DirURL, "/acme/acme/", "/acme/teams/", 1)
	account := []string{"--server", dir, "--accept-tos", "--email", "ops@team-a.test"}
	order := slices.Concat(domains([]string{"lego.team-a.test"}), e.http01, []string{"run"})
	// lego reads externalAccountRequired in the directory's meta and stops.
	if out, err := lego.Run(slices.Concat(account, order)...); err == nil || !strings.Contains(out, "Server requires External Account Binding") {
		t.Fatalf("lego run without EAB on a requireEAB profile: %v; want it to see that the profile requires EAB", err)
	}
	var key struct{ KID, HMAC string }
	if err := json.Unmarshal([]byte(acmeraCLI(t, e.srv, "eab", "create", "--profile", "teams", "--allow", "*.team-a.test")), &key); err != nil || key.KID == "" {
		t.Fatalf("eab create: %v", err)
	}
	lego.Must(slices.Concat(account, []string{"--eab", "--kid", key.KID, "--hmac", key.HMAC}, order)...)
	legoCert(t, lego, e.srv, "lego.team-a.test")
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
