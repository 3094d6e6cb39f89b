package deploytest

import (
	"context"
	"debug/elf"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/acmera/acmera/scripts/testport"
)

// buildBinary builds what deploy/Dockerfile builds (CGO_ENABLED=0,
// -trimpath, ./functions/acmera) and checks it is static, so it runs on
// distroless/static.
func buildBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	root := repoRoot(t)
	if mains, _ := filepath.Glob(filepath.Join(root, "functions", "acmera", "*.go")); len(mains) == 0 {
		t.Skip("functions/acmera has no Go files yet")
	}
	bin := filepath.Join(t.TempDir(), "acmera")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false", "-o", bin, "./functions/acmera")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	if runtime.GOOS == "linux" {
		assertStatic(t, bin)
	}
	return bin
}

func assertStatic(t *testing.T, bin string) {
	t.Helper()
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatalf("elf.Open: %v", err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("binary has a dynamic loader (PT_INTERP): not static")
		}
	}
	if libs, err := f.ImportedLibraries(); err == nil && len(libs) > 0 {
		t.Errorf("binary links shared libraries %v", libs)
	}
}

// freePort is a loopback port for a child binary to bind (see testport for
// why not a ":0" listener's).
func freePort(t *testing.T) int {
	t.Helper()
	port, err := testport.Free()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// cloudTestEnv is the Cloud Run configuration of one function with every
// Google endpoint pointed at a closed loopback port: enough to start and
// serve, never to reach the network.
func cloudTestEnv(target string, port int) map[string]string {
	return map[string]string{
		"FUNCTION_TARGET":              target,
		"PORT":                         strconv.Itoa(port),
		"GOOGLE_CLOUD_PROJECT":         "demo-project",
		"ACMERA_FIRESTORE_DATABASE":    "acmera",
		"ACMERA_CAS_POOL":              "projects/demo-project/locations/us-central1/caPools/pool",
		"ACMERA_TASKS_QUEUE":           "projects/demo-project/locations/us-central1/queues/acmera-validations",
		"ACMERA_TASKS_SERVICE_ACCOUNT": "acmera-tasks@demo-project.iam.gserviceaccount.com",
		"ACMERA_VALIDATOR_URL":         "https://acmera-validator-0.us-central1.run.app",
		"ACMERA_BASE_URL":              "https://acme.internal.example.com",
		"ACMERA_NONCE_KEY":             "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"ACMERA_PROFILES_JSON":         `{"profiles":{"acme":{"dnsSuffixes":["internal.example.com"]}}}`,
	}
}

// offlineEndpoints keeps the cloud clients on loopback, and the metrics
// off (ACMERA_METRICS defaults to Cloud Monitoring).
var offlineEndpoints = map[string]string{
	"ACMERA_METRICS":          "off",
	"FIRESTORE_EMULATOR_HOST": "127.0.0.1:1",
	"ACMERA_CAS_ENDPOINT":     "127.0.0.1:1",
	"ACMERA_TASKS_ENDPOINT":   "127.0.0.1:1",
}

// startBinary runs bin with env (plus PATH, HOME and TMPDIR in a fresh
// directory), waits until addr accepts connections, and stops it with SIGTERM
// at cleanup, failing if it does not exit in time.
func startBinary(t *testing.T, bin string, env map[string]string, addr string) {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command(bin)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "TMPDIR=" + dir}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	logPath := filepath.Join(dir, "out.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatalf("os.Create: %v", err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	dump := func() string { b, _ := os.ReadFile(logPath); return string(b) }
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			t.Errorf("binary did not exit within 20s of SIGTERM\n%s", dump())
		}
		logf.Close()
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		select {
		case err := <-done:
			logf.Close()
			t.Fatalf("binary exited before listening on %s: %v\n%s", addr, err, dump())
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			stop()
			t.Fatalf("nothing listening on %s after 30s\n%s", addr, dump())
		}
	}
	t.Cleanup(stop)
}

// getDirectory fetches the default profile's directory (RFC 8555 §7.1.1)
// over plain HTTP, as Cloud Run's front end forwards it.
func getDirectory(t *testing.T, port int) map[string]any {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get("http://127.0.0.1:" + strconv.Itoa(port) + "/acme/acme/directory")
	if err != nil {
		t.Fatalf("GET directory: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET directory: status %d", resp.StatusCode)
	}
	var dir map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&dir); err != nil {
		t.Fatalf("decode directory: %v", err)
	}
	return dir
}

// TestBinaryStaticAndStarts starts the static binary the way each deployment
// runs it: Cloud Run's ACME and Validate functions on $PORT, and the embedded
// default on ACMERA_ADDR.
func TestBinaryStaticAndStarts(t *testing.T) {
	bin := buildBinary(t)
	t.Run("ACME", func(t *testing.T) {
		t.Parallel()
		port := freePort(t)
		env := cloudTestEnv("ACME", port)
		for k, v := range offlineEndpoints {
			env[k] = v
		}
		startBinary(t, bin, env, "127.0.0.1:"+strconv.Itoa(port))
		dir := getDirectory(t, port)
		if nn, _ := dir["newNonce"].(string); !strings.HasPrefix(nn, env["ACMERA_BASE_URL"]+"/") {
			t.Errorf("newNonce %q is not under ACMERA_BASE_URL %s", nn, env["ACMERA_BASE_URL"])
		}
	})
	t.Run("Validate", func(t *testing.T) {
		t.Parallel()
		port := freePort(t)
		env := cloudTestEnv("Validate", port)
		for k, v := range offlineEndpoints {
			env[k] = v
		}
		startBinary(t, bin, env, "127.0.0.1:"+strconv.Itoa(port))
	})
	t.Run("embedded", func(t *testing.T) {
		addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
		startBinary(t, bin, map[string]string{"ACMERA_ADDR": addr, "ACMERA_DATA_DIR": t.TempDir()}, addr)
	})
}
