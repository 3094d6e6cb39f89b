package main

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/acmera/acmera/pkg/config"
	"github.com/acmera/acmera/pkg/metrics"
)

// counterValue is the value of the series of family name whose labels
// include want; 0 when there is none.
func counterValue(fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	f := fams[name]
	if f == nil {
		return 0
	}
next:
	for _, m := range f.GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if got[k] != v {
				continue next
			}
		}
		return m.GetCounter().GetValue()
	}
	return 0
}

// TestPrometheusExposition records through the embedded default's
// provider and parses what /metrics serves: the names and labels the
// README documents.
func TestPrometheusExposition(t *testing.T) {
	mp, h, err := prometheusProvider()
	if err != nil {
		t.Fatal(err)
	}
	defer mp.Shutdown(context.Background())
	m, err := metrics.New(mp)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	m.Issuance(ctx, "acme", "local", metrics.IssuanceIssued, time.Second)
	m.Validation(ctx, "http-01", metrics.ValidationValid, time.Millisecond)
	m.CACall(ctx, "local", metrics.CAIssue, metrics.CAOK, time.Millisecond)
	m.RateLimited(ctx, "maxOrdersPerHour")
	m.NonceRejected(ctx, metrics.NonceReplayed)
	m.ReconcilePass(2, 0, 1, 0)

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", metricsPath, nil))
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(rec.Body.String()))
	if err != nil {
		t.Fatalf("parse /metrics: %v\n%s", err, rec.Body.String())
	}
	for _, c := range []struct {
		name   string
		labels map[string]string
	}{
		{"acmera_issuances_total", map[string]string{"profile": "acme", "backend": "local", "outcome": "issued"}},
		{"acmera_validations_total", map[string]string{"challenge_type": "http-01", "outcome": "valid"}},
		{"acmera_ca_calls_total", map[string]string{"backend": "local", "operation": "issue", "outcome": "ok"}},
		{"acmera_ratelimit_refusals_total", map[string]string{"limit": "maxOrdersPerHour"}},
		{"acmera_nonce_rejections_total", map[string]string{"reason": "replayed"}},
	} {
		if v := counterValue(fams, c.name, c.labels); v != 1 {
			t.Errorf("%s%v = %v, want 1", c.name, c.labels, v)
		}
	}
	for _, name := range []string{"acmera_issuance_duration_seconds", "acmera_validation_duration_seconds", "acmera_ca_call_duration_seconds"} {
		if f := fams[name]; f.GetType() != dto.MetricType_HISTOGRAM {
			t.Errorf("%s: %v, want a histogram", name, f.GetType())
		}
	}
	if f := fams["acmera_reconcile_stuck"]; f.GetType() != dto.MetricType_GAUGE || len(f.GetMetric()) != 2 {
		t.Errorf("acmera_reconcile_stuck: %v, want a gauge by kind", f)
	}
	if fams["go_goroutines"] == nil {
		t.Error("no Go runtime metrics")
	}
}

func TestEmbeddedMetricsAddrNamed(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if _, _, err := startEmbeddedMetrics("256.0.0.1:nope", log); err == nil || !strings.Contains(err.Error(), "ACMERA_METRICS_ADDR") {
		t.Fatalf("bad address: %v, want an error naming ACMERA_METRICS_ADDR", err)
	}
	m, stop, err := startEmbeddedMetrics("", log)
	if err != nil || m == nil {
		t.Fatalf("off: %v %v", m, err)
	}
	stop()
}

// TestCloudProviderOffline builds the Cloud Monitoring exporter against a
// closed loopback port: construction makes no call, and the export at
// shutdown goes to that endpoint (and fails there, bounded by the
// shutdown's context), never to Google.
func TestCloudProviderOffline(t *testing.T) {
	ctx := context.Background()
	mp, err := cloudProvider(ctx, "demo-project", "acmera-acme", time.Hour,
		option.WithEndpoint("127.0.0.1:1"), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	if err != nil {
		t.Fatalf("cloudProvider: %v", err)
	}
	m, err := metrics.New(mp)
	if err != nil {
		t.Fatal(err)
	}
	m.Issuance(ctx, "acme", "cas", metrics.IssuanceIssued, time.Second)
	sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	start := time.Now()
	if err := mp.Shutdown(sctx); err == nil {
		t.Error("Shutdown exported to a closed port without an error")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Shutdown took %v", d)
	}
}

func TestCloudMetricsOff(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	m, stop, err := startCloudMetrics(context.Background(), &config.Cloud{Metrics: config.MetricsOff}, "acmera-acme", log)
	if err != nil || m == nil {
		t.Fatalf("off: %v %v", m, err)
	}
	stop()
}
