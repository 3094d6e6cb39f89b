package e2e

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/acmera/acmera/scripts/internal/e2eutil"
)

// server is one acmera process (embedded default) with its own data
// directory; its Start and Stop fail the test on errors.
type server struct {
	*e2eutil.Server
	t *testing.T
}

// startServer starts acmera, its validations pointed as cfg says, and
// stops it when the test ends (dumping its log if the test failed).
func startServer(t *testing.T, cfg e2eutil.ServerConfig) *server {
	t.Helper()
	cfg.Bin, cfg.Dir, cfg.LogLevel = acmeraBin, t.TempDir(), "debug"
	s := &server{Server: e2eutil.NewServer(cfg), t: t}
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			e2eutil.DumpLog(t, "acmera", s.LogPath)
		}
	})
	s.Start()
	return s
}

// Start starts the server, on the address and data of its previous run if
// any, and waits until it serves its directory.
func (s *server) Start() {
	s.t.Helper()
	if err := s.Server.Start(s.t.Context()); err != nil {
		s.t.Fatalf("start acmera: %v", err)
	}
}

// Stop stops the server with SIGTERM; one that has to be killed fails the
// test.
func (s *server) Stop() {
	s.t.Helper()
	if err := s.Server.Stop(); err != nil {
		s.t.Errorf("stop acmera: %v", err)
	}
}

// env is one acmera process with everything it validates against: a test
// DNS server answering 127.0.0.1 for every name, an http-01 server and a
// tls-alpn-01 server.
type env struct {
	*e2eutil.Responders
	Srv *server
}

// newEnv starts the responders and acmera pointed at them.
func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{Responders: e2eutil.StartResponders(t, false)}
	e.Srv = startServer(t, e2eutil.ServerConfig{HTTP01Port: e.HTTP01.Port, TLSALPN01Port: e.ALPN.Port, Resolver: e.DNS.Addr()})
	return e
}

// logEvents are the server's JSON log lines whose "event" is event, in
// order (lines that are not JSON, such as the start-up banner, are
// skipped).
func logEvents(t *testing.T, srv *server, event string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(srv.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	var evs []map[string]any
	for line := range strings.Lines(string(b)) {
		var ev map[string]any
		if json.Unmarshal([]byte(line), &ev) == nil && ev["event"] == event {
			evs = append(evs, ev)
		}
	}
	return evs
}

// wantValidated checks that the challenges validated for identifier (the
// server's challenge.validated events with valid true) were of the types
// want, in order.
func wantValidated(t *testing.T, srv *server, identifier string, want ...string) {
	t.Helper()
	var got []string
	for _, ev := range logEvents(t, srv, "challenge.validated") {
		if ev["identifier"] == identifier && ev["valid"] == true {
			typ, _ := ev["challenge"].(string)
			got = append(got, typ)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("challenges validated for %s: %q, want %q", identifier, got, want)
	}
}
