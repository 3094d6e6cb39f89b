package e2ecloud

import (
	"bufio"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/acmera/acmera/scripts/fakegcp/tasksfake"
)

const (
	startTimeout = 20 * time.Second // process start to serving
	killTimeout  = 10 * time.Second // SIGKILL to exit observed
)

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
	logf := openLog(t, logPath(t, "fakegcp.log"))
	cmd := exec.Command(fakegcpBin, "-cas", "127.0.0.1:0", "-tasks", "127.0.0.1:0", "-http", "127.0.0.1:0")
	cmd.Stderr = logf
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("StdoutPipe: %v", err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start fakegcp: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-exited; _ = logf.Close() })
	lines := make(chan map[string]string, 1)
	go func() {
		kv := map[string]string{}
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), "="); ok {
				kv[k] = v
			}
			if kv["pool"] != "" {
				lines <- kv
				break
			}
		}
		_, _ = io.Copy(logf, stdout)
	}()
	select {
	case kv := <-lines:
		f := &fakeGCP{HTTP: "http://" + kv["http"], Pool: kv["pool"]}
		f.CAS, f.Tasks, f.JWKSURL = kv["cas"], kv["tasks"], f.HTTP+"/jwks"
		return f
	case <-exited:
		t.Fatalf("fakegcp exited before printing its addresses")
	case <-time.After(startTimeout):
		t.Fatalf("fakegcp printed no addresses within %s", startTimeout)
	}
	return nil
}

// Stats reads GET /stats.
func (f *fakeGCP) Stats(t *testing.T) gcpStats {
	t.Helper()
	res, err := httpClient().Get(f.HTTP + "/stats")
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
	res, err := httpClient().Post(f.HTTP+pathQuery, "", nil)
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
	res, err := httpClient().Get(f.HTTP + "/root.pem")
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
	cmd     *exec.Cmd
	exited  chan struct{}
}

func newFnProc(t *testing.T, target string, port int, env []string) *fnProc {
	p := &fnProc{t: t, target: target, port: port, env: env, logPath: logPath(t, strings.ToLower(target)+".log")}
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			p.dumpLog()
		}
	})
	return p
}

// URL is the function's base URL, with a trailing slash.
func (p *fnProc) URL() string { return "http://127.0.0.1:" + strconv.Itoa(p.port) + "/" }

// Start runs the process and waits, bounded, until it serves HTTP.
func (p *fnProc) Start() {
	t := p.t
	t.Helper()
	logf := openLog(t, p.logPath)
	cmd := exec.Command(acmeraBin)
	cmd.Env = append(append([]string{}, p.env...), "FUNCTION_TARGET="+p.target, "PORT="+strconv.Itoa(p.port))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", p.target, err)
	}
	p.cmd, p.exited = cmd, make(chan struct{})
	exited := p.exited
	go func() { _ = cmd.Wait(); _ = logf.Close(); close(exited) }()
	probe := p.URL()
	if p.target == "ACME" {
		probe += "acme/acme/directory"
	}
	deadline := time.Now().Add(startTimeout)
	for {
		res, err := httpClient().Get(probe)
		if err == nil {
			res.Body.Close()
			if p.target != "ACME" || res.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-exited:
			t.Fatalf("%s exited while starting (%s)", p.target, cmd.ProcessState)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not serving %s within %s: %v", p.target, probe, startTimeout, err)
		}
	}
}

// Kill sends SIGKILL (kill -9) and waits for the exit. Killing a stopped
// process does nothing.
func (p *fnProc) Kill() {
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-p.exited:
	case <-time.After(killTimeout):
		p.t.Errorf("%s did not exit within %s of SIGKILL", p.target, killTimeout)
	}
	p.cmd = nil
}

// Log returns everything the process (all its runs) logged.
func (p *fnProc) Log() string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		p.t.Fatalf("read %s log: %v", p.target, err)
	}
	return string(b)
}

func (p *fnProc) dumpLog() {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		p.t.Logf("%s log: %v", p.target, err)
		return
	}
	const max = 12 << 10
	if len(b) > max {
		b = b[len(b)-max:]
	}
	p.t.Logf("%s log (%s, last %d bytes):\n%s", p.target, p.logPath, len(b), b)
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

func openLog(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatalf("os.OpenFile: %v", err)
	}
	return f
}

// httpClient is a plain loopback client with no proxy.
func httpClient() *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil}}
}

// freePort returns a loopback TCP port that was free a moment ago, for
// processes that bind it themselves.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("net.Listen: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// mustf fails the test on err.
func mustf(t *testing.T, err error, format string, args ...any) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", fmt.Sprintf(format, args...), err)
	}
}
