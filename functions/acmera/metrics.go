package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	mexporter "github.com/GoogleCloudPlatform/opentelemetry-operations-go/exporter/metric"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	"google.golang.org/api/option"

	"github.com/acmera/acmera/pkg/config"
	"github.com/acmera/acmera/pkg/metrics"
)

// metricsPath is where the embedded default serves its metrics.
const metricsPath = "/metrics"

// cloudExportInterval is how often a cloud function writes its metrics to
// Cloud Monitoring (custom metrics accept one point per series every 5 s;
// a minute keeps the write cost low and matches the dashboards' period).
const cloudExportInterval = time.Minute

// metricsShutdownTimeout bounds the last export at exit.
const metricsShutdownTimeout = 3 * time.Second

// prometheusProvider returns a meter provider read by the otel Prometheus
// exporter on a registry of its own (never prometheus.DefaultRegisterer),
// with the Go runtime and process collectors beside it, and the handler
// that serves that registry.
func prometheusProvider() (*sdkmetric.MeterProvider, http.Handler, error) {
	reg := prometheus.NewRegistry()
	if err := reg.Register(collectors.NewGoCollector()); err != nil {
		return nil, nil, fmt.Errorf("prometheus.Registry.Register(go): %w", err)
	}
	if err := reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
		return nil, nil, fmt.Errorf("prometheus.Registry.Register(process): %w", err)
	}
	exp, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo())
	if err != nil {
		return nil, nil, fmt.Errorf("otel prometheus.New: %w", err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp),
		sdkmetric.WithResource(resource.NewSchemaless(attribute.String("service.name", "acmera"))))
	return mp, promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), nil
}

// startEmbeddedMetrics serves the embedded default's metrics at
// /metrics on addr (ACMERA_METRICS_ADDR) and returns the instruments and
// a function that stops the listener. With addr empty it serves nothing
// and the instruments record nothing.
func startEmbeddedMetrics(addr string, log *slog.Logger) (*metrics.Metrics, func(), error) {
	if addr == "" {
		m, err := metrics.New(nil)
		return m, func() {}, err
	}
	mp, h, err := prometheusProvider()
	if err != nil {
		return nil, nil, err
	}
	m, err := metrics.New(mp)
	if err != nil {
		return nil, nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("ACMERA_METRICS_ADDR: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET "+metricsPath, h)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server stopped", "error", err.Error())
		}
	}()
	log.Info("serving metrics", "addr", ln.Addr().String(), "path", metricsPath)
	return m, func() {
		ctx, cancel := context.WithTimeout(context.Background(), metricsShutdownTimeout)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			_ = srv.Close()
		}
		<-done
		if err := mp.Shutdown(ctx); err != nil {
			log.Warn("metrics: MeterProvider.Shutdown", "error", err.Error())
		}
	}, nil
}

// cloudProvider returns a meter provider that writes to Cloud Monitoring
// in project every interval, as custom metrics
// workload.googleapis.com/acmera.* on a generic_task resource: job is the
// service (K_SERVICE), task_id this instance, so that instances never
// write the same series. opts reach the Monitoring client (tests point it
// at a loopback endpoint). Building it makes no call; the client finds
// its credentials here, so a missing credential fails at start.
func cloudProvider(ctx context.Context, project, service string, interval time.Duration, opts ...option.ClientOption) (*sdkmetric.MeterProvider, error) {
	exp, err := mexporter.New(mexporter.WithProjectID(project), mexporter.WithMonitoringClientOptions(opts...),
		mexporter.WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("ACMERA_METRICS=%s: the Cloud Monitoring exporter: %w", config.MetricsCloudMonitoring, err)
	}
	res := resource.NewSchemaless(attribute.String("service.namespace", "acmera"), attribute.String("service.name", service),
		attribute.String("service.instance.id", uuid.NewString()))
	return sdkmetric.NewMeterProvider(sdkmetric.WithResource(res),
		sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp, sdkmetric.WithInterval(interval)))), nil
}

// startCloudMetrics builds a cloud function's instruments as ACMERA_METRICS
// says, and a function that writes the last points and stops the export.
// service names the function's Cloud Run service (K_SERVICE, else
// acmera-<target>).
func startCloudMetrics(ctx context.Context, cfg *config.Cloud, service string, log *slog.Logger) (*metrics.Metrics, func(), error) {
	if cfg.Metrics == config.MetricsOff {
		m, err := metrics.New(nil)
		return m, func() {}, err
	}
	mp, err := cloudProvider(ctx, cfg.ProjectID, service, cloudExportInterval)
	if err != nil {
		return nil, nil, err
	}
	m, err := metrics.New(mp)
	if err != nil {
		return nil, nil, err
	}
	return m, func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), metricsShutdownTimeout)
		defer cancel()
		if err := mp.Shutdown(sctx); err != nil {
			log.Warn("metrics: MeterProvider.Shutdown", "error", err.Error())
		}
	}, nil
}
