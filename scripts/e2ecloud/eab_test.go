package e2ecloud

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/acme"

	"github.com/acmera/acmera/scripts/internal/e2eutil"
)

// eabProfiles has an open default profile and "teams", which requires EAB.
const eabProfiles = `{"profiles":{"acme":{"allowAnyName":true},"teams":{"allowAnyName":true,"requireEAB":true}}}`

// TestEABOnFirestore runs `acmera eab create/list/revoke` with the ACME
// function's environment (Firestore on the emulator) while the function
// runs, and uses the key from x/crypto/acme: refused without it, bound
// with it, narrowed by it, and stopped by its revocation.
func TestEABOnFirestore(t *testing.T) {
	t.Parallel()
	needEmulator(t)
	gcp := startFakeGCP(t)
	s := newStack(t, gcp.gcpEndpoints, "ACMERA_PROFILES_JSON="+eabProfiles)
	ctx := e2eutil.TestContext(t, 2*time.Minute)
	cli := func(args ...string) string {
		t.Helper()
		cctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		cmd := exec.CommandContext(cctx, acmeraBin, args...)
		cmd.Env = append(append([]string{}, s.fnEnv...), "FUNCTION_TARGET=ACME")
		cmd.WaitDelay = 5 * time.Second
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		mustf(t, err, "acmera %s: %s", strings.Join(args, " "), stderr.String())
		return string(out)
	}
	var key struct{ KID, HMAC string }
	mustf(t, json.Unmarshal([]byte(cli("eab", "create", "--profile", "teams", "--allow", "*.team-a.test")), &key), "eab create output")
	secret, err := base64.RawURLEncoding.DecodeString(key.HMAC)
	mustf(t, err, "hmac")

	dir := strings.Replace(s.DirURL, "/acme/acme/", "/acme/teams/", 1)
	c, err := newClient(dir, nil)
	mustf(t, err, "newClient")
	_, err = c.Register(ctx, &acme.Account{}, acme.AcceptTOS)
	wantProblem(t, err, 401, "externalAccountRequired", "requires an external account binding")
	_, err = c.Register(ctx, &acme.Account{ExternalAccountBinding: &acme.ExternalAccountBinding{KID: key.KID, Key: secret}}, acme.AcceptTOS)
	mustf(t, err, "Register with EAB")
	_, err = c.AuthorizeOrder(ctx, []acme.AuthzID{{Type: "dns", Value: "x.team-a.test"}})
	mustf(t, err, "allowed order")
	_, err = c.AuthorizeOrder(ctx, []acme.AuthzID{{Type: "dns", Value: "x.team-b.test"}})
	wantProblem(t, err, 400, "rejectedIdentifier", "EAB key")

	// A second account cannot bind the single-use key.
	other, err := newClient(dir, nil)
	mustf(t, err, "newClient")
	_, err = other.Register(ctx, &acme.Account{ExternalAccountBinding: &acme.ExternalAccountBinding{KID: key.KID, Key: secret}}, acme.AcceptTOS)
	wantProblem(t, err, 403, "unauthorized", "single-use")

	if list := cli("eab", "list"); !strings.Contains(list, `"kid":"`+key.KID+`"`) || !strings.Contains(list, `"uses":1`) || strings.Contains(list, key.HMAC) {
		t.Errorf("eab list = %q, want the key used once and no secret", list)
	}
	if out := cli("eab", "revoke", key.KID); !strings.Contains(out, `"revoked":true`) {
		t.Errorf("eab revoke printed %q", out)
	}
	_, err = c.AuthorizeOrder(ctx, []acme.AuthzID{{Type: "dns", Value: "y.team-a.test"}})
	wantProblem(t, err, 403, "unauthorized", "was revoked")
}
