package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	acmefn "github.com/acmera/acmera/functions/acme"
	"github.com/acmera/acmera/functions/validator"
	"github.com/acmera/acmera/pkg/ca"
	"github.com/acmera/acmera/pkg/ca/cas"
	"github.com/acmera/acmera/pkg/config"
	"github.com/acmera/acmera/pkg/logging"
	"github.com/acmera/acmera/pkg/nonce"
	"github.com/acmera/acmera/pkg/queue/cloudtasks"
	"github.com/acmera/acmera/pkg/store"
	"github.com/acmera/acmera/pkg/store/firestore"
	"github.com/acmera/acmera/pkg/taskauth"
)

// runFunction serves FUNCTION_TARGET on $PORT with its cloud backends:
// Firestore, Cloud Tasks and CAS, each client built once per instance.
// On SIGTERM it drains the requests in flight (serve).
func runFunction(ctx context.Context, target string, env func(string) string, stderr io.Writer) error {
	cfg, err := config.ReadCloud(env)
	if err != nil {
		return err
	}
	log := logging.New(stderr, logLevel(cfg.LogLevel), cfg.ProjectID)
	service := env("K_SERVICE")
	if service == "" {
		service = "acmera-" + strings.ToLower(target)
	}
	m, stopMetrics, err := startCloudMetrics(ctx, cfg, service, log)
	if err != nil {
		return err
	}
	defer stopMetrics()
	parts, closeParts, err := cloudParts(ctx, cfg, env("FIRESTORE_EMULATOR_HOST"), log)
	if err != nil {
		return err
	}
	defer closeParts()
	parts.Metrics = m
	r, err := acmefn.NewRA(parts)
	if err != nil {
		return err
	}
	var h http.Handler
	switch target {
	case "ACME":
		if h, err = acmefn.NewHandler(r, parts); err != nil {
			return err
		}
		// The read-only admin page at /admin, for IAP or allow-listed
		// service accounts only; 404 when neither is configured.
		gate, err := newAdminGate(ctx, cfg, log)
		if err != nil {
			return err
		}
		lister, _ := parts.Store.(store.Lister)
		h = withAdminPage(h, gate, lister, log)
	case "Validate":
		v, err := taskauth.New(ctx, taskauth.Config{Audience: cfg.OIDCAudience, ServiceAccount: cfg.TasksServiceAccount, JWKSURL: cfg.OIDCJWKSURL})
		if err != nil {
			return fmt.Errorf("taskauth.New: %w", err)
		}
		h = validator.NewHandler(r, v, log)
		// The Validate function holds the CA and the validator, so it
		// finishes the work whose task was lost (see ra.Reconciler).
		if rec, ok := parts.Store.(store.Recoverer); ok {
			defer startReconciler(ctx, r, rec, cfg.ReconcileInterval)()
		}
	}
	ln, err := net.Listen("tcp", ":"+cfg.Port)
	if err != nil {
		return fmt.Errorf("PORT: %w", err)
	}
	log.Info("serving", "function", target, "port", cfg.Port)
	return serve(ctx, functionServer(recoverPanics(log, h)), ln, drainPeriod, log)
}

// cloudParts builds the Google Cloud implementations.
func cloudParts(ctx context.Context, cfg *config.Cloud, emulator string, log *slog.Logger) (acmefn.Parts, func(), error) {
	var closers []func() error
	closeAll := func() {
		for _, c := range closers {
			if err := c(); err != nil {
				log.Warn("close", "error", err.Error())
			}
		}
	}
	fail := func(err error) (acmefn.Parts, func(), error) { closeAll(); return acmefn.Parts{}, nil, err }
	fsCfg := firestore.Config{ProjectID: cfg.ProjectID, DatabaseID: cfg.FirestoreDatabase, EmulatorHost: emulator}
	if cfg.OpsLogInterval > 0 {
		ops := firestore.NewOpCounter()
		fsCfg.DialOptions = ops.DialOptions()
		closers = append(closers, logOps(ctx, ops, cfg.OpsLogInterval, log))
	}
	st, err := firestore.New(ctx, fsCfg)
	if err != nil {
		return fail(fmt.Errorf("firestore.New: %w", err))
	}
	closers = append(closers, st.Close)
	issuer, err := cas.New(ctx, cas.Config{Pool: cfg.CASPool}, endpointOptions(cfg.CASEndpoint)...)
	if err != nil {
		return fail(fmt.Errorf("cas.New: %w", err))
	}
	closers = append(closers, issuer.Close)
	if err := checkCASBackend(ctx, issuer, "ACMERA_CAS_POOL="+cfg.CASPool, profilesOf(cfg.Policy, config.BackendCAS, true), cfg.Policy, log); err != nil {
		return fail(err)
	}
	backends, closeBackends, err := buildBackends(ctx, cfg.Common,
		ca.Backend{Name: config.BackendCAS, Description: "Google CAS pool " + cfg.CASPool, Issuer: issuer}, log)
	if err != nil {
		return fail(err)
	}
	closers = append(closers, func() error { closeBackends(); return nil })
	q, err := cloudtasks.New(ctx, cloudtasks.Config{Queue: cfg.TasksQueue, TargetURL: cfg.ValidatorURL,
		ServiceAccount: cfg.TasksServiceAccount, Audience: cfg.OIDCAudience}, endpointOptions(cfg.TasksEndpoint)...)
	if err != nil {
		return fail(fmt.Errorf("cloudtasks.New: %w", err))
	}
	closers = append(closers, q.Close)
	v, err := newValidator(cfg.Common, false, log)
	if err != nil {
		return fail(err)
	}
	key := cfg.NonceKey
	if key == nil {
		// The validator serves no nonces; the ACME function gets here only
		// in development (ACMERA_PROFILES_ALLOW_ANY).
		log.Debug("ACMERA_NONCE_KEY is not set: using a per-instance nonce key")
		key = nonce.NewKey()
	}
	// No AccountCacheTTL: other instances change accounts in the same
	// Firestore, so every request reads its account (RFC 8555 §7.3.5,
	// §7.3.6). The WFE's parsed-key cache stays: it is keyed by the
	// thumbprint that fresh account names, so it cannot serve an old key.
	return acmefn.Parts{Store: st, Queue: q, Backends: backends, Validator: v, Policy: cfg.Policy, NonceKey: key,
		BaseURL: cfg.BaseURL, Logger: log, NewAccountsPerHour: cfg.NewAccountsPerHour, TrustedProxies: cfg.TrustedProxies,
		TermsOfService: cfg.TermsOfService, Website: cfg.Website,
		FinalizeRetryDelay: cfg.FinalizeRetryDelay}, closeAll, nil
}

// endpointOptions points a Google client at an endpoint override. A
// loopback endpoint (the fakes) is plaintext and unauthenticated; any other
// keeps TLS and the workload's own credentials.
func endpointOptions(endpoint string) []option.ClientOption {
	if endpoint == "" {
		return nil
	}
	opts := []option.ClientOption{option.WithEndpoint(endpoint)}
	host, _, err := net.SplitHostPort(endpoint)
	if ip := net.ParseIP(host); err == nil && (host == "localhost" || ip != nil && ip.IsLoopback()) {
		opts = append(opts, option.WithoutAuthentication(),
			option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	}
	return opts
}

// logOps logs ops' running totals every interval, and once more when the
// returned function stops it.
func logOps(ctx context.Context, ops *firestore.OpCounter, interval time.Duration, log *slog.Logger) func() error {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	emit := func() {
		c := ops.Snapshot()
		log.Info("firestore operations", "event", "firestore.ops", "reads", c.Reads, "writes", c.Writes, "rpcs", c.RPCs)
	}
	go func() {
		defer close(done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				emit()
			}
		}
	}()
	return func() error { cancel(); <-done; emit(); return nil }
}
