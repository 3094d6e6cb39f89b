package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/acmera/acmera/scripts/internal/e2eutil"
)

// eabProfiles has an open default profile (wildcards too, for lego's
// dns-01) and "teams", which requires EAB.
const eabProfiles = `{"profiles":{"acme":{"allowAnyName":true,"allowWildcards":true},"teams":{"allowAnyName":true,"requireEAB":true}}}`

// acmeraCLI runs `acmera args...` with the server's environment (its data
// directory and profiles), bounded by a minute, and returns its stdout.
func acmeraCLI(t *testing.T, srv *server, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, acmeraBin, args...)
	cmd.Env = e2eutil.Environ("ACMERA_DATA_DIR="+filepath.Dir(srv.RootPEM), "ACMERA_PROFILES_JSON="+eabProfiles)
	cmd.WaitDelay = 5 * time.Second
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("acmera %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

// TestEABCertbot: certbot is refused by a requireEAB profile without a
// binding, registers with a key made by `acmera eab create` against the
// running server (admin socket), gets a name the key allows, is refused
// one it does not with a subproblem, and after `acmera eab revoke` can
// order nothing.
func TestEABCertbot(t *testing.T) {
	cb := e2eutil.NeedCertbot(t)
	t.Parallel()
	dns := e2eutil.StartDNS(t, true)
	port := e2eutil.FreePort(t)
	srv := startServer(t, e2eutil.ServerConfig{HTTP01Port: port, Resolver: dns.Addr(), Env: []string{"ACMERA_PROFILES_JSON=" + eabProfiles}})
	cb.Env = append(cb.Env, "REQUESTS_CA_BUNDLE="+srv.RootPEM)
	dir := strings.Replace(srv.DirURL, "/acme/acme/", "/acme/teams/", 1)
	account := []string{"--server", dir, "--agree-tos", "--register-unsafely-without-email"}

	out, err := cb.Run(slices.Concat([]string{"register"}, account)...)
	if err == nil || !strings.Contains(out, "requires external account binding") {
		t.Fatalf("certbot register without EAB: %v; want the externalAccountRequired refusal", err)
	}

	var key struct{ KID, HMAC string }
	if err := json.Unmarshal([]byte(acmeraCLI(t, srv, "eab", "create", "--profile", "teams", "--allow", "*.team-a.test")), &key); err != nil || key.KID == "" {
		t.Fatalf("eab create: %v", err)
	}
	cb.Must(slices.Concat([]string{"register", "--eab-kid", key.KID, "--eab-hmac-key", key.HMAC}, account)...)
	certonly := func(name string) (string, error) {
		return cb.Run(slices.Concat([]string{"certonly", "--standalone", "--preferred-challenges", "http",
			"--http-01-port", strconv.Itoa(port), "--http-01-address", "127.0.0.1", "--cert-name", name, "-d", name}, account)...)
	}
	if _, err := certonly("x.team-a.test"); err != nil {
		e2eutil.DumpLog(t, "certbot", cb.LogPath())
		t.Fatalf("certbot certonly x.team-a.test: %v", err)
	}
	if _, err := certonly("x.team-b.test"); err == nil {
		t.Fatal("certbot got x.team-b.test, which the key does not allow")
	}
	if last := lastResponse(cb.ReadLog()); !strings.Contains(last, `"type":"urn:ietf:params:acme:error:rejectedIdentifier"`) ||
		!strings.Contains(last, `"subproblems":[{`) || !strings.Contains(last, `"value":"x.team-b.test"`) {
		t.Errorf("x.team-b.test: last answer %q, want rejectedIdentifier with a subproblem naming it", last)
	}

	list := acmeraCLI(t, srv, "eab", "list")
	if !strings.Contains(list, `"kid":"`+key.KID+`"`) || !strings.Contains(list, `"uses":1`) || strings.Contains(list, key.HMAC) {
		t.Errorf("eab list = %q, want the key used once and no secret", list)
	}
	if out := acmeraCLI(t, srv, "eab", "revoke", key.KID); !strings.Contains(out, `"revoked":true`) {
		t.Errorf("eab revoke printed %q", out)
	}
	if _, err := certonly("y.team-a.test"); err == nil {
		t.Fatal("an account of a revoked EAB key got a certificate")
	}
	if last := lastResponse(cb.ReadLog()); !strings.Contains(last, "urn:ietf:params:acme:error:unauthorized") || !strings.Contains(last, "was revoked") {
		t.Errorf("after revocation: last answer %q, want unauthorized naming the revocation", last)
	}
	if b, err := os.ReadFile(srv.LogPath); err != nil || strings.Contains(string(b), key.HMAC) || !strings.Contains(string(b), `"eab_kid":"`+key.KID+`"`) {
		t.Errorf("server log (%v): want the kid on its events and never the secret", err)
	}
}

// lastResponse is the last server answer in certbot's debug log.
func lastResponse(log string) string {
	const mark = "Received response:\nHTTP "
	i := strings.LastIndex(log, mark)
	if i < 0 {
		return ""
	}
	rest := log[i:]
	if j := strings.Index(rest[len(mark):], "\n20"); j > 0 { // the next log line's date
		rest = rest[:len(mark)+j]
	}
	return rest
}
