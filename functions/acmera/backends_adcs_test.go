package main

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/acmera/acmera/pkg/ca/local"
	"github.com/acmera/acmera/scripts/fakeadcs/certsrv"
)

// The start-up check of an AD CS backend: a working one is built and
// described; refused credentials stop the start naming the backend; an
// unreachable certsrv only warns.
func TestBuildBackendsChecksADCS(t *testing.T) {
	fake, err := certsrv.New(certsrv.Config{Templates: map[string]certsrv.Mode{"WebServer": certsrv.Issue},
		Users: map[string]string{`CORP\svc`: "right"}})
	if err != nil {
		t.Fatal(err)
	}
	srv := certsrv.StartTLS(t, fake)
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	bundle := write("bundle.pem", string(certsrv.TLSRootPEM(srv)))
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := "https://" + l.Addr().String()
	l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	own, err := local.Open(ctx, local.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, url, password, want string
	}{
		{"working", srv.URL, "right", ""},
		{"refused credentials", srv.URL, "wrong", "ACMERA_PROFILES: backends.corp"},
		{"unreachable: start, with a warning", dead, "right", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			js, _ := json.Marshal(map[string]any{
				"backends": map[string]any{"corp": map[string]any{"adcs": map[string]any{
					"baseURL": tc.url, "template": "WebServer", "caBundleFile": bundle,
					"auth": map[string]any{"method": "ntlm", "domain": "CORP", "username": "svc", "passwordFile": write("pw-"+tc.password, tc.password)},
				}}},
				"profiles": map[string]any{"acme": map[string]any{"allowAnyName": true}, "corp": map[string]any{"backend": "corp", "dnsSuffixes": []string{"corp.test"}}},
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
			if be, err := bs.Get("corp"); err != nil || !strings.Contains(be.Description, "AD CS") {
				t.Errorf("backend %+v (%v)", be, err)
			}
		})
	}
}
