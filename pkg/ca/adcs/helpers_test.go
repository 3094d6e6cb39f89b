package adcs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/keytab"

	"github.com/acmera/acmera/pkg/ca"
	"github.com/acmera/acmera/scripts/fakeadcs/certsrv"
	"github.com/acmera/acmera/scripts/fakeadcs/mitkdc"
)

const (
	domain   = "FAKECORP"
	user     = "svc-acmera"
	password = "Corr3ct-Horse!"
	realm    = "FAKECORP.TEST"
	spn      = "HTTP/localhost"
)

var templates = map[string]certsrv.Mode{"WebServer": certsrv.Issue, "Approved": certsrv.Pending, "Refused": certsrv.Deny}

// fake is a certsrv fake on loopback HTTPS.
type fake struct {
	*certsrv.Server
	srv *httptest.Server
}

func startFake(t *testing.T, kt *keytab.Keytab) *fake {
	t.Helper()
	s, err := certsrv.New(certsrv.Config{Templates: templates, Users: map[string]string{domain + `\` + user: password}, Keytab: kt, SPN: spn})
	if err != nil {
		t.Fatal(err)
	}
	return &fake{Server: s, srv: certsrv.StartTLS(t, s)}
}

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// newIssuer is an Issuer on f with auth.
func newIssuer(t *testing.T, f *fake, auth Auth, mod func(*Config)) *Issuer {
	t.Helper()
	roots := x509.NewCertPool()
	roots.AddCert(f.srv.Certificate())
	cfg := Config{BaseURL: f.srv.URL, Template: "WebServer", Auth: auth, RootCAs: roots, CallTimeout: 10 * time.Second}
	if mod != nil {
		mod(&cfg)
	}
	i, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return i
}

func ntlmAuth(t *testing.T, pw string) NTLM {
	return NTLM{Domain: domain, Username: user, PasswordFile: writeFile(t, "pw", pw+"\n")}
}

// kerberosEnv is a real MIT KDC with acmera's user and the fake's HTTP
// service, and a fake accepting its tickets.
type kerberosEnv struct {
	kdc *mitkdc.KDC
	f   *fake
}

func startKerberos(t *testing.T) kerberosEnv {
	t.Helper()
	kdc := mitkdc.Start(t, realm)
	kdc.AddUser(user, password)
	kt, err := keytab.Load(kdc.AddService(spn))
	if err != nil {
		t.Fatal(err)
	}
	return kerberosEnv{kdc: kdc, f: startFake(t, kt)}
}

func (k kerberosEnv) auth(t *testing.T, keytabFile bool) Kerberos {
	a := Kerberos{Realm: realm, KDCs: []string{k.kdc.Addr}, Username: user, SPN: spn}
	if keytabFile {
		a.KeytabFile = k.kdc.Keytab(user, true)
	} else {
		a.PasswordFile = writeFile(t, "krbpw", password)
	}
	return a
}

// orderRequest is what the RA would ask for names, with a matching CSR.
func orderRequest(t *testing.T, names ...string) ca.IssueRequest {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: names[0]}, DNSNames: names}, key)
	if err != nil {
		t.Fatal(err)
	}
	csr, _ := x509.ParseCertificateRequest(der)
	return ca.IssueRequest{CSR: csr, PublicKey: csr.PublicKey, CommonName: names[0], DNSNames: names,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, Lifetime: 24 * time.Hour,
		RequestedAt: time.Now(), RequestID: ca.RequestID("order-" + names[0])}
}
