package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"testing"
	"time"

	acmefn "github.com/acmera/acmera/functions/acme"
	"github.com/acmera/acmera/pkg/ca/local"
	"github.com/acmera/acmera/pkg/logging"
	"github.com/acmera/acmera/pkg/nonce"
	"github.com/acmera/acmera/pkg/policy"
	"github.com/acmera/acmera/pkg/queue"
	"github.com/acmera/acmera/pkg/queue/inproc"
	"github.com/acmera/acmera/pkg/ra"
	"github.com/acmera/acmera/pkg/store/bolt"
	"github.com/acmera/acmera/pkg/va"
	"github.com/acmera/acmera/scripts/internal/e2eutil"
	"github.com/acmera/acmera/scripts/testdns"
)

// TestProfileServer runs the load against the embedded default wired
// in-process (as functions/acmera's runEmbedded wires it) and writes a CPU
// profile, because the binary has no profiling endpoint. Every server
// goroutine carries the pprof label role=server and the load side
// role=client, so `go tool pprof -tagfocus role=server` shows the server
// alone; ACMERA_LOAD_MEMPROFILE also writes the live heap at the end. It
// runs only when ACMERA_LOAD_CPUPROFILE names the output file;
// ACMERA_LOAD_CLIENTS and ACMERA_LOAD_SECONDS size it (default 32, 20).
//
//	ACMERA_LOAD_CPUPROFILE=/tmp/cpu.pprof go test -count=1 -run TestProfileServer ./scripts/load
func TestProfileServer(t *testing.T) {
	out := os.Getenv("ACMERA_LOAD_CPUPROFILE")
	if out == "" {
		t.Skip("set ACMERA_LOAD_CPUPROFILE=FILE to profile the server in-process")
	}
	cfg := config{Clients: envInt("ACMERA_LOAD_CLIENTS", 32), Duration: time.Duration(envInt("ACMERA_LOAD_SECONDS", 20)) * time.Second,
		Warmup: 3 * time.Second, Timeout: 60 * time.Second, Poll: 20 * time.Millisecond, Domain: "load.test", AccountOrders: 2000, Sample: time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Duration+cfg.Warmup+2*time.Minute)
	defer cancel()
	var tg *target
	pprof.Do(ctx, pprof.Labels("role", "client"), func(ctx context.Context) { tg = startResponders(ctx, t) })
	defer tg.close()
	pprof.Do(ctx, pprof.Labels("role", "server"), func(ctx context.Context) {
		tg.dirURL, tg.roots = startInProcess(ctx, t, tg.dns.Addr(), tg.rsp.Port)
	})
	f, err := os.Create(out)
	if err != nil {
		t.Fatalf("os.Create: %v", err)
	}
	defer f.Close()
	var res *Result
	pprof.Do(ctx, pprof.Labels("role", "client"), func(ctx context.Context) {
		cnt := newCounter()
		workers, err := register(ctx, tg, cnt, cfg)
		if err != nil {
			t.Fatalf("register: %v", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			t.Fatalf("pprof.StartCPUProfile: %v", err)
		}
		res, err = measure(ctx, tg, workers, cnt, cfg)
		pprof.StopCPUProfile()
		if err != nil {
			t.Fatalf("measure: %v", err)
		}
	})
	if mp := os.Getenv("ACMERA_LOAD_MEMPROFILE"); mp != "" {
		writeHeapProfile(t, mp)
	}
	t.Log("in-process: the summary's client CPU is the whole process, server included; use the profile's role tags")
	writeSummary(t.Output(), res)
	if res.Issued == 0 || res.ErrorTotal != 0 {
		t.Errorf("issued %d with %d errors, want some and none", res.Issued, res.ErrorTotal)
	}
}

// writeHeapProfile writes the live heap after a GC, to see what the
// server keeps (go tool pprof -sample_index=inuse_space).
func writeHeapProfile(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatalf("os.Create: %v", err)
	}
	defer f.Close()
	runtime.GC()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		t.Fatalf("pprof heap: %v", err)
	}
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// startResponders starts the test DNS server and the http-01 responder.
func startResponders(ctx context.Context, t *testing.T) *target {
	t.Helper()
	dns, err := testdns.Start(ctx, testdns.Config{})
	if err != nil {
		t.Fatalf("testdns.Start: %v", err)
	}
	rsp, err := e2eutil.StartHTTP01(e2eutil.Loopback)
	if err != nil {
		_ = dns.Close()
		t.Fatalf("StartHTTP01: %v", err)
	}
	return &target{dns: dns, rsp: rsp}
}

// startInProcess wires the embedded default (bbolt, in-process queue,
// local CA, allow-any policy, warn-level JSON logs to io.Discard) behind
// HTTPS on a loopback port, and returns its directory URL and root.
func startInProcess(ctx context.Context, t *testing.T, resolver string, http01Port int) (string, *x509.CertPool) {
	t.Helper()
	dir := t.TempDir()
	st, err := bolt.Open(filepath.Join(dir, "acmera.db"))
	if err != nil {
		t.Fatalf("bolt.Open: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	issuer, err := local.Open(ctx, local.Config{Dir: dir})
	if err != nil {
		t.Fatalf("local.Open: %v", err)
	}
	v, err := va.New(va.Config{Resolvers: []string{resolver}, HTTP01Port: http01Port, TLSALPN01Port: 443,
		AllowNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}) // the responders are on loopback
	if err != nil {
		t.Fatalf("va.New: %v", err)
	}
	log := logging.New(io.Discard, slog.LevelWarn, "")
	var r *ra.RA
	q := inproc.New(ctx, queue.HandlerFunc(func(ctx context.Context, tk queue.Task) error { return r.HandleTask(ctx, tk) }),
		inproc.Config{Workers: 64, Capacity: 4096, MaxAttempts: 8, Logger: log})
	parts := acmefn.Parts{Store: st, Queue: q, Issuer: issuer, Validator: v, Policy: policy.AllowAny(),
		NonceKey: nonce.NewKey(), Logger: log, AccountCacheTTL: 5 * time.Second} // as the embedded default
	if r, err = acmefn.NewRA(parts); err != nil {
		t.Fatalf("NewRA: %v", err)
	}
	h, err := acmefn.NewHandler(r, parts)
	if err != nil {
		t.Fatalf("NewHandler: %v", err)
	}
	cert, err := issuer.ServerCertificate([]string{"127.0.0.1"}, 24*time.Hour)
	if err != nil {
		t.Fatalf("ServerCertificate: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("net.Listen: %v", err)
	}
	srv := &http.Server{Handler: h, TLSConfig: &tls.Config{Certificates: []tls.Certificate{*cert}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() { _ = srv.Close() })
	roots, err := e2eutil.LoadRoots(issuer.RootPath())
	if err != nil {
		t.Fatalf("LoadRoots: %v", err)
	}
	return "https://" + ln.Addr().String() + "/acme/acme/directory", roots
}
