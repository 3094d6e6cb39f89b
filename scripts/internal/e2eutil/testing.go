package e2eutil

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/acmera/acmera/scripts/testdns"
	"github.com/acmera/acmera/scripts/testport"
)

// logTail is how much of a log DumpLog shows.
const logTail = 16 << 10

// Missing skips the test for a missing prerequisite (certbot, the
// Firestore emulator), or fails it under CI=true, where everything must
// be installed.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

// DumpLog writes the tail of the log at path, named name, into the test's
// output.
func DumpLog(t testing.TB, name, path string) {
	t.Helper()
	b, err := Tail(path, logTail)
	if err != nil {
		t.Logf("%s log: %v", name, err)
		return
	}
	t.Logf("%s log (%s, last %d bytes):\n%s", name, path, len(b), b)
}

// TestContext is a context bounded by d and canceled when the test ends.
func TestContext(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// FreePort returns a loopback TCP port that was free a moment ago, for
// processes that bind it themselves (see testport for why not a ":0"
// listener's).
func FreePort(t testing.TB) int {
	t.Helper()
	port, err := testport.Free()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// StartDNS starts scripts/testdns on loopback, with its HTTP control API
// if control is set, until the test ends.
func StartDNS(t testing.TB, control bool) *testdns.Server {
	t.Helper()
	cfg := testdns.Config{Addr: Loopback}
	if control {
		cfg.ControlAddr = Loopback
	}
	ctx, cancel := context.WithCancel(context.Background())
	d, err := testdns.Start(ctx, cfg)
	if err != nil {
		cancel()
		t.Fatalf("testdns.Start: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		_ = d.Close()
	})
	return d
}

// StartResponders starts the test DNS server (with its control API if
// control is set), an http-01 server and a tls-alpn-01 server on loopback,
// until the test ends.
func StartResponders(t testing.TB, control bool) *Responders {
	t.Helper()
	r := &Responders{DNS: StartDNS(t, control)}
	var err error
	if r.HTTP01, err = StartHTTP01(Loopback); err != nil {
		t.Fatalf("StartHTTP01: %v", err)
	}
	t.Cleanup(r.HTTP01.Close)
	if r.ALPN, err = StartALPN(Loopback); err != nil {
		t.Fatalf("StartALPN: %v", err)
	}
	t.Cleanup(r.ALPN.Close)
	return r
}
