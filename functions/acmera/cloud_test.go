package main

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/acmera/acmera/pkg/ca/cas"
	"github.com/acmera/acmera/pkg/config"
	"github.com/acmera/acmera/pkg/policy"
	"github.com/acmera/acmera/scripts/fakegcp/casfake"
)

// The cloud functions refuse to start on a CA pool or a profile template
// that does not exist, naming the setting.
func TestCheckCASAtStart(t *testing.T) {
	const tmpl = "projects/acmera-test/locations/us-central1/certificateTemplates/tls-server"
	fake, err := casfake.New(casfake.Config{Templates: []string{tmpl}})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := fake.Serve(lis)
	t.Cleanup(srv.Stop)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	issuer := func(pool string) *cas.Issuer {
		iss, err := cas.New(ctx, cas.Config{Pool: pool, Retry: cas.Retry{Attempts: 1}}, endpointOptions(lis.Addr().String())...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = iss.Close() })
		return iss
	}
	profiles := func(template string) *policy.Policy {
		p, err := policy.Parse([]byte(`{"profiles":{"acme":{"allowAnyName":true},"tls":{"allowAnyName":true,"caTemplate":"` + template + `"}}}`))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	otherPool := "projects/acmera-test/locations/us-central1/caPools/other"
	tests := []struct {
		name, pool, template, want string
	}{
		{"pool and template exist", fake.Pool(), "tls-server", ""},
		{"no such pool", otherPool, "tls-server", "ACMERA_CAS_POOL=" + otherPool},
		{"no such template", fake.Pool(), "missing", `ACMERA_PROFILES: profile "tls" caTemplate "missing"`},
		{"malformed template name", fake.Pool(), "bad/template", `ACMERA_PROFILES: profile "tls" caTemplate "bad/template"`},
		{"CAS unreachable: start, with a warning", "unreachable", "tls-server", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &config.Cloud{CASPool: tc.pool}
			cfg.Policy = profiles(tc.template)
			var iss *cas.Issuer
			if tc.pool == "unreachable" {
				cfg.CASPool = fake.Pool()
				iss = unreachable(t, ctx, fake.Pool())
			} else {
				iss = issuer(tc.pool)
			}
			err := checkCASBackend(ctx, iss, "ACMERA_CAS_POOL="+cfg.CASPool, profilesOf(cfg.Policy, config.BackendCAS, true), cfg.Policy, slog.New(slog.DiscardHandler))
			if tc.want == "" {
				if err != nil {
					t.Fatalf("checkCASBackend = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("checkCASBackend = %v, want an error naming %s", err, tc.want)
			}
		})
	}
}

// unreachable is an Issuer whose endpoint refuses connections.
func unreachable(t *testing.T, ctx context.Context, pool string) *cas.Issuer {
	t.Helper()
	iss, err := cas.New(ctx, cas.Config{Pool: pool, Retry: cas.Retry{Attempts: 1}}, endpointOptions("127.0.0.1:1")...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = iss.Close() })
	return iss
}
