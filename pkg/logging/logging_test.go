package logging

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestRequests(t *testing.T) {
	tests := []struct {
		name      string
		level     slog.Level
		status    int
		trace     string
		wantLines int
		wantSev   string
	}{
		{"info logs a success", slog.LevelInfo, 200, "", 1, "INFO"},
		{"info logs the trace", slog.LevelInfo, 201, "0123456789abcdef0123456789abcdef", 1, "INFO"},
		{"warn skips a success", slog.LevelWarn, 200, "", 0, ""},
		{"warn logs a server error", slog.LevelWarn, 500, "", 1, "ERROR"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			log := New(&buf, tc.level, "proj")
			h := Requests(log, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tc.status)
				w.Write([]byte("hello"))
			}))
			req := httptest.NewRequest(http.MethodPost, "/acme/acme/new-order", nil)
			if tc.trace != "" {
				req.Header.Set("X-Cloud-Trace-Context", tc.trace+"/1;o=1")
			}
			h.ServeHTTP(httptest.NewRecorder(), req)
			lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
			if buf.Len() == 0 {
				lines = nil
			}
			if len(lines) != tc.wantLines {
				t.Fatalf("%d log lines, want %d: %q", len(lines), tc.wantLines, buf.String())
			}
			if tc.wantLines == 0 {
				return
			}
			var rec struct {
				Severity    string `json:"severity"`
				Message     string `json:"message"`
				Trace       string `json:"logging.googleapis.com/trace"`
				HTTPRequest struct {
					Method string `json:"requestMethod"`
					URL    string `json:"requestUrl"`
					Status int    `json:"status"`
					Size   int    `json:"responseSize"`
				} `json:"httpRequest"`
			}
			if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil {
				t.Fatalf("log line %q: %v", lines[0], err)
			}
			hr := rec.HTTPRequest
			if rec.Severity != tc.wantSev || rec.Message != "request" || hr.Method != "POST" ||
				hr.URL != "/acme/acme/new-order" || hr.Status != tc.status || hr.Size != 5 {
				t.Fatalf("log line %q", lines[0])
			}
			if want := "projects/proj/traces/" + tc.trace; tc.trace != "" && rec.Trace != want {
				t.Fatalf("trace %q, want %q", rec.Trace, want)
			}
		})
	}
}

// BenchmarkRequests measures the request-line middleware around a trivial
// handler, at info level (a line per request) and warn level (none).
func BenchmarkRequests(b *testing.B) {
	for _, level := range []slog.Level{slog.LevelInfo, slog.LevelWarn} {
		b.Run(level.String(), func(b *testing.B) {
			h := Requests(New(io.Discard, level, "proj"), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusOK)
			}))
			req := httptest.NewRequest(http.MethodPost, "/acme/acme/new-order", nil)
			w := httptest.NewRecorder()
			b.ReportAllocs()
			for b.Loop() {
				h.ServeHTTP(w, req)
			}
		})
	}
}
