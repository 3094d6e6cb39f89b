package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"time"

	acmefn "github.com/acmera/acmera/functions/acme"
	"github.com/acmera/acmera/pkg/ca"
	"github.com/acmera/acmera/pkg/ca/local"
	"github.com/acmera/acmera/pkg/config"
	"github.com/acmera/acmera/pkg/logging"
	"github.com/acmera/acmera/pkg/nonce"
	"github.com/acmera/acmera/pkg/queue"
	"github.com/acmera/acmera/pkg/queue/inproc"
	"github.com/acmera/acmera/pkg/ra"
	"github.com/acmera/acmera/pkg/store"
	"github.com/acmera/acmera/pkg/store/bolt"
)

// pollWait is how long a client's poll of a processing authorization or
// order may wait for its result: the in-process queue validates in this
// process, so most polls get the result instead of "processing".
const pollWait = 2 * time.Second

// accountCacheTTL is how long the embedded default reuses an account read.
// It is the only process on its bbolt file, so the RA's own evictions keep
// the cache exact: a deactivation or key rollover holds from the next
// request (the cloud functions, many instances on one store, cache none).
const accountCacheTTL = 5 * time.Second

// serverCertLifetime is the lifetime of the HTTPS listener's certificate;
// it is renewed in memory once two thirds of it have passed.
const serverCertLifetime = 7 * 24 * time.Hour

// embeddedGCPercent is the garbage collector's target in the embedded
// default when GOGC is not set. Its live heap is small (about 12 MiB at
// several hundred issuances a second), so letting the heap grow to three
// times that between collections instead of two costs about 12 MiB and
// saves about 5 % of the CPU per issuance (README, Performance).
const embeddedGCPercent = 200

// tuneGC sets embeddedGCPercent unless the operator set GOGC, which the Go
// runtime has then applied already.
func tuneGC(env func(string) string) {
	if env("GOGC") == "" {
		debug.SetGCPercent(embeddedGCPercent)
	}
}

// runEmbedded runs the whole RA in this process: bbolt in the data
// directory, the in-process queue, the local CA, HTTPS on ACMERA_ADDR.
func runEmbedded(ctx context.Context, env func(string) string, stdout, stderr io.Writer) error {
	cfg, err := config.ReadEmbedded(env)
	if err != nil {
		return err
	}
	tuneGC(env)
	log := logging.New(stderr, logLevel(cfg.LogLevel), "")
	m, stopMetrics, err := startEmbeddedMetrics(cfg.MetricsAddr, log)
	if err != nil {
		return err
	}
	defer stopMetrics()
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("ACMERA_DATA_DIR: %w", err)
	}
	st, err := bolt.Open(filepath.Join(cfg.DataDir, "acmera.db"))
	if err != nil {
		return fmt.Errorf("bolt.Open: %w", err)
	}
	defer st.Close()
	defer startPruner(ctx, st, log)()
	// Listen before the CA opens: its leaves name the CRL's URL, which
	// needs the port (ACMERA_ADDR may ask for any free one).
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("ACMERA_ADDR: %w", err)
	}
	defer ln.Close() // also closed by the server; a second Close is harmless
	issuer, err := local.Open(ctx, local.Config{Dir: cfg.DataDir, CRLURL: crlURL(cfg.BaseURL, ln.Addr().String())})
	if err != nil {
		return fmt.Errorf("local.Open: %w", err)
	}
	backends, closeBackends, err := buildBackends(ctx, cfg.Common,
		ca.Backend{Name: config.BackendLocal, Description: "acmera's local CA", Issuer: issuer}, log)
	if err != nil {
		return err
	}
	defer closeBackends()
	v, err := newValidator(cfg.Common, true, log)
	if err != nil {
		return err
	}
	var r *ra.RA // set below, before any task can be enqueued
	q := inproc.New(ctx, queue.HandlerFunc(func(ctx context.Context, t queue.Task) error { return r.HandleTask(ctx, t) }),
		inproc.Config{Workers: 64, Capacity: 4096, MaxAttempts: 8, Logger: log})
	parts := acmefn.Parts{Store: st, Queue: q, Backends: backends, Validator: v, Policy: cfg.Policy,
		NonceKey: nonce.NewKey(), BaseURL: cfg.BaseURL, Logger: log, PollWait: pollWait, AccountCacheTTL: accountCacheTTL,
		TermsOfService: cfg.TermsOfService, Website: cfg.Website,
		NewAccountsPerHour: cfg.NewAccountsPerHour, TrustedProxies: cfg.TrustedProxies,
		FinalizeRetryDelay: cfg.FinalizeRetryDelay, Metrics: m}
	if r, err = acmefn.NewRA(parts); err != nil {
		return err
	}
	h, err := acmefn.NewHandler(r, parts)
	if err != nil {
		return err
	}
	if err := recoverWork(ctx, st, q); err != nil {
		return err
	}
	// The admin socket once the RA exists: admin revocations go through
	// it. Until then `acmera eab` and `acmera admin` find the file locked
	// and say so.
	stopAdmin, err := serveAdmin(filepath.Join(cfg.DataDir, adminSocketName), st, cfg.Policy, cfg.Pprof, log,
		adminOpsRoutes(&raOperator{lister: st, rec: st, r: r}),
		func(mux *http.ServeMux) { mux.Handle("GET /{$}", adminPageHandler(st, log)) })
	if err != nil {
		return err
	}
	defer stopAdmin()
	stopPage, err := serveAdminPage(cfg.AdminAddr, st, log)
	if err != nil {
		return err
	}
	defer stopPage()
	// Beside the pruner: work a crash or a dropped task left processing
	// is finished without waiting for the next restart.
	defer startReconciler(ctx, r, st, cfg.ReconcileInterval)()
	names := append([]string{"localhost", "127.0.0.1", "::1"}, cfg.Hostnames...)
	certs := &serverCerts{ca: issuer, names: names}
	if _, err := certs.get(nil); err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle(crlPath, issuer.CRLHandler())
	mux.Handle("/", h)
	srv := embeddedServer(mux, &tls.Config{GetCertificate: certs.get, MinVersion: tls.VersionTLS12})
	printBanner(stdout, ln.Addr().String(), cfg, issuer.RootPath())
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(ln, "", "") }()
	select {
	case err := <-errc:
		return fmt.Errorf("http.Server.ServeTLS: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("http.Server.Shutdown", "error", err.Error())
	}
	if err := q.Close(sctx); err != nil {
		log.Warn("inproc.Queue.Close", "error", err.Error())
	}
	return nil
}

// crlPath is where the embedded default serves the local CA's CRL.
const crlPath = "/crl/intermediate.crl"

// crlURL is the CRL's URL as clients reach it: under base
// (ACMERA_BASE_URL), or else on the listening address (an unspecified
// host read as localhost).
func crlURL(base, addr string) string {
	if base != "" {
		return base + crlPath
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	return "https://" + net.JoinHostPort(host, port) + crlPath
}

// Timeouts of the embedded HTTPS server, so that a client that stalls
// (slowloris, a reader that never reads) cannot hold a connection and its
// goroutine for ever:
//   - headers within 10 s, and the whole request (bodies are at most
//     64 KiB) within 30 s of the connection's accept or last request;
//   - the response written within writeTimeout of the request's headers.
//     That covers the handler: the longest is a poll of a processing
//     authorization or order, which waits at most ra.MaxPollWait (pollWait
//     is 2 s) plus a store read; finalize signs in this process in
//     milliseconds. writeTimeout is six times that wait, and a test keeps
//     it above it;
//   - an idle keep-alive connection closed after 2 minutes.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 2 * time.Minute
)

// embeddedServer is the embedded default's HTTPS server for h.
func embeddedServer(h http.Handler, tc *tls.Config) *http.Server {
	return &http.Server{Handler: h, TLSConfig: tc, ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout: readTimeout, WriteTimeout: writeTimeout, IdleTimeout: idleTimeout}
}

// Pruning of expired objects from the embedded store (the Firestore TTLs'
// retention, see bolt.Prune): every pruneInterval, at most pruneLimit
// documents of each kind are examined, which keeps up with about 500
// issuances per second.
const (
	pruneInterval = 10 * time.Second
	pruneLimit    = 5000
)

// startPruner runs the store's pruner until ctx is done or the returned
// function is called; that function returns once the pruner has stopped,
// so the store can be closed after it.
func startPruner(ctx context.Context, st *bolt.Store, log *slog.Logger) func() {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		st.RunPruner(ctx, pruneInterval, pruneLimit, func(err error) {
			log.Warn("bolt.Store.Prune", "error", err.Error())
		})
	}()
	return func() { cancel(); <-done }
}

// startReconciler runs r's reconciler of the work rec lists every
// interval (none when interval is 0) until ctx is done or the returned
// function is called; that function returns once the loop has stopped,
// so the store can be closed after it.
func startReconciler(ctx context.Context, r *ra.RA, rec store.Recoverer, interval time.Duration) func() {
	if interval <= 0 {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.NewReconciler(rec, 0).Run(ctx, interval)
	}()
	return func() { cancel(); <-done }
}

// recoverWork re-queues what a crash interrupted: challenges and orders
// left processing. Tasks are idempotent, so re-running a finished one is
// harmless.
func recoverWork(ctx context.Context, rec store.Recoverer, q queue.Enqueuer) error {
	chs, err := rec.ProcessingChallenges(ctx)
	if err != nil {
		return fmt.Errorf("store.ProcessingChallenges: %w", err)
	}
	for _, c := range chs {
		if err := q.Enqueue(ctx, queue.Task{Kind: queue.KindValidate, AuthzID: c[0], ChallengeID: c[1]}); err != nil {
			return fmt.Errorf("queue.Enqueue: %w", err)
		}
	}
	orders, err := rec.ProcessingOrders(ctx)
	if err != nil {
		return fmt.Errorf("store.ProcessingOrders: %w", err)
	}
	for _, id := range orders {
		if err := q.Enqueue(ctx, queue.Task{Kind: queue.KindFinalize, OrderID: id}); err != nil {
			return fmt.Errorf("queue.Enqueue: %w", err)
		}
	}
	return nil
}

// serverCerts issues the HTTPS listener's certificate from the local CA and
// renews it in memory before it expires.
type serverCerts struct {
	ca    *local.CA
	names []string
	mu    sync.Mutex
	cert  *tls.Certificate
	renew time.Time
}

func (s *serverCerts) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cert != nil && time.Now().Before(s.renew) {
		return s.cert, nil
	}
	c, err := s.ca.ServerCertificate(s.names, serverCertLifetime)
	if err != nil {
		if s.cert != nil {
			return s.cert, nil
		}
		return nil, fmt.Errorf("local.CA.ServerCertificate: %w", err)
	}
	s.cert, s.renew = c, time.Now().Add(serverCertLifetime*2/3)
	return c, nil
}

// printBanner tells the user where the directory and the root are, with a
// ready-to-paste certbot line.
func printBanner(w io.Writer, addr string, cfg *config.Embedded, root string) {
	host, port, _ := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	base := "https://" + net.JoinHostPort(host, port)
	if cfg.BaseURL != "" {
		base = cfg.BaseURL
	}
	dir := base + "/acme/acme/directory"
	abs, err := filepath.Abs(root)
	if err != nil {
		abs = root
	}
	fmt.Fprintf(w, "acmera is running (embedded default)\n")
	fmt.Fprintf(w, "  directory: %s\n", dir)
	fmt.Fprintf(w, "  root CA:   %s\n", abs)
	fmt.Fprintf(w, "  certbot:   REQUESTS_CA_BUNDLE=%s certbot certonly --server %s --standalone -d example.internal --register-unsafely-without-email --agree-tos\n", abs, dir)
}
