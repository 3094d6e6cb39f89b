package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/acme"

	"github.com/acmera/acmera/scripts/internal/e2eutil"
)

// TestLoadAgainstBinary builds acmera, runs the load tool for about 3 s
// with 4 clients against it, and checks the JSON report: issuances made,
// no errors, and resource figures read from the server's /proc entry.
// ACMERA_LOAD_BIN names a prebuilt binary to skip the build.
func TestLoadAgainstBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the server and loads it for a few seconds")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	bin := os.Getenv("ACMERA_LOAD_BIN")
	if bin == "" {
		var err error
		if bin, err = e2eutil.Build(ctx, t.TempDir(), e2eutil.AcmeraPkg); err != nil {
			t.Fatal(err)
		}
	}
	var stdout, stderr bytes.Buffer
	args := []string{"-server", bin, "-clients", "4", "-duration", "3s", "-warmup", "0s", "-json"}
	if err := mainErr(ctx, args, &stdout, &stderr); err != nil {
		t.Fatalf("load %v: %v\n%s", args, err, stderr.String())
	}
	var res Result
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("json.Unmarshal: %v\n%s", err, stdout.String())
	}
	t.Logf("summary:\n%s", stderr.String())
	if res.Issued == 0 || res.PerSecond <= 0 {
		t.Errorf("issued %d (%.1f/s), want some", res.Issued, res.PerSecond)
	}
	if res.ErrorTotal != 0 {
		t.Errorf("%d errors: %v %v", res.ErrorTotal, res.Errors, res.ErrorExamples)
	}
	for k, st := range res.Requests {
		if st.Failed != 0 {
			t.Errorf("%s: %d of %d requests answered >= 400 (retried by the client)", k, st.Failed, st.N)
		}
	}
	if n := res.Requests["POST finalize"].N; n < res.Issued {
		t.Errorf("%d finalize requests counted for %d issuances", n, res.Issued)
	}
	if s := res.Server; s == nil || s.CPUPerIssuanceMs <= 0 || s.RSSEnd <= 0 || s.HWM < s.RSSEnd || len(s.Samples) < 2 {
		t.Errorf("server figures %+v, want CPU and RSS from /proc and several samples", s)
	}
	if res.Latency.P50 <= 0 || res.Latency.P50 > res.Latency.P99 {
		t.Errorf("latency %+v, want 0 < p50 <= p99", res.Latency)
	}
}

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string // substring; "" = valid
	}{
		{"server", []string{"-server", "/bin/acmera"}, ""},
		{"directory", []string{"-directory", "https://127.0.0.1:8443/acme/acme/directory", "-root", "r.pem"}, ""},
		{"localhost directory", []string{"-directory", "https://localhost:8443/d", "-root", "r.pem"}, ""},
		{"neither", nil, "-server BIN"},
		{"both", []string{"-server", "x", "-directory", "https://127.0.0.1/d", "-root", "r"}, "exclude"},
		{"remote directory", []string{"-directory", "https://10.0.0.1/d", "-root", "r"}, "loopback only"},
		{"plain http (the Cloud stack)", []string{"-directory", "http://127.0.0.1:8080/acme/acme/directory"}, ""},
		{"remote plain http", []string{"-directory", "http://10.0.0.1/d"}, "loopback only"},
		{"other scheme", []string{"-directory", "ftp://127.0.0.1/d"}, "must be https or http"},
		{"no root", []string{"-directory", "https://127.0.0.1/d"}, "needs -root"},
		{"remote responder", []string{"-server", "x", "-http01-addr", "0.0.0.0:80"}, "loopback only"},
		{"too many clients", []string{"-server", "x", "-clients", "5000"}, "-clients"},
		{"no duration", []string{"-server", "x", "-duration", "0s"}, "-duration"},
		{"bad env", []string{"-server", "x", "-env", "NOEQUALS"}, "KEY=VALUE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseFlags(tt.args, io.Discard)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("parseFlags(%q) = %v, want no error", tt.args, err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("parseFlags(%q) = %v, want an error containing %q", tt.args, err, tt.wantErr)
			}
		})
	}
}

func TestLatencyPercentiles(t *testing.T) {
	var d []time.Duration
	for i := 100; i >= 1; i-- { // 1..100 ms, unsorted
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	got := latency(d)
	want := Latency{P50: 50, P95: 95, P99: 99, Max: 100, Mean: 50.5}
	if got != want {
		t.Errorf("latency(1..100 ms) = %+v, want %+v", got, want)
	}
	if got := latency(nil); got != (Latency{}) {
		t.Errorf("latency(nil) = %+v, want zero", got)
	}
}

func TestResourceKind(t *testing.T) {
	tests := map[string]string{
		"/acme/acme/new-order":          "new-order",
		"/acme/acme/order/abc/finalize": "finalize",
		"/acme/acme/order/abc":          "order",
		"/acme/acme/chall/a/b":          "chall",
		"/x":                            "/x",
	}
	for path, want := range tests {
		t.Run(path, func(t *testing.T) {
			if got := resourceKind(path); got != want {
				t.Errorf("resourceKind(%q) = %q, want %q", path, got, want)
			}
		})
	}
}

func TestErrorKind(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{&acme.Error{StatusCode: 400, ProblemType: "urn:ietf:params:acme:error:badNonce"}, "new-order: badNonce (HTTP 400)"},
		{fmt.Errorf("wrapped: %w", context.DeadlineExceeded), "new-order: timeout"},
		{&authzInvalid{problem: "x"}, "new-order: authorization invalid"},
		{&acme.OrderError{Status: "invalid"}, "new-order: order invalid"},
		{errors.New("boom"), "new-order: other"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := errorKind("new-order", tt.err); got != tt.want {
				t.Errorf("errorKind(%v) = %q, want %q", tt.err, got, tt.want)
			}
		})
	}
}
