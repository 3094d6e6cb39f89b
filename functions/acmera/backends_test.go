package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/acmera/acmera/pkg/ca"
	"github.com/acmera/acmera/pkg/ca/local"
	"github.com/acmera/acmera/pkg/ca/vault/vaulttest"
	"github.com/acmera/acmera/pkg/config"
)

// The start-up checks of a Vault backend: a working one is built and
// described; a missing role, a mount acmera cannot use, a refused login
// and a role whose client_flag differs from a profile's clientAuth stop
// the start naming the backend; an unreachable Vault only warns.
func TestBuildBackendsChecksVault(t *testing.T) {
	vs := vaulttest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	own, err := local.Open(ctx, local.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := "http://" + l.Addr().String()
	l.Close()
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(vaulttest.RootToken), 0o600); err != nil {
		t.Fatal(err)
	}
	root := map[string]any{"method": "token", "tokenFile": tokenFile}
	jwt := map[string]any{"method": "jwt", "role": vaulttest.JWTRole, "audience": vaulttest.Audience, "metadataURL": vs.MetadataServer()}
	for _, tc := range []struct {
		name      string
		vault     map[string]any
		clientTLS bool   // the profile on the backend has clientAuth
		want      string // "" to start
	}{
		{"working", map[string]any{"address": vs.Addr, "mount": vaulttest.Mount, "role": vaulttest.Role, "auth": jwt}, false, ""},
		{"missing role", map[string]any{"address": vs.Addr, "mount": vaulttest.Mount, "role": "nope", "auth": root}, false, "backends.onprem"},
		// Without read on roles/<role> a missing role cannot be told from
		// a forbidden one: acmera warns and starts (its first sign fails as
		// the operator's misconfiguration).
		{"unreadable role: start, with a warning", map[string]any{"address": vs.Addr, "mount": vaulttest.Mount, "role": "nope", "auth": jwt}, false, ""},
		{"missing mount", map[string]any{"address": vs.Addr, "mount": "pki_missing", "role": vaulttest.Role, "auth": jwt}, false, "backends.onprem"},
		{"refused login", map[string]any{"address": vs.Addr, "mount": vaulttest.Mount, "role": vaulttest.Role,
			"auth": map[string]any{"method": "jwt", "role": vaulttest.JWTRole, "audience": "someone-else", "metadataURL": jwt["metadataURL"]}}, false, "jwt login"},
		{"client_flag differs from clientAuth", map[string]any{"address": vs.Addr, "mount": vaulttest.Mount, "role": vaulttest.Role, "auth": jwt}, true, "client_flag=false"},
		{"Vault unreachable: start, with a warning", map[string]any{"address": dead, "mount": vaulttest.Mount, "role": vaulttest.Role, "auth": jwt}, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			js, _ := json.Marshal(map[string]any{
				"backends": map[string]any{"onprem": map[string]any{"vault": tc.vault}},
				"profiles": map[string]any{"acme": map[string]any{"allowAnyName": true},
					"onprem": map[string]any{"backend": "onprem", "dnsSuffixes": []string{vaulttest.Domain}, "clientAuth": tc.clientTLS}},
			})
			bs, closeAll, err := buildFromProfiles(t, ctx, js, own)
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("buildBackends = %v, want an error naming %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("buildBackends: %v", err)
			}
			defer closeAll()
			if tc.name != "working" {
				return
			}
			be, err := bs.Get("onprem")
			if err != nil || !strings.Contains(be.Description, "Vault") || bs.Default() != config.BackendLocal {
				t.Errorf("backend %+v (%v), default %q", be, err, bs.Default())
			}
		})
	}
}

// buildFromProfiles reads profilesJSON as ACMERA_PROFILES_JSON of the
// embedded default and builds its backends beside own, the local CA.
func buildFromProfiles(t *testing.T, ctx context.Context, profilesJSON []byte, own ca.Issuer) (*ca.Backends, func(), error) {
	t.Helper()
	cfg, err := config.ReadEmbedded(func(k string) string {
		if k == "ACMERA_PROFILES_JSON" {
			return string(profilesJSON)
		}
		return ""
	})
	if err != nil {
		t.Fatalf("ReadEmbedded: %v", err)
	}
	return buildBackends(ctx, cfg.Common, ca.Backend{Name: config.BackendLocal, Issuer: own}, slog.New(slog.DiscardHandler))
}
