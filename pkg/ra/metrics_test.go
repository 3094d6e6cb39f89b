package ra

import (
	"fmt"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/acmera/acmera/pkg/ca"
	"github.com/acmera/acmera/pkg/core"
	"github.com/acmera/acmera/pkg/metrics"
	"github.com/acmera/acmera/pkg/queue"
)

// withMetrics gives f's RA instruments read by a manual reader.
func withMetrics(t *testing.T, f *fixture) *sdkmetric.ManualReader {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(t.Context()) })
	m, err := metrics.New(mp)
	if err != nil {
		t.Fatal(err)
	}
	f.ra.metrics = m
	return reader
}

// counts returns the counter name's values keyed by its labels' values
// joined with "/", in the order given.
func counts(t *testing.T, reader *sdkmetric.ManualReader, name string, keys ...attribute.Key) map[string]int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(t.Context(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
				k := ""
				for i, key := range keys {
					v, _ := dp.Attributes.Value(key)
					if i > 0 {
						k += "/"
					}
					k += v.Emit()
				}
				out[k] = dp.Value
			}
		}
	}
	return out
}

// TestMetricsCountFinalizeOutcomes: a finalize whose first CA call fails
// transiently and whose retry issues counts one issuance (issued) and two
// CA calls (transient, ok), and a redelivered task nothing; the one
// validation counts once; a misconfigured CA
// counts its issuance outcome and CA class.
func TestMetricsCountFinalizeOutcomes(t *testing.T) {
	f := newFixture(t, 1)
	reader := withMetrics(t, f)
	o := f.readyOrder(t)
	if got, err := f.ra.Finalize(t.Context(), f.acct, o.ID, csrDER(t)); err != nil || got.Status != core.StatusProcessing {
		t.Fatalf("finalize with the CA down: %v %v", got.Status, err)
	}
	if errs := f.runTasks(t); len(errs) != 1 || errs[0] != nil {
		t.Fatalf("retry: %v", errs)
	}
	// A redelivered task finds the order valid and counts nothing.
	if err := f.ra.HandleTask(t.Context(), queue.Task{Kind: queue.KindFinalize, OrderID: o.ID}); err != nil {
		t.Fatal(err)
	}
	// A second order reuses the valid authorization: ready, no validation.
	f2, err := f.ra.NewOrder(t.Context(), f.acct, NewOrderRequest{Profile: "acme", Identifiers: o.Identifiers})
	if err != nil || f2.Status != core.StatusReady {
		t.Fatalf("second order: %v %v, want ready", f2, err)
	}
	f.setCA(failingCA{f.ca, fmt.Errorf("%w: template not found", ca.ErrMisconfigured)})
	if got, err := f.ra.Finalize(t.Context(), f.acct, f2.ID, csrDER(t)); err != nil || got.Status != core.StatusInvalid {
		t.Fatalf("misconfigured finalize: %v %v", got.Status, err)
	}

	iss := counts(t, reader, metrics.NameIssuances, "profile", "backend", "outcome")
	if want := map[string]int64{"acme/default/issued": 1, "acme/default/misconfigured": 1}; fmt.Sprint(iss) != fmt.Sprint(want) {
		t.Errorf("issuances %v, want %v", iss, want)
	}
	calls := counts(t, reader, metrics.NameCACalls, "backend", "operation", "outcome")
	if want := map[string]int64{"default/issue/transient": 1, "default/issue/ok": 1, "default/issue/misconfigured": 1}; fmt.Sprint(calls) != fmt.Sprint(want) {
		t.Errorf("CA calls %v, want %v", calls, want)
	}
	vals := counts(t, reader, metrics.NameValidations, "challenge_type", "outcome")
	if len(vals) != 1 || vals["http-01/valid"] != 1 {
		t.Errorf("validations %v, want http-01/valid 1", vals)
	}
}
