package e2ecloud

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/acmera/acmera/scripts/internal/e2eutil"
)

// TestCloudLoad drives the Cloud stack (ACME and Validate processes on the
// Firestore emulator, the CAS and Cloud Tasks fakes) with scripts/load at
// each concurrency of ACMERA_CLOUD_LOAD (comma-separated, e.g. "8,32";
// unset skips the test, so CI does not run it) for
// ACMERA_CLOUD_LOAD_DURATION (default 20s) and reports issuances per
// second, latency, and Firestore document operations per issuance as the
// functions' own op counters saw them (ACMERA_FIRESTORE_OPS_LOG_INTERVAL).
// Figures are reported, never asserted; the table also goes to
// $ACMERA_CLOUD_LOAD_OUT when set.
func TestCloudLoad(t *testing.T) {
	levels := os.Getenv("ACMERA_CLOUD_LOAD")
	if levels == "" {
		t.Skip("set ACMERA_CLOUD_LOAD=8,32 to measure the Cloud stack under load")
	}
	needEmulator(t)
	dur := cmp.Or(os.Getenv("ACMERA_CLOUD_LOAD_DURATION"), "20s")
	loadBin, err := e2eutil.Build(e2eutil.TestContext(t, 2*time.Minute), t.TempDir(), "github.com/acmera/acmera/scripts/load")
	mustf(t, err, "build scripts/load")
	var table strings.Builder
	table.WriteString("| clients | issuances/s | p50 ms | p95 ms | p99 ms | errors | Firestore reads/issuance | writes/issuance | RPCs/issuance | ACME CPU ms/issuance | machine busy cores |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, lv := range strings.Split(levels, ",") {
		c, err := strconv.Atoi(strings.TrimSpace(lv))
		if err != nil || c < 1 || c > 256 {
			t.Fatalf("ACMERA_CLOUD_LOAD: %q is not a client count in 1..256", lv)
		}
		t.Run(fmt.Sprintf("c=%d", c), func(t *testing.T) {
			table.WriteString(cloudLoadRow(t, loadBin, c, dur))
		})
	}
	t.Log("\n" + table.String())
	if out := os.Getenv("ACMERA_CLOUD_LOAD_OUT"); out != "" {
		mustf(t, os.WriteFile(out, []byte(table.String()), 0o644), "write ACMERA_CLOUD_LOAD_OUT")
	}
}

// loadResult is the part of scripts/load's -json result used here.
type loadResult struct {
	Issued      int     `json:"issued"`
	DrainIssued int     `json:"drain_issued"`
	PerSecond   float64 `json:"issuances_per_s"`
	Latency     struct {
		P50, P95, P99 float64
	} `json:"latency_ms"`
	ErrorTotal int `json:"error_total"`
	Server     *struct {
		CPUPerIssuanceMs float64 `json:"cpu_per_issuance_ms"`
	} `json:"server"`
	BusyCores float64 `json:"machine_busy_cores"`
}

// cloudLoadRow runs one load level on a fresh stack and returns its row.
func cloudLoadRow(t *testing.T, loadBin string, clients int, dur string) string {
	gcp := startFakeGCP(t)
	dnsPort, httpPort := e2eutil.FreePort(t), e2eutil.FreePort(t)
	s := newStack(t, gcp.gcpEndpoints, "ACMERA_FIRESTORE_OPS_LOG_INTERVAL=200ms",
		// info, as in production: one request line each, and the op lines.
		"ACMERA_LOG_LEVEL=info",
		"ACMERA_RESOLVERS=127.0.0.1:"+strconv.Itoa(dnsPort), "ACMERA_HTTP01_PORT="+strconv.Itoa(httpPort))
	ctx := e2eutil.TestContext(t, 5*time.Minute)
	cmd := exec.CommandContext(ctx, loadBin, "-directory", s.DirURL, "-pid", strconv.Itoa(s.ACME.proc.Pid()),
		"-dns-addr", "127.0.0.1:"+strconv.Itoa(dnsPort), "-http01-addr", "127.0.0.1:"+strconv.Itoa(httpPort),
		"-clients", strconv.Itoa(clients), "-warmup", "0s", "-duration", dur, "-json")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	before := s.opTotals(t)
	mustf(t, cmd.Run(), "scripts/load: %s", stderr.String())
	time.Sleep(500 * time.Millisecond) // one more op line from each process
	after := s.opTotals(t)
	t.Log(stderr.String())
	var res loadResult
	mustf(t, json.Unmarshal(stdout.Bytes(), &res), "decode scripts/load -json")
	n := float64(max(res.Issued+res.DrainIssued, 1))
	cpu := 0.0
	if res.Server != nil {
		cpu = res.Server.CPUPerIssuanceMs
	}
	return fmt.Sprintf("| %d | %.1f | %.0f | %.0f | %.0f | %d | %.1f | %.1f | %.1f | %.1f | %.2f |\n", clients, res.PerSecond,
		res.Latency.P50, res.Latency.P95, res.Latency.P99, res.ErrorTotal,
		float64(after[0]-before[0])/n, float64(after[1]-before[1])/n, float64(after[2]-before[2])/n, cpu, res.BusyCores)
}

// opTotals sums the latest firestore.ops totals (reads, writes, RPCs) the
// ACME and Validate processes logged.
func (s *stack) opTotals(t *testing.T) [3]int64 {
	t.Helper()
	var sum [3]int64
	for _, p := range []*fnProc{s.ACME, s.Validate} {
		evs := p.waitLogEvents(e2eutil.TestContext(t, 5*time.Second), "firestore operations", 1, nil)
		last := evs[len(evs)-1]
		for i, k := range []string{"reads", "writes", "rpcs"} {
			v, _ := last[k].(float64)
			sum[i] += int64(v)
		}
	}
	return sum
}
