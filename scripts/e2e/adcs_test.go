package e2e

import (
	"crypto/x509"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/keytab"
	"golang.org/x/crypto/acme"

	"github.com/acmera/acmera/scripts/fakeadcs/certsrv"
	"github.com/acmera/acmera/scripts/fakeadcs/mitkdc"
	"github.com/acmera/acmera/scripts/internal/e2eutil"
)

// TestADCSBackend runs the embedded binary with profiles on Microsoft AD
// CS through the certsrv fake, signed in with Kerberos through a real MIT
// KDC (a keytab for acmera's account; the fake holds the HTTP service's
// keytab). x/crypto/acme gets a certificate whose chain verifies to the
// CA's root; a request left pending for a certificate manager completes
// once the fake approves it; one the manager denies ends the order
// invalid with the CA's disposition message; certbot issues once.
func TestADCSBackend(t *testing.T) {
	t.Parallel()
	const realm, spn, domain = "FAKECORP.TEST", "HTTP/localhost", "adcs.e2e.test"
	kdc := mitkdc.Start(t, realm)
	kdc.AddUser("svc-acmera", "not-used-with-the-keytab-1")
	kt, err := keytab.Load(kdc.AddService(spn))
	if err != nil {
		t.Fatal(err)
	}
	var fake *certsrv.Server
	fake, err = certsrv.New(certsrv.Config{
		Templates: map[string]certsrv.Mode{"WebServer": certsrv.Issue, "ManagerApproval": certsrv.Pending},
		Keytab:    kt, SPN: spn,
		// The certificate manager approves or denies a little later, by
		// the name asked for.
		OnPending: func(id int) {
			time.Sleep(500 * time.Millisecond)
			for _, r := range fake.Requests() {
				if r.ID == id && slices.Contains(r.DNSNames, "deny."+domain) {
					fake.DenyRequest(id)
				} else if r.ID == id {
					fake.Approve(id)
				}
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := certsrv.StartTLS(t, fake)
	bundle := filepath.Join(t.TempDir(), "iis.pem")
	if err := os.WriteFile(bundle, certsrv.TLSRootPEM(srv), 0o600); err != nil {
		t.Fatal(err)
	}
	profiles, _ := json.Marshal(map[string]any{
		"backends": map[string]any{"corp": map[string]any{"adcs": map[string]any{
			"baseURL": srv.URL, "template": "WebServer", "caBundleFile": bundle,
			"auth": map[string]any{"method": "kerberos", "realm": realm, "kdc": []string{kdc.Addr}, "spn": spn,
				"username": "svc-acmera", "keytabFile": kdc.Keytab("svc-acmera", true)},
		}}},
		"profiles": map[string]any{
			"acme":     map[string]any{"allowAnyName": true},
			"corp":     map[string]any{"backend": "corp", "dnsSuffixes": []string{domain}},
			"approval": map[string]any{"backend": "corp", "caTemplate": "ManagerApproval", "dnsSuffixes": []string{domain}},
		},
	})
	e := &env{Responders: e2eutil.StartResponders(t, true)}
	e.Srv = startServer(t, e2eutil.ServerConfig{HTTP01Port: e.HTTP01.Port, TLSALPN01Port: e.ALPN.Port, Resolver: e.DNS.Addr(),
		Env: []string{"ACMERA_PROFILES_JSON=" + string(profiles), "ACMERA_FINALIZE_RETRY_DELAY=1s"}})
	ctx := e2eutil.TestContext(t, 120*time.Second)
	roots := x509.NewCertPool()
	roots.AddCert(fake.Root())
	dirOf := func(profile string) string {
		return strings.Replace(e.Srv.DirURL, "/acme/acme/", "/acme/"+profile+"/", 1)
	}
	client := func(profile string) *acme.Client {
		cl := &acme.Client{Key: newKey(t), DirectoryURL: dirOf(profile), HTTPClient: e.Srv.HTTPClient()}
		if _, err := cl.Register(ctx, &acme.Account{}, acme.AcceptTOS); err != nil {
			t.Fatalf("Register (%s): %v", profile, err)
		}
		return cl
	}
	issue := func(cl *acme.Client, name string) ([][]byte, error) {
		ids := acme.DomainIDs(name)
		o := e.authorize(ctx, t, cl, ids, always("http-01"))
		key := newKey(t)
		chain, _, err := cl.CreateOrderCert(ctx, o.FinalizeURL, csrFor(t, key, ids), true)
		if err == nil {
			_, err = e2eutil.VerifyChain(roots, chain, ids, key.Public())
		}
		return chain, err
	}

	if _, err := issue(client("corp"), "www."+domain); err != nil {
		t.Fatalf("issued template: %v", err)
	}
	approval := client("approval")
	if _, err := issue(approval, "approved."+domain); err != nil {
		t.Fatalf("approved after pending: %v", err)
	}
	_, err = issue(approval, "deny."+domain)
	var oe *acme.OrderError
	if !errors.As(err, &oe) || oe.Status != acme.StatusInvalid {
		t.Fatalf("denied after pending: %v, want the order invalid", err)
	}
	o, gerr := approval.GetOrder(ctx, oe.OrderURL)
	if gerr != nil || o.Error == nil || !strings.Contains(o.Error.Detail, `Denied by FAKECORP\certmanager`) {
		t.Errorf("denied order %+v (%v), want the CA's disposition message", o, gerr)
	}
	if l := fake.Logins(); len(l) == 0 || !slices.Contains(l, "kerberos:svc-acmera@"+realm) {
		t.Errorf("logins %v, want Kerberos as svc-acmera", l)
	}
	for _, r := range fake.Requests() {
		if !slices.Equal(r.Attributes, []string{"CertificateTemplate:" + r.Template}) {
			t.Errorf("request %d carried attributes %q, want only the template", r.ID, r.Attributes)
		}
	}

	// certbot, dns-01, on the issuing template.
	cb := e2eutil.NeedCertbot(t)
	cb.Env = append(cb.Env, "REQUESTS_CA_BUNDLE="+e.Srv.RootPEM, "TESTDNS_URL="+e.DNS.ControlURL())
	cb.Must(slices.Concat([]string{"certonly"}, cb.ManualDNS("../../testdata/e2e"),
		[]string{"--cert-name", "adcs", "-d", "certbot." + domain,
			"--server", dirOf("corp"), "--agree-tos", "--register-unsafely-without-email"})...)
	chain, key := cb.Lineage("adcs")
	if _, err := e2eutil.VerifyChain(roots, chain, acme.DomainIDs("certbot."+domain), key.Public()); err != nil {
		t.Errorf("certbot's certificate: %v", err)
	}
}
