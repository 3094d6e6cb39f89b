package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"golang.org/x/crypto/acme"

	"github.com/acmera/acmera/scripts/internal/e2eutil"
)

// TestMetricsPrometheus runs the embedded default with ACMERA_METRICS_ADDR
// on loopback, issues one certificate through http-01 with
// golang.org/x/crypto/acme, and parses /metrics (the Prometheus text
// format, with expfmt) before and after: the issuance counter of that
// profile, backend and outcome and the http-01 success counter each went
// up by exactly one.
func TestMetricsPrometheus(t *testing.T) {
	t.Parallel()
	metricsAddr := "127.0.0.1:" + strconv.Itoa(e2eutil.FreePort(t))
	e := &env{Responders: e2eutil.StartResponders(t, false)}
	e.Srv = startServer(t, e2eutil.ServerConfig{HTTP01Port: e.HTTP01.Port, TLSALPN01Port: e.ALPN.Port, Resolver: e.DNS.Addr(),
		Env: []string{"ACMERA_METRICS_ADDR=" + metricsAddr}})
	ctx := e2eutil.TestContext(t, 60*time.Second)
	url := "http://" + metricsAddr + "/metrics"

	issued := series{"acmera_issuances_total", map[string]string{"profile": "acme", "backend": "local", "outcome": "issued"}}
	valid := series{"acmera_validations_total", map[string]string{"challenge_type": "http-01", "outcome": "valid"}}
	before := scrape(ctx, t, url)
	cl := e.newClient(ctx, t)
	e.issue(ctx, t, cl, acme.DomainIDs("metrics.e2e.test"), always("http-01"))
	after := scrape(ctx, t, url)
	for _, s := range []series{issued, valid} {
		if d := s.value(after) - s.value(before); d != 1 {
			t.Errorf("%s went up by %v, want exactly 1 (before %v, after %v)", s, d, s.value(before), s.value(after))
		}
	}
	// The issuance's latency is in its histogram, under the same labels.
	if f := after["acmera_issuance_duration_seconds"]; f.GetType() != dto.MetricType_HISTOGRAM || len(f.GetMetric()) == 0 {
		t.Errorf("acmera_issuance_duration_seconds: %v, want a histogram with the issuance", f)
	}
}

// series names one time series: a metric family and labels it must carry.
type series struct {
	name   string
	labels map[string]string
}

func (s series) String() string { return fmt.Sprintf("%s%v", s.name, s.labels) }

// value is the counter value of the series in fams; 0 when it is absent
// (a counter not yet incremented is not exported).
func (s series) value(fams map[string]*dto.MetricFamily) float64 {
next:
	for _, m := range fams[s.name].GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		for k, v := range s.labels {
			if got[k] != v {
				continue next
			}
		}
		return m.GetCounter().GetValue()
	}
	return 0
}

// scrape fetches url and parses it as the Prometheus text format.
func scrape(ctx context.Context, t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatalf("http.NewRequest: %v", err)
	}
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		t.Fatalf("GET %s: %s\n%s", url, resp.Status, b)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse %s: %v", url, err)
	}
	return fams
}
