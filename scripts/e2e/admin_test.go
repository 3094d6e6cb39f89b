package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/acme"

	"github.com/acmera/acmera/scripts/internal/e2eutil"
)

// adminCLI runs `acmera admin args...` against srv's data directory (its
// admin socket) as operator "e2e-operator", bounded by a minute.
func adminCLI(t *testing.T, srv *server, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, acmeraBin, append([]string{"admin"}, args...)...)
	cmd.Env = e2eutil.Environ("ACMERA_DATA_DIR="+filepath.Dir(srv.RootPEM), "ACMERA_ADMIN_ACTOR=e2e-operator")
	cmd.WaitDelay = 5 * time.Second
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("acmera admin %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

// TestAdmin issues a certificate with x/crypto/acme, finds it with
// `acmera admin certs --json` by name, revokes it with `acmera admin
// revoke` (the CRL then lists it, with the reason, and the audit event
// names the operator), and loads the admin page (ACMERA_ADMIN_ADDR) in
// headless Chromium, which shows the serial and the name.
func TestAdmin(t *testing.T) {
	t.Parallel()
	e := &env{Responders: e2eutil.StartResponders(t, false)}
	pageAddr := fmt.Sprintf("127.0.0.1:%d", e2eutil.FreePort(t))
	e.Srv = startServer(t, e2eutil.ServerConfig{HTTP01Port: e.HTTP01.Port, TLSALPN01Port: e.ALPN.Port, Resolver: e.DNS.Addr(),
		Env: []string{"ACMERA_ADMIN_ADDR=" + pageAddr}})
	ctx := e2eutil.TestContext(t, 2*time.Minute)
	cl := e.newClient(ctx, t)
	const name = "admin-view.e2e.test"
	chain, _ := e.issue(ctx, t, cl, acme.DomainIDs(name), always("http-01"))

	var got struct {
		Serial, Account, Status string
		Names                   []string
	}
	out := adminCLI(t, e.Srv, "certs", "--name", name, "--json")
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &got); err != nil || got.Status != "valid" ||
		len(got.Names) != 1 || got.Names[0] != name || got.Serial == "" {
		t.Fatalf("admin certs --name %s = %q (%v), want the one valid certificate", name, out, err)
	}
	if kid := string(cl.KID); !strings.HasSuffix(kid, "/"+got.Account) {
		t.Errorf("admin certs: account %q, want the account of %s", got.Account, kid)
	}
	if out := adminCLI(t, e.Srv, "accounts", "--limit", "5"); !strings.Contains(out, `"id":"`+got.Account+`"`) {
		t.Errorf("admin accounts = %q, want the account", out)
	}
	if out := adminCLI(t, e.Srv, "stuck"); strings.TrimSpace(out) != "" {
		t.Errorf("admin stuck = %q, want nothing stuck", out)
	}

	out = adminCLI(t, e.Srv, "revoke", got.Serial, "--reason", "keyCompromise")
	if !strings.Contains(out, `"status":"revoked"`) || !strings.Contains(out, `"revocationReason":1`) {
		t.Errorf("admin revoke printed %q", out)
	}
	checkCRLLists(ctx, t, e.Srv.Root, chain[0], int(acme.CRLReasonKeyCompromise))
	if out := adminCLI(t, e.Srv, "certs", "--revoked"); !strings.Contains(out, `"serial":"`+got.Serial+`"`) {
		t.Errorf("admin certs --revoked = %q, want the serial", out)
	}
	audited := false
	for _, ev := range logEvents(t, e.Srv, "certificate.revoke") {
		audited = audited || ev["serial"] == got.Serial && ev["actor"] == "e2e-operator" && ev["admin"] == true
	}
	if !audited {
		t.Error("no certificate.revoke audit event names the operator")
	}

	pageURL := "http://" + pageAddr + "/"
	checkAdminPage(ctx, t, pageURL, got.Serial, name)
	loadInChromium(ctx, t, pageURL, got.Serial, name)
}

// checkAdminPage fetches the page and checks its headers and content.
func checkAdminPage(ctx context.Context, t *testing.T, url string, want ...string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") ||
		!strings.Contains(res.Header.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Fatalf("GET %s: %s %q, CSP %q", url, res.Status, res.Header.Get("Content-Type"), res.Header.Get("Content-Security-Policy"))
	}
	for _, w := range want {
		if !bytes.Contains(body, []byte(w)) {
			t.Errorf("the admin page lacks %q", w)
		}
	}
	if bytes.Contains(body, []byte("<script")) || bytes.Contains(body, []byte("BEGIN CERTIFICATE")) {
		t.Error("the admin page carries a script or a certificate")
	}
}

// loadInChromium loads url in headless Chromium: its DOM must show want,
// and its screenshot must be a PNG that decodes. Skipped without
// chromium, unless CI=true.
func loadInChromium(ctx context.Context, t *testing.T, url string, want ...string) {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		e2eutil.Missing(t, "chromium not found (%v): install Debian's chromium package", err)
	}
	dir := t.TempDir()
	run := func(args ...string) []byte {
		t.Helper()
		cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(cctx, bin, append([]string{"--headless", "--no-sandbox", "--disable-gpu",
			"--user-data-dir=" + filepath.Join(dir, "profile"), "--no-first-run", "--window-size=1280,900"}, args...)...)
		cmd.Env = append(e2eutil.Environ(), "HOME="+dir)
		cmd.WaitDelay = 5 * time.Second
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("chromium %s: %v: %s", strings.Join(args, " "), err, stderr.String())
		}
		return out
	}
	dom := run("--dump-dom", url)
	for _, w := range want {
		if !bytes.Contains(dom, []byte(w)) {
			t.Errorf("Chromium's DOM of the admin page lacks %q", w)
		}
	}
	shot := filepath.Join(dir, "admin.png")
	run("--screenshot="+shot, url)
	f, err := os.Open(shot)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || st.Size() == 0 {
		t.Fatalf("screenshot %s is empty (%v)", shot, err)
	}
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("png.Decode(screenshot): %v", err)
	}
	if b := img.Bounds(); b.Dx() < 100 || b.Dy() < 100 {
		t.Errorf("screenshot is %v, want a page", b)
	}
}
