package metrics_test

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/acmera/acmera/pkg/metrics"
)

// collect returns the data points of every instrument, by name.
func collect(t *testing.T, r *sdkmetric.ManualReader) map[string]metricdata.Aggregation {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatalf("ManualReader.Collect: %v", err)
	}
	out := map[string]metricdata.Aggregation{}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != metrics.ScopeName {
			t.Errorf("scope %q, want %q", sm.Scope.Name, metrics.ScopeName)
		}
		for _, m := range sm.Metrics {
			out[m.Name] = m.Data
		}
	}
	return out
}

func sum(t *testing.T, data map[string]metricdata.Aggregation, name string, want ...attribute.KeyValue) int64 {
	t.Helper()
	s, ok := data[name].(metricdata.Sum[int64])
	if !ok {
		t.Fatalf("%s: %T, want a sum", name, data[name])
	}
	set := attribute.NewSet(want...)
	for _, dp := range s.DataPoints {
		if dp.Attributes.Equals(&set) {
			return dp.Value
		}
	}
	return 0
}

func TestInstruments(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())
	m, err := metrics.New(mp)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx := context.Background()
	m.Issuance(ctx, "acme", "local", metrics.IssuanceIssued, 2*time.Second)
	m.Issuance(ctx, "acme", "local", metrics.IssuanceIssued, time.Second)
	m.Issuance(ctx, "acme", "local", metrics.IssuanceRejected, time.Second)
	m.Validation(ctx, "http-01", metrics.ValidationValid, 30*time.Millisecond)
	m.CACall(ctx, "local", metrics.CAIssue, metrics.CATransient, time.Second)
	m.RateLimited(ctx, "maxOrdersPerHour")
	m.NonceRejected(ctx, metrics.NonceReplayed)

	data := collect(t, reader)
	if _, ok := data[metrics.NameProcessing]; ok {
		t.Errorf("%s reported before any reconcile pass", metrics.NameProcessing)
	}
	checks := []struct {
		name  string
		attrs []attribute.KeyValue
		want  int64
	}{
		{metrics.NameIssuances, []attribute.KeyValue{attribute.String("profile", "acme"), attribute.String("backend", "local"), attribute.String("outcome", "issued")}, 2},
		{metrics.NameIssuances, []attribute.KeyValue{attribute.String("profile", "acme"), attribute.String("backend", "local"), attribute.String("outcome", "rejected")}, 1},
		{metrics.NameValidations, []attribute.KeyValue{attribute.String("challenge_type", "http-01"), attribute.String("outcome", "valid")}, 1},
		{metrics.NameCACalls, []attribute.KeyValue{attribute.String("backend", "local"), attribute.String("operation", "issue"), attribute.String("outcome", "transient")}, 1},
		{metrics.NameRateLimited, []attribute.KeyValue{attribute.String("limit", "maxOrdersPerHour")}, 1},
		{metrics.NameNonceRejections, []attribute.KeyValue{attribute.String("reason", "replayed")}, 1},
	}
	for _, c := range checks {
		if got := sum(t, data, c.name, c.attrs...); got != c.want {
			t.Errorf("%s%v = %d, want %d", c.name, c.attrs, got, c.want)
		}
	}
	h, ok := data[metrics.NameIssuanceDuration].(metricdata.Histogram[float64])
	if !ok || len(h.DataPoints) != 2 {
		t.Fatalf("%s: %+v, want a histogram with two series", metrics.NameIssuanceDuration, data[metrics.NameIssuanceDuration])
	}

	m.ReconcilePass(3, 1, 2, 0)
	data = collect(t, reader)
	g, ok := data[metrics.NameStuck].(metricdata.Gauge[int64])
	if !ok {
		t.Fatalf("%s: %T, want a gauge", metrics.NameStuck, data[metrics.NameStuck])
	}
	got := map[string]int64{}
	for _, dp := range g.DataPoints {
		kind, _ := dp.Attributes.Value("kind")
		got[kind.AsString()] = dp.Value
	}
	if got["order"] != 2 || got["challenge"] != 0 || len(got) != 2 {
		t.Errorf("%s = %v, want order 2, challenge 0", metrics.NameStuck, got)
	}
}

// TestNil checks that a nil *Metrics and a nil provider record nothing
// and do not panic.
func TestNil(t *testing.T) {
	var m *metrics.Metrics
	ctx := context.Background()
	m.Issuance(ctx, "p", "b", metrics.IssuanceIssued, 0)
	m.Validation(ctx, "http-01", metrics.ValidationValid, 0)
	m.CACall(ctx, "b", metrics.CAIssue, metrics.CAOK, 0)
	m.RateLimited(ctx, "x")
	m.NonceRejected(ctx, metrics.NonceMissing)
	m.ReconcilePass(1, 1, 1, 1)
	n, err := metrics.New(nil)
	if err != nil {
		t.Fatalf("New(nil): %v", err)
	}
	n.Issuance(ctx, "p", "b", metrics.IssuanceIssued, 0)
	n.ReconcilePass(1, 1, 1, 1)
}
