package nonce

import (
	"context"
	"errors"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/acmera/acmera/pkg/metrics"
)

// TestRejectionReasons checks that each way a nonce fails is counted
// under its reason.
func TestRejectionReasons(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())
	m, err := metrics.New(mp)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	s, err := New(Config{Key: NewKey(), Used: &memSet{used: map[string]bool{}}, Clock: clock, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	other := newService(t, &now)
	ctx := context.Background()
	n := s.Issue()
	old := s.Issue()
	for _, try := range []string{n, n, "short", other.Issue()} {
		if err := s.Redeem(ctx, try); try != n && !errors.Is(err, ErrInvalid) {
			t.Fatalf("Redeem(%q) = %v, want ErrInvalid", try, err)
		}
	}
	now = now.Add(2 * time.Hour)
	if err := s.Redeem(ctx, old); !errors.Is(err, ErrInvalid) {
		t.Fatalf("expired: %v", err)
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, mt := range sm.Metrics {
			if mt.Name != metrics.NameNonceRejections {
				continue
			}
			for _, dp := range mt.Data.(metricdata.Sum[int64]).DataPoints {
				r, _ := dp.Attributes.Value("reason")
				got[r.AsString()] = dp.Value
			}
		}
	}
	want := map[string]int64{metrics.NonceReplayed: 1, metrics.NonceMalformed: 1, metrics.NonceForged: 1, metrics.NonceExpired: 1}
	if len(got) != len(want) {
		t.Fatalf("rejections %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("rejections[%s] = %d, want %d (all: %v)", k, got[k], v, got)
		}
	}
}
