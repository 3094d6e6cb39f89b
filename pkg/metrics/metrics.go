// Package metrics holds acmera's instruments: issuances, validations, CA
// calls, rate-limit refusals, nonce rejections and the work the reconciler
// finds left processing. They are built from a metric.MeterProvider the
// entry point passes in (an otel SDK provider with a Prometheus or Cloud
// Monitoring exporter, see functions/acmera/metrics.go); nothing here touches
// otel's global provider. A nil *Metrics is valid and records nothing, so
// the RA, the WFE and the nonce service take one as an optional Config
// field.
package metrics

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
)

// ScopeName is the instrumentation scope of every acmera instrument.
const ScopeName = "github.com/acmera/acmera"

// Instrument names (OpenTelemetry form; the Prometheus exporter writes
// dots as underscores and adds _total to counters and the unit to
// histograms: acmera_issuances_total, acmera_ca_call_duration_seconds).
const (
	NameIssuances          = "acmera.issuances"
	NameIssuanceDuration   = "acmera.issuance.duration"
	NameValidations        = "acmera.validations"
	NameValidationDuration = "acmera.validation.duration"
	NameCACalls            = "acmera.ca.calls"
	NameCACallDuration     = "acmera.ca.call.duration"
	NameRateLimited        = "acmera.ratelimit.refusals"
	NameNonceRejections    = "acmera.nonce.rejections"
	NameProcessing         = "acmera.reconcile.processing"
	NameStuck              = "acmera.reconcile.stuck"
)

// Issuance outcomes: how a finalize ended (the issuances counter).
const (
	IssuanceIssued        = "issued"        // the certificate is recorded
	IssuanceRejected      = "rejected"      // the CA refused the request
	IssuanceMisconfigured = "misconfigured" // the CA refused acmera's request (pool, template, permissions)
	IssuanceMisissued     = "misissued"     // the CA returned another certificate; it was revoked
	IssuanceTimeout       = "timeout"       // the CA never issued within the finalize timeout
	IssuanceError         = "error"         // any other failure that ended the order (an unparseable stored CSR)
)

// CA call outcome classes (the CA call counter and histogram).
const (
	CAOK            = "ok"            // the CA did what was asked (issued, found, revoked)
	CARejected      = "rejected"      // the CA decided against the request (ca.RejectedError)
	CANotIssued     = "not_issued"    // Find: the CA says it never issued for the request (ca.ErrNotIssued)
	CATransient     = "transient"     // the CA could not be reached or answered an error worth a retry
	CAMisconfigured = "misconfigured" // the CA refused acmera's request (ca.ErrMisconfigured)
)

// CA operations.
const (
	CAIssue  = "issue"
	CAFind   = "find"
	CARevoke = "revoke"
)

// Validation outcomes.
const (
	ValidationValid   = "valid"
	ValidationInvalid = "invalid"
)

// Nonce rejection reasons (RFC 8555 §6.5: each is a badNonce).
const (
	NonceMissing   = "missing"   // the JWS carried no nonce
	NonceMalformed = "malformed" // not the 43-character encoding of a sealed nonce
	NonceForged    = "forged"    // the seal does not verify: not issued by this directory's key
	NonceExpired   = "expired"   // older than the nonce lifetime (or dated in the future)
	NonceReplayed  = "replayed"  // already redeemed
)

// Buckets of the latency histograms, in seconds: from a local CA's
// milliseconds to the 60-second bound of one CA call.
var latencyBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300}

// Metrics holds the instruments. Its methods are safe for concurrent use
// and do nothing on a nil *Metrics.
type Metrics struct {
	issuances, validations, caCalls, rateLimited, nonceRejections metric.Int64Counter
	issuanceDuration, validationDuration, caDuration              metric.Float64Histogram
	processingGauge, stuckGauge                                   metric.Int64ObservableGauge

	mu sync.Mutex
	// processing and stuck are the last reconcile pass's counts, by kind
	// ("order", "challenge"); reported means a pass has run.
	processing, stuck map[string]int64
	reported          bool
}

// New builds the instruments from mp; a nil mp is a no-op provider.
func New(mp metric.MeterProvider) (*Metrics, error) {
	if mp == nil {
		mp = noop.NewMeterProvider()
	}
	m := &Metrics{processing: map[string]int64{}, stuck: map[string]int64{}}
	meter := mp.Meter(ScopeName)
	var err error
	counter := func(dst *metric.Int64Counter, name, desc string) {
		if err == nil {
			*dst, err = meter.Int64Counter(name, metric.WithDescription(desc), metric.WithUnit("1"))
			if err != nil {
				err = fmt.Errorf("metric.Meter.Int64Counter(%s): %w", name, err)
			}
		}
	}
	histogram := func(dst *metric.Float64Histogram, name, desc string) {
		if err == nil {
			*dst, err = meter.Float64Histogram(name, metric.WithDescription(desc), metric.WithUnit("s"),
				metric.WithExplicitBucketBoundaries(latencyBuckets...))
			if err != nil {
				err = fmt.Errorf("metric.Meter.Float64Histogram(%s): %w", name, err)
			}
		}
	}
	counter(&m.issuances, NameIssuances, "Finalizes that ended, by profile, backend and outcome.")
	histogram(&m.issuanceDuration, NameIssuanceDuration, "Time from an order's move to processing to the end of its finalize.")
	counter(&m.validations, NameValidations, "Challenge validations recorded, by challenge type and outcome.")
	histogram(&m.validationDuration, NameValidationDuration, "Time one challenge validation took.")
	counter(&m.caCalls, NameCACalls, "Calls to a CA backend, by backend, operation and outcome class.")
	histogram(&m.caDuration, NameCACallDuration, "Time one call to a CA backend took.")
	counter(&m.rateLimited, NameRateLimited, "Requests refused by a rate limit, by limit.")
	counter(&m.nonceRejections, NameNonceRejections, "Replay nonces rejected, by reason.")
	if err != nil {
		return nil, err
	}
	if m.processingGauge, err = meter.Int64ObservableGauge(NameProcessing, metric.WithUnit("{item}"),
		metric.WithDescription("Orders and challenges the last reconcile pass found processing, by kind.")); err != nil {
		return nil, fmt.Errorf("metric.Meter.Int64ObservableGauge(%s): %w", NameProcessing, err)
	}
	if m.stuckGauge, err = meter.Int64ObservableGauge(NameStuck, metric.WithUnit("{item}"),
		metric.WithDescription("Orders and challenges the last reconcile pass found stuck (processing past their task) and re-ran, by kind.")); err != nil {
		return nil, fmt.Errorf("metric.Meter.Int64ObservableGauge(%s): %w", NameStuck, err)
	}
	if _, err := meter.RegisterCallback(m.observe, m.processingGauge, m.stuckGauge); err != nil {
		return nil, fmt.Errorf("metric.Meter.RegisterCallback: %w", err)
	}
	return m, nil
}

// Issuance counts a finalize that ended with outcome, took took since the
// order went processing.
func (m *Metrics) Issuance(ctx context.Context, profile, backend, outcome string, took time.Duration) {
	if m == nil {
		return
	}
	set := metric.WithAttributeSet(attribute.NewSet(attribute.String("profile", profile),
		attribute.String("backend", backend), attribute.String("outcome", outcome)))
	m.issuances.Add(ctx, 1, set)
	m.issuanceDuration.Record(ctx, took.Seconds(), set)
}

// Validation counts a challenge validation of type typ (http-01, dns-01,
// tls-alpn-01) that ended with outcome after took.
func (m *Metrics) Validation(ctx context.Context, typ, outcome string, took time.Duration) {
	if m == nil {
		return
	}
	set := metric.WithAttributeSet(attribute.NewSet(attribute.String("challenge_type", typ), attribute.String("outcome", outcome)))
	m.validations.Add(ctx, 1, set)
	m.validationDuration.Record(ctx, took.Seconds(), set)
}

// CACall counts one call to a CA backend.
func (m *Metrics) CACall(ctx context.Context, backend, operation, outcome string, took time.Duration) {
	if m == nil {
		return
	}
	set := metric.WithAttributeSet(attribute.NewSet(attribute.String("backend", backend),
		attribute.String("operation", operation), attribute.String("outcome", outcome)))
	m.caCalls.Add(ctx, 1, set)
	m.caDuration.Record(ctx, took.Seconds(), set)
}

// RateLimited counts a request refused by the named limit.
func (m *Metrics) RateLimited(ctx context.Context, limit string) {
	if m == nil {
		return
	}
	m.rateLimited.Add(ctx, 1, metric.WithAttributes(attribute.String("limit", limit)))
}

// NonceRejected counts a nonce rejected for reason.
func (m *Metrics) NonceRejected(ctx context.Context, reason string) {
	if m == nil {
		return
	}
	m.nonceRejections.Add(ctx, 1, metric.WithAttributes(attribute.String("reason", reason)))
}

// ReconcilePass reports what a reconcile pass found: orders and
// challenges processing, and of those the ones stuck (re-run by the pass:
// an order processing past the reconciler's age, a challenge that two
// passes in a row found processing). The gauges report the last pass.
func (m *Metrics) ReconcilePass(orders, challenges, stuckOrders, stuckChallenges int) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.processing["order"], m.processing["challenge"] = int64(orders), int64(challenges)
	m.stuck["order"], m.stuck["challenge"] = int64(stuckOrders), int64(stuckChallenges)
	m.reported = true
}

// observe reports the gauges; nothing before the first pass, so a process
// that runs no reconciler exports no zero it never measured.
func (m *Metrics) observe(_ context.Context, o metric.Observer) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.reported {
		return nil
	}
	for _, kind := range []string{"order", "challenge"} {
		attrs := metric.WithAttributes(attribute.String("kind", kind))
		o.ObserveInt64(m.processingGauge, m.processing[kind], attrs)
		o.ObserveInt64(m.stuckGauge, m.stuck[kind], attrs)
	}
	return nil
}
