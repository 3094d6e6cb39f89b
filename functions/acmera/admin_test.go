package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/acmera/acmera/pkg/policy"
	"github.com/acmera/acmera/pkg/store/bolt"
)

// TestAdminPprof checks that the admin socket serves net/http/pprof only
// when ACMERA_PPROF asks for it, and that the EAB endpoints stay.
func TestAdminPprof(t *testing.T) {
	for _, tc := range []struct {
		name    string
		enabled bool
		want    int
	}{
		{"off by default", false, http.StatusNotFound},
		{"ACMERA_PPROF=true", true, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			st, err := bolt.Open(filepath.Join(dir, "acmera.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			sock := filepath.Join(dir, adminSocketName)
			stop, err := serveAdmin(sock, st, policy.AllowAny(), tc.enabled, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(stop)
			hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
				DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
					return (&net.Dialer{}).DialContext(ctx, "unix", sock)
				},
			}}
			for path, want := range map[string]int{
				"/debug/pprof/":                  tc.want,
				"/debug/pprof/heap?debug=1":      tc.want,
				"/debug/pprof/profile?seconds=1": tc.want,
				"/eab/keys":                      http.StatusOK,
			} {
				res, err := hc.Get("http://acmera-admin" + path)
				if err != nil {
					t.Fatalf("GET %s: %v", path, err)
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != want {
					t.Errorf("GET %s = %d, want %d", path, res.StatusCode, want)
				}
			}
		})
	}
}
