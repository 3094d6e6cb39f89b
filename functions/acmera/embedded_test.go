package main

import (
	"runtime/debug"
	"testing"

	"github.com/acmera/acmera/pkg/ra"
)

// The embedded server bounds every phase of a connection, and its write
// timeout leaves a poll its whole wait (ra.MaxPollWait) with room to spare.
func TestEmbeddedServerTimeouts(t *testing.T) {
	srv := embeddedServer(nil, nil)
	if srv.ReadHeaderTimeout <= 0 || srv.ReadTimeout < srv.ReadHeaderTimeout || srv.IdleTimeout <= 0 {
		t.Fatalf("read timeouts: header %v, request %v, idle %v", srv.ReadHeaderTimeout, srv.ReadTimeout, srv.IdleTimeout)
	}
	if pollWait > ra.MaxPollWait {
		t.Fatalf("pollWait %v exceeds ra.MaxPollWait %v", pollWait, ra.MaxPollWait)
	}
	if srv.WriteTimeout < 4*ra.MaxPollWait {
		t.Fatalf("WriteTimeout %v leaves too little room over the longest poll wait %v", srv.WriteTimeout, ra.MaxPollWait)
	}
}

func TestCRLURL(t *testing.T) {
	for _, tc := range []struct {
		base, addr, want string
	}{
		{"", "127.0.0.1:8443", "https://127.0.0.1:8443/crl/intermediate.crl"},
		{"", "0.0.0.0:8443", "https://localhost:8443/crl/intermediate.crl"},
		{"", ":8443", "https://localhost:8443/crl/intermediate.crl"},
		{"", "[::1]:8443", "https://[::1]:8443/crl/intermediate.crl"},
		{"https://acme.corp.example", "0.0.0.0:443", "https://acme.corp.example/crl/intermediate.crl"},
	} {
		if got := crlURL(tc.base, tc.addr); got != tc.want {
			t.Errorf("crlURL(%q, %q) = %q, want %q", tc.base, tc.addr, got, tc.want)
		}
	}
}

// TestTuneGC: the embedded default raises the GC target unless GOGC was
// set (the runtime applied it then, and it must stand). Not parallel: the
// GC percent is the process's.
func TestTuneGC(t *testing.T) {
	prev := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(prev) })
	tuneGC(func(string) string { return "" })
	if got := debug.SetGCPercent(100); got != embeddedGCPercent {
		t.Errorf("GOGC unset: GC percent %d, want %d", got, embeddedGCPercent)
	}
	tuneGC(func(k string) string {
		if k == "GOGC" {
			return "100"
		}
		return ""
	})
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GOGC=100: GC percent %d, want 100 left alone", got)
	}
}
