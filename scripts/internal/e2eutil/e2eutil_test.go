package e2eutil

import (
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestEnviron(t *testing.T) {
	t.Setenv("ACMERA_DATA_DIR", "/x")
	t.Setenv("GOOGLE_CLOUD_PROJECT", "p")
	t.Setenv("https_proxy", "http://proxy:3128")
	t.Setenv("PORT", "8080")
	t.Setenv("E2EUTIL_KEEP", "1")
	env := Environ("ACMERA_ADDR=127.0.0.1:0")
	for _, kv := range env {
		if strings.HasPrefix(kv, "ACMERA_DATA_DIR=") || strings.HasPrefix(kv, "GOOGLE_") ||
			strings.HasPrefix(kv, "https_proxy=") || strings.HasPrefix(kv, "PORT=") {
			t.Errorf("Environ kept %q", kv)
		}
	}
	for _, want := range []string{"E2EUTIL_KEEP=1", "NO_PROXY=*", "no_proxy=*"} {
		if !slices.Contains(env, want) {
			t.Errorf("Environ lacks %q", want)
		}
	}
	if env[len(env)-1] != "ACMERA_ADDR=127.0.0.1:0" {
		t.Errorf("Environ ends with %q, want the extra setting last", env[len(env)-1])
	}
}

// startSh runs a shell script as a Process whose banner is a line "ready".
func startSh(t *testing.T, script string) (*Process, string) {
	t.Helper()
	log := filepath.Join(t.TempDir(), "sh.log")
	p, err := StartProcess(ProcessConfig{Name: "sh", Cmd: exec.Command("sh", "-c", script), LogPath: log,
		Banner: func(line string) bool { return line == "ready" }})
	if err != nil {
		t.Fatalf("StartProcess: %v", err)
	}
	t.Cleanup(func() { _ = p.Kill() })
	return p, log
}

func TestProcess(t *testing.T) {
	tests := []struct {
		name      string
		script    string
		wantReady bool
		grace     time.Duration
		wantStop  string // substring of Stop's error; "" = none
	}{
		{"banner then SIGTERM", "echo hello; echo ready; exec sleep 30", true, StopGrace, ""},
		{"exits before the banner", "echo hello; exit 3", false, StopGrace, ""},
		{"ignores SIGTERM", `trap "" TERM; echo hello; echo ready; exec sleep 30`, true, 200 * time.Millisecond, "killed it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, log := startSh(t, tt.script)
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			line, err := p.WaitBanner(ctx)
			if tt.wantReady && (err != nil || line != "ready") {
				t.Fatalf("WaitBanner = %q, %v; want the ready line", line, err)
			}
			if !tt.wantReady && (err == nil || !strings.Contains(err.Error(), "exit status 3")) {
				t.Fatalf("WaitBanner = %q, %v; want an error naming exit status 3", line, err)
			}
			err = p.Stop(tt.grace)
			if (tt.wantStop == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tt.wantStop) {
				t.Errorf("Stop = %v, want an error containing %q", err, tt.wantStop)
			}
			select {
			case <-p.Exited():
			default:
				t.Errorf("Exited not closed after Stop")
			}
			if b, err := os.ReadFile(log); err != nil || !strings.HasPrefix(string(b), "hello\n") {
				t.Errorf("log = %q, %v; want the process's output", b, err)
			}
		})
	}
}

func TestWaitHTTPStopsWhenTheProcessExits(t *testing.T) {
	p, _ := startSh(t, "exit 0")
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	port := FreePort(t) // nothing listens there
	err := WaitHTTP(ctx, HTTPClient(nil), "http://127.0.0.1:"+strconv.Itoa(port)+"/", 0, p.Exited())
	if err == nil || !strings.Contains(err.Error(), "exited") || ctx.Err() != nil {
		t.Errorf("WaitHTTP = %v, want the process's exit reported before the deadline", err)
	}
}

func TestHTTP01(t *testing.T) {
	h, err := StartHTTP01(Loopback)
	if err != nil {
		t.Fatalf("StartHTTP01: %v", err)
	}
	defer h.Close()
	get := func(token string) (int, string) {
		t.Helper()
		res, err := HTTPClient(nil).Get("http://127.0.0.1:" + strconv.Itoa(h.Port) + challengePrefix + token)
		if err != nil {
			t.Fatalf("GET: %v", err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	h.Set("tok", "tok.thumb")
	if code, body := get("tok"); code != http.StatusOK || body != "tok.thumb" {
		t.Errorf("GET tok = %d %q, want 200 with the key authorization", code, body)
	}
	if code, _ := get("other"); code != http.StatusNotFound {
		t.Errorf("GET other = %d, want 404", code)
	}
	if n := h.Hits("tok"); n != 1 {
		t.Errorf("Hits(tok) = %d, want 1", n)
	}
	h.Remove("tok")
	if code, _ := get("tok"); code != http.StatusNotFound || h.Hits("tok") != 1 {
		t.Errorf("after Remove: GET tok = %d, hits %d; want 404 and a fresh count of 1", code, h.Hits("tok"))
	}
}
