package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/acmera/acmera/pkg/config"
	"github.com/acmera/acmera/pkg/policy"
	"github.com/acmera/acmera/pkg/store/bolt"
)

func eabEnvFunc(dir string) func(string) string {
	return func(k string) string {
		switch k {
		case "ACMERA_DATA_DIR":
			return dir
		case "ACMERA_PROFILES_JSON":
			return `{"profiles":{"acme":{"allowAnyName":true},"teams":{"allowAnyName":true,"requireEAB":true,"maxLifetime":"72h"}}}`
		}
		return ""
	}
}

func runCLI(t *testing.T, env func(string) string, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := run(t.Context(), args, env, &out, io.Discard)
	return out.String(), err
}

func TestHelpListsCommands(t *testing.T) {
	for _, arg := range []string{"help", "--help", "-h"} {
		out, err := runCLI(t, eabEnvFunc(t.TempDir()), arg)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"eab create", "eab list", "eab revoke", "FUNCTION_TARGET=ACME", "FUNCTION_TARGET=Validate", "embedded default"} {
			if !strings.Contains(out, want) {
				t.Errorf("%s: usage lacks %q", arg, want)
			}
		}
	}
	if _, err := runCLI(t, eabEnvFunc(t.TempDir()), "frobnicate"); err == nil || !strings.Contains(err.Error(), "frobnicate") {
		t.Errorf("unknown command: %v", err)
	}
}

// eabCycle creates, lists and revokes a key through the CLI.
func eabCycle(t *testing.T, env func(string) string) {
	t.Helper()
	out, err := runCLI(t, env, "eab", "create", "--profile", "teams", "--allow", "*.team-a.test", "--allow", "10.0.0.0/8",
		"--challenges", "http-01,dns-01", "--max-lifetime", "48h", "--expires", "720h")
	if err != nil {
		t.Fatalf("eab create: %v", err)
	}
	var created struct{ KID, HMAC string }
	if err := json.Unmarshal([]byte(out), &created); err != nil || strings.Count(out, "\n") != 1 {
		t.Fatalf("eab create printed %q (%v), want one JSON line", out, err)
	}
	if secret, err := base64.RawURLEncoding.DecodeString(created.HMAC); err != nil || len(secret) != 32 {
		t.Fatalf("hmac %q is not 256 bits of base64url", created.HMAC)
	}
	out, err = runCLI(t, env, "eab", "list")
	if err != nil {
		t.Fatalf("eab list: %v", err)
	}
	if strings.Contains(out, created.HMAC) || strings.Contains(out, "hmac") {
		t.Fatalf("eab list shows the secret: %s", out)
	}
	var l eabListing
	if err := json.Unmarshal([]byte(out), &l); err != nil || l.KID != created.KID || l.Profile != "teams" || l.Revoked ||
		len(l.Allow) != 2 || l.MaxLifetime != "48h0m0s" || l.Expires == nil || l.Reusable {
		t.Fatalf("eab list = %s (%v)", out, err)
	}
	if out, err = runCLI(t, env, "eab", "revoke", created.KID); err != nil || !strings.Contains(out, `"revoked":true`) {
		t.Fatalf("eab revoke = %q, %v", out, err)
	}
	if _, err = runCLI(t, env, "eab", "revoke", created.KID); err == nil || !strings.Contains(err.Error(), "already revoked") {
		t.Fatalf("second revoke: %v", err)
	}
	if _, err = runCLI(t, env, "eab", "revoke", "nope"); err == nil || !strings.Contains(err.Error(), `no EAB key "nope"`) {
		t.Fatalf("revoke unknown: %v", err)
	}
}

func TestEABCommandsOnFile(t *testing.T) {
	env := eabEnvFunc(t.TempDir())
	eabCycle(t, env)
	for _, args := range [][]string{
		{"eab", "create", "--profile", "nope"},
		{"eab", "create"},
		{"eab", "create", "--profile", "teams", "--allow", "a..b"},
		{"eab", "create", "--profile", "teams", "--challenges", "email-01"},
		{"eab", "create", "--profile", "teams", "--max-lifetime", "100h"},
		{"eab", "frob"},
	} {
		if _, err := runCLI(t, env, args...); err == nil {
			t.Errorf("%q accepted", args)
		} else if args[len(args)-1] == "nope" && !strings.Contains(err.Error(), `"nope"`) {
			t.Errorf("unknown profile: %v, want it named", err)
		}
	}
}

// With a server's admin socket up, the CLI goes through it (the bbolt
// file is locked by the server's store).
func TestEABCommandsOnAdminSocket(t *testing.T) {
	dir := t.TempDir()
	env := eabEnvFunc(dir)
	st, err := bolt.Open(filepath.Join(dir, "acmera.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cfg, err := config.ReadEmbedded(env)
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, adminSocketName)
	stop, err := serveAdmin(sock, st, cfg.Policy, false, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode %v, %v; want 0600", fi.Mode(), err)
	}
	if _, err := serveAdmin(sock, st, cfg.Policy, false, slog.Default()); err == nil {
		t.Fatal("a second admin endpoint took a live socket")
	}
	eabCycle(t, env)
	if list, err := st.ListEABKeys(t.Context()); err != nil || len(list) != 1 || !list[0].Revoked() {
		t.Fatalf("the server's store holds %+v, %v; want the one revoked key", list, err)
	}
}

// No kid or secret starts with "-" once encoded, so certbot's and lego's
// flag parsers take them as the values of --eab-kid / --eab-hmac-key.
func TestEABKeyEncodingsNeverStartWithADash(t *testing.T) {
	pr := policy.AllowAny().Profile(policy.DefaultProfile)
	for range 500 {
		k, err := newEABKey(&eabSpec{profile: policy.DefaultProfile}, pr, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(k.KID, "-") || strings.HasPrefix(base64.RawURLEncoding.EncodeToString(k.HMAC), "-") {
			t.Fatalf("kid %q or its secret starts with a dash", k.KID)
		}
	}
}
