package e2ecloud

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/acmera/acmera/scripts/fakegcp/tasksfake"
	"github.com/acmera/acmera/scripts/internal/e2eutil"
)

// startTimeout bounds a process's start, to serving.
const startTimeout = 20 * time.Second

// gcpEndpoints are where the functions find the Google fakes.
type gcpEndpoints struct {
	CAS     string // CAS gRPC host:port
	Tasks   string // Cloud Tasks gRPC host:port
	JWKSURL string // the OIDC token keys
}

// fakeGCP is a running scripts/fakegcp process.
type fakeGCP struct {
	gcpEndpoints
	HTTP string // http://host:port of /stats, /fail, /duplicate, /root.pem
	Pool string // the CA pool it serves
}

// gcpStats is fakegcp's GET /stats.
type gcpStats struct {
	CAS    map[string]int  `json:"cas"`
	Minted int             `json:"casMinted"`
	Tasks  tasksfake.Stats `json:"tasks"`
}

// startFakeGCP runs fakegcp on random loopback ports and kills it when the
// test ends.
func startFakeGCP(t *testing.T) *fakeGCP {
	t.Helper()
	kv := map[string]string{} // its address lines, "name=host:port"
	banner := func(line string) bool {
		if k, v, ok := strings.Cut(line, "="); ok {
			kv[k] = v
		}
		return kv["pool"] != ""
	}
	cmd := exec.Command(fakegcpBin, "-cas", e2eutil.Loopback, "-tasks", e2eutil.Loopback, "-http", e2eutil.Loopback)
	p, err := e2eutil.StartProcess(e2eutil.ProcessConfig{Name: "fakegcp", Cmd: cmd, LogPath: logPath(t, "fakegcp.log"), Banner: banner})
	mustf(t, err, "start fakegcp")
	t.Cleanup(func() {
		if err := p.Kill(); err != nil {
			t.Error(err)
		}
	})
	if _, err := p.WaitBanner(e2eutil.TestContext(t, startTimeout)); err != nil {
		t.Fatalf("fakegcp addresses: %v", err)
	}
	f := &fakeGCP{HTTP: "http://" + kv["http"], Pool: kv["pool"]}
	f.CAS, f.Tasks, f.JWKSURL = kv["cas"], kv["tasks"], f.HTTP+"/jwks"
	return f
}

// Stats reads GET /stats.
func (f *fakeGCP) Stats(t *testing.T) gcpStats {
	t.Helper()
	res, err := e2eutil.HTTPClient(nil).Get(f.HTTP + "/stats")
	if err != nil {
		t.Fatalf("GET /stats: %v", err)
	}
	defer res.Body.Close()
	var s gcpStats
	if err := json.NewDecoder(res.Body).Decode(&s); err != nil {
		t.Fatalf("GET /stats: decode: %v", err)
	}
	return s
}

// Post calls a fault-injection endpoint, such as "/fail?service=cas&...".
func (f *fakeGCP) Post(t *testing.T, pathQuery string) {
	t.Helper()
	res, err := e2eutil.HTTPClient(nil).Post(f.HTTP+pathQuery, "", nil)
	if err != nil {
		t.Fatalf("POST %s: %v", pathQuery, err)
	}
	res.Body.Close()
	if res.StatusCode/100 != 2 {
		t.Fatalf("POST %s: %s", pathQuery, res.Status)
	}
}

// Roots returns the CAS fake's root as a pool, from GET /root.pem.
func (f *fakeGCP) Roots(t *testing.T) *x509.CertPool {
	t.Helper()
	res, err := e2eutil.HTTPClient(nil).Get(f.HTTP + "/root.pem")
	if err != nil {
		t.Fatalf("GET /root.pem: %v", err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("GET /root.pem: %v", err)
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(b) {
		t.Fatalf("GET /root.pem: no certificate in %q", b)
	}
	return p
}

// fnProc is one acmera function process (FUNCTION_TARGET=ACME or
// Validate) on a fixed loopback port; Kill and Start restart it there.
type fnProc struct {
	t       *testing.T
	target  string
	port    int
	env     []string
	logPath string
	proc    *e2eutil.Process // nil when not running
}

func newFnProc(t *testing.T, target string, port int, env []string) *fnProc {
	p := &fnProc{t: t, target: target, port: port, env: env, logPath: logPath(t, strings.ToLower(target)+".log")}
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			e2eutil.DumpLog(t, target, p.logPath)
		}
	})
	return p
}

// URL is the function's base URL, with a trailing slash.
func (p *fnProc) URL() string { return "http://127.0.0.1:" + strconv.Itoa(p.port) + "/" }

// Start runs the process and waits, bounded, until it serves HTTP: the
// ACME function its directory (200), the Validate function any answer.
func (p *fnProc) Start() {
	t := p.t
	t.Helper()
	cmd := exec.Command(acmeraBin)
	cmd.Env = append(append([]string{}, p.env...), "FUNCTION_TARGET="+p.target, "PORT="+strconv.Itoa(p.port))
	proc, err := e2eutil.StartProcess(e2eutil.ProcessConfig{Name: p.target, Cmd: cmd, LogPath: p.logPath})
	mustf(t, err, "start %s", p.target)
	p.proc = proc
	probe, want := p.URL(), 0
	if p.target == "ACME" {
		probe, want = probe+"acme/acme/directory", http.StatusOK
	}
	err = e2eutil.WaitHTTP(e2eutil.TestContext(t, startTimeout), e2eutil.HTTPClient(nil), probe, want, proc.Exited())
	mustf(t, err, "%s not serving", p.target)
}

// Kill sends SIGKILL (kill -9) and waits for the exit. Killing a stopped
// process does nothing.
func (p *fnProc) Kill() {
	if p.proc == nil {
		return
	}
	if err := p.proc.Kill(); err != nil {
		p.t.Error(err)
	}
	p.proc = nil
}

// Log returns everything the process (all its runs) logged.
func (p *fnProc) Log() string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		p.t.Fatalf("read %s log: %v", p.target, err)
	}
	return string(b)
}

// logEvents returns the JSON log lines whose message is msg.
func logEvents(t *testing.T, log, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(log, "\n") {
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			continue
		}
		if m["message"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// waitLogEvents polls the process's log, bounded by ctx, until it holds at
// least n lines whose message is msg and that match (all do when match is
// nil), and returns those: a line reaches the file a little after the
// response it describes.
func (p *fnProc) waitLogEvents(ctx context.Context, msg string, n int, match func(map[string]any) bool) []map[string]any {
	p.t.Helper()
	for {
		var evs []map[string]any
		for _, ev := range logEvents(p.t, p.Log(), msg) {
			if match == nil || match(ev) {
				evs = append(evs, ev)
			}
		}
		if len(evs) >= n {
			return evs
		}
		select {
		case <-ctx.Done():
			p.t.Fatalf("waiting for %d matching %q lines in the %s log (have %d): %v", n, msg, p.target, len(evs), ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// logPath is where a process of the test logs: the test's temporary
// directory, or $ACMERA_E2ECLOUD_LOGS (kept after the run) when set.
func logPath(t *testing.T, name string) string {
	dir := os.Getenv("ACMERA_E2ECLOUD_LOGS")
	if dir == "" {
		return filepath.Join(t.TempDir(), name)
	}
	dir = filepath.Join(dir, strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatalf("os.MkdirAll: %v", err)
	}
	return filepath.Join(dir, name)
}

// mustf fails the test on err.
func mustf(t *testing.T, err error, format string, args ...any) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", fmt.Sprintf(format, args...), err)
	}
}
