package adcs

import (
	"context"
	"crypto/x509"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/acmera/acmera/pkg/ca"
	"github.com/acmera/acmera/scripts/fakeadcs/certsrv"
)

// issueAndCheck issues for names through i, checks the certificate as the
// RA does, and that the chain is the leaf then the issuing CA (no root).
func issueAndCheck(t *testing.T, i *Issuer, f *fake, names ...string) *ca.Issued {
	t.Helper()
	req := orderRequest(t, names...)
	var submitted []string
	req.Submitted = func(_ context.Context, id string) error { submitted = append(submitted, id); return nil }
	iss, err := i.Issue(t.Context(), req)
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	if len(iss.Chain) != 2 {
		t.Fatalf("chain of %d certificates, want leaf and issuing CA", len(iss.Chain))
	}
	leaf, _ := x509.ParseCertificate(iss.Chain[0])
	if err := ca.CheckIssued(req, leaf, time.Now()); err != nil {
		t.Errorf("CheckIssued: %v", err)
	}
	inter, _ := x509.ParseCertificate(iss.Chain[1])
	roots, inters := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(f.Root())
	inters.AddCert(inter)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inters, DNSName: names[0]}); err != nil {
		t.Errorf("chain does not verify: %v", err)
	}
	if len(submitted) != 1 || submitted[0] != iss.Resource {
		t.Errorf("Submitted %v, Resource %q: want the request ID recorded once", submitted, iss.Resource)
	}
	return iss
}

func TestIssueNTLM(t *testing.T) {
	t.Parallel()
	f := startFake(t, nil)
	i := newIssuer(t, f, ntlmAuth(t, password), nil)
	if err := i.Check(t.Context()); err != nil {
		t.Fatalf("Check: %v", err)
	}
	issueAndCheck(t, i, f, "www.corp.test", "api.corp.test")
	reqs := f.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests at the CA, want 1", len(reqs))
	}
	form := reqs[0].Form
	want := map[string]string{"Mode": "newreq", "CertAttrib": "CertificateTemplate:WebServer\r\n",
		"FriendlyType": "Saved-Request Certificate", "TargetStoreFlags": "0", "SaveCert": "yes"}
	for k, v := range want {
		if got := form[k]; len(got) != 1 || got[0] != v {
			t.Errorf("form %s = %q, want %q", k, got, v)
		}
	}
	if len(form) != len(want)+1 || !slices.Equal(reqs[0].Attributes, []string{"CertificateTemplate:WebServer"}) {
		t.Errorf("form %v, attributes %q: want only the template besides the CSR", form, reqs[0].Attributes)
	}
	if l := f.Logins(); len(l) == 0 || l[0] != `ntlm:FAKECORP\svc-acmera` {
		t.Errorf("logins %v, want NTLM as the service account", l)
	}
	roots, err := i.Roots(t.Context())
	if err != nil || len(roots) != 1 || string(roots[0]) != string(f.Root().Raw) {
		t.Errorf("Roots: %d roots, %v; want the fake's root", len(roots), err)
	}
}

func TestIssueKerberos(t *testing.T) {
	t.Parallel()
	k := startKerberos(t)
	for _, kt := range []bool{true, false} {
		i := newIssuer(t, k.f, k.auth(t, kt), nil)
		issueAndCheck(t, i, k.f, "kerberos.corp.test")
	}
	l := k.f.Logins()
	if len(l) == 0 || !slices.ContainsFunc(l, func(s string) bool { return s == "kerberos:"+user+"@"+realm }) || slices.ContainsFunc(l, func(s string) bool { return strings.HasPrefix(s, "ntlm:") }) {
		t.Errorf("logins %v, want Kerberos only, as %s@%s", l, user, realm)
	}
}

func TestWrongCredentials(t *testing.T) {
	t.Parallel()
	f := startFake(t, nil)
	i := newIssuer(t, f, ntlmAuth(t, "wrong"), nil)
	_, err := i.Issue(t.Context(), orderRequest(t, "www.corp.test"))
	if !errors.Is(err, ca.ErrMisconfigured) || !strings.Contains(err.Error(), "401") {
		t.Errorf("NTLM with a wrong password: %v, want ErrMisconfigured naming the 401", err)
	}
	if err := i.Check(t.Context()); !errors.Is(err, ca.ErrMisconfigured) {
		t.Errorf("Check with a wrong password: %v, want ErrMisconfigured", err)
	}
	if len(f.Requests()) != 0 {
		t.Error("the CA recorded a request from an unauthenticated client")
	}
	k := startKerberos(t)
	bad := k.auth(t, false)
	bad.PasswordFile = writeFile(t, "bad", "wrong")
	if err := newIssuer(t, k.f, bad, nil).Check(t.Context()); !errors.Is(err, ca.ErrMisconfigured) {
		t.Errorf("Kerberos with a wrong password: %v, want ErrMisconfigured", err)
	}
	gone := k.auth(t, false)
	gone.KDCs = []string{"127.0.0.1:1"}
	if err := newIssuer(t, k.f, gone, nil).Check(t.Context()); !errors.Is(err, ca.ErrTransient) {
		t.Errorf("Kerberos with an unreachable KDC: %v, want ErrTransient", err)
	}
}

// pendingRequest submits a request for the approval template and returns
// it with the recorded request ID.
func pendingRequest(t *testing.T, i *Issuer) ca.IssueRequest {
	t.Helper()
	req := orderRequest(t, "pending.corp.test")
	req.Template = "Approved"
	req.Submitted = func(_ context.Context, id string) error { req.Resource = id; return nil }
	_, err := i.Issue(t.Context(), req)
	if !errors.Is(err, ErrPending) || !errors.Is(err, ca.ErrTransient) || req.Resource == "" {
		t.Fatalf("Issue on an approval template: %v (recorded %q), want ErrPending (transient) and a request ID", err, req.Resource)
	}
	return req
}

func TestPending(t *testing.T) {
	t.Parallel()
	f := startFake(t, nil)
	i := newIssuer(t, f, ntlmAuth(t, password), nil)

	approved := pendingRequest(t, i)
	if _, err := i.Find(t.Context(), approved); !errors.Is(err, ErrPending) {
		t.Errorf("Find while pending: %v, want ErrPending", err)
	}
	id := f.Requests()[0].ID
	if err := f.Approve(id); err != nil {
		t.Fatal(err)
	}
	iss, err := i.Find(t.Context(), approved)
	if err != nil || len(iss.Chain) != 2 || iss.Resource != approved.Resource {
		t.Fatalf("Find after approval: %v, want the chain", err)
	}
	leaf, _ := x509.ParseCertificate(iss.Chain[0])
	if err := ca.CheckIssued(approved, leaf, time.Now()); err != nil {
		t.Errorf("CheckIssued: %v", err)
	}

	denied := pendingRequest(t, i)
	if err := f.DenyRequest(id + 1); err != nil {
		t.Fatal(err)
	}
	var rej *ca.RejectedError
	if _, err := i.Find(t.Context(), denied); !errors.As(err, &rej) || !strings.Contains(rej.Detail, `Denied by FAKECORP\certmanager`) {
		t.Errorf("Find after denial: %v, want RejectedError with the disposition message", err)
	}

	late := pendingRequest(t, i)
	late.RequestedAt = time.Now().Add(-25 * time.Hour)
	if _, err := i.Find(t.Context(), late); !errors.As(err, &rej) || !strings.Contains(rej.Detail, "within 24h") {
		t.Errorf("Find past the approval deadline: %v, want RejectedError naming the deadline", err)
	}
	noID := orderRequest(t, "x.corp.test")
	if _, err := i.Find(t.Context(), noID); err == nil || errors.Is(err, ca.ErrNotIssued) {
		t.Errorf("Find with no request ID: %v, want an error that is not ErrNotIssued", err)
	}
}

func TestDenied(t *testing.T) {
	t.Parallel()
	f := startFake(t, nil)
	i := newIssuer(t, f, ntlmAuth(t, password), nil)
	req := orderRequest(t, "www.corp.test")
	req.Template = "Refused"
	var rej *ca.RejectedError
	if _, err := i.Issue(t.Context(), req); !errors.As(err, &rej) || !strings.Contains(rej.Detail, "Denied by Policy Module") {
		t.Errorf("denied: %v, want RejectedError with the disposition message", err)
	}
	req.Template = "NoSuchTemplate"
	if _, err := i.Issue(t.Context(), req); !errors.Is(err, ca.ErrMisconfigured) || !strings.Contains(err.Error(), "0x80094800") {
		t.Errorf("template not offered: %v, want ErrMisconfigured with the CA's message", err)
	}
	req.Template = "Web\r\nSAN:dns=evil.test"
	if _, err := i.Issue(t.Context(), req); !errors.Is(err, ca.ErrMisconfigured) {
		t.Errorf("template with a line break: %v, want ErrMisconfigured", err)
	}
}

func TestCSRRefused(t *testing.T) {
	t.Parallel()
	f := startFake(t, nil)
	i := newIssuer(t, f, ntlmAuth(t, password), nil)
	req := orderRequest(t, "www.corp.test", "extra.corp.test")
	req.DNSNames = []string{"www.corp.test"}
	var rej *ca.RejectedError
	if _, err := i.Issue(t.Context(), req); !errors.As(err, &rej) || !strings.Contains(rej.Detail, "copies names from the CSR") {
		t.Errorf("a CSR with a name beyond the order's: %v, want RejectedError", err)
	}
	req = orderRequest(t, "www.corp.test")
	req.CommonName = ""
	req.CSR.Subject.CommonName = "admin.corp.test"
	if _, err := i.Issue(t.Context(), req); !errors.As(err, &rej) {
		t.Errorf("a CSR with another common name: %v, want RejectedError", err)
	}
	if n := len(f.Requests()); n != 0 {
		t.Errorf("%d refused CSRs reached the CA", n)
	}
}

func TestUnreachable(t *testing.T) {
	t.Parallel()
	f := startFake(t, nil)
	i := newIssuer(t, f, ntlmAuth(t, password), nil)
	f.srv.Close()
	if err := i.Check(t.Context()); !errors.Is(err, ca.ErrTransient) {
		t.Errorf("Check of a stopped server: %v, want ErrTransient", err)
	}
	_ = certsrv.Issue
}
