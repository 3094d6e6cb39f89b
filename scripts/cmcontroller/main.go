// Command cmcontroller runs the controllers of the real cert-manager
// (github.com/cert-manager/cert-manager) that an ACME ClusterIssuer needs,
// out of cluster, against the kube-apiserver named by --kubeconfig: the
// Certificate controllers (trigger, key-manager, request-manager, issuing,
// readiness, revision-manager), the CertificateRequest approver and ACME
// issuer, the ACME orders and challenges controllers and the ClusterIssuer
// controller.
//
// It stands in for cert-manager's cmd/controller, a nested module that is
// not served by the Go module proxy, for scripts/e2e's run of the real
// controller against acmera. Its flags keep cert-manager's names and
// defaults. Only the ACME issuer is linked in (the Venafi one pulls a module
// the proxy refuses).
//
// It is its own Go module so that cert-manager's controller and DNS-provider
// dependencies stay out of acmera's go.mod; scripts/k8s-build.sh builds it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"k8s.io/klog/v2"

	controllerpkg "github.com/cert-manager/cert-manager/pkg/controller"
	logf "github.com/cert-manager/cert-manager/pkg/logs"

	// The controllers register themselves with controllerpkg in init.
	_ "github.com/cert-manager/cert-manager/pkg/controller/acmechallenges"
	_ "github.com/cert-manager/cert-manager/pkg/controller/acmeorders"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/acme"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/approver"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/issuing"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/keymanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/readiness"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/requestmanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/revisionmanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/trigger"
	_ "github.com/cert-manager/cert-manager/pkg/controller/clusterissuers"
	// The ACME issuer registers itself with pkg/issuer in init.
	_ "github.com/cert-manager/cert-manager/pkg/issuer/acme"
)

// controllers are the controllers run, by their registered names.
var controllers = []string{
	"certificates-trigger",
	"certificates-key-manager",
	"certificates-request-manager",
	"certificates-issuing",
	"certificates-readiness",
	"certificates-revision-manager",
	"certificaterequests-approver",
	"certificaterequests-issuer-acme",
	"orders",
	"challenges",
	"clusterissuers",
}

// config holds the flags, named as cert-manager's controller names them.
type config struct {
	kubeconfig         string        // --kubeconfig
	clusterResourceNS  string        // --cluster-resource-namespace: where ClusterIssuer secrets live
	dns01Nameservers   string        // --dns01-recursive-nameservers: host:port,...
	dns01Only          bool          // --dns01-recursive-nameservers-only
	dns01RetryPeriod   time.Duration // --dns01-check-retry-period
	maxChallenges      int           // --max-concurrent-challenges
	workers            int           // --concurrent-workers
	minBackoff         time.Duration // --certificate-request-minimum-backoff-duration
	maxBackoff         time.Duration // --certificate-request-maximum-backoff-duration
	kubeQPS, kubeBurst int           // --kube-api-qps, --kube-api-burst
}

func main() {
	var c config
	fs := flag.NewFlagSet("cmcontroller", flag.ExitOnError)
	fs.StringVar(&c.kubeconfig, "kubeconfig", "", "path to a kubeconfig (required)")
	fs.StringVar(&c.clusterResourceNS, "cluster-resource-namespace", "kube-system", "namespace of the Secrets a ClusterIssuer refers to")
	fs.StringVar(&c.dns01Nameservers, "dns01-recursive-nameservers", "", "comma-separated host:port nameservers for the dns01 self-check")
	fs.BoolVar(&c.dns01Only, "dns01-recursive-nameservers-only", false, "check dns01 propagation only against --dns01-recursive-nameservers, not the zone's authoritative servers")
	fs.DurationVar(&c.dns01RetryPeriod, "dns01-check-retry-period", 10*time.Second, "time between dns01 self-checks")
	fs.IntVar(&c.maxChallenges, "max-concurrent-challenges", 60, "challenges processed at once")
	fs.IntVar(&c.workers, "concurrent-workers", 5, "workers per controller")
	fs.DurationVar(&c.minBackoff, "certificate-request-minimum-backoff-duration", time.Hour, "first back-off after a failed CertificateRequest")
	fs.DurationVar(&c.maxBackoff, "certificate-request-maximum-backoff-duration", 32*time.Hour, "longest back-off after failed CertificateRequests")
	fs.IntVar(&c.kubeQPS, "kube-api-qps", 20, "client QPS to the apiserver")
	fs.IntVar(&c.kubeBurst, "kube-api-burst", 50, "client burst to the apiserver")
	klog.InitFlags(fs) // -v, --logtostderr, ...
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	if c.kubeconfig == "" {
		fmt.Fprintln(os.Stderr, "cmcontroller: --kubeconfig is required")
		os.Exit(2)
	}
	logf.InitLogs()
	defer logf.FlushLogs()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, c); err != nil {
		fmt.Fprintln(os.Stderr, "cmcontroller:", err)
		os.Exit(1)
	}
}

// run builds the controllers, starts the shared informers and blocks until
// ctx is done and every controller has returned.
func run(ctx context.Context, c config) error {
	ctx = logf.NewContext(ctx, logf.Log, "cmcontroller")
	var nameservers []string
	for _, s := range strings.Split(c.dns01Nameservers, ",") {
		if s = strings.TrimSpace(s); s != "" {
			nameservers = append(nameservers, s)
		}
	}
	factory, err := controllerpkg.NewContextFactory(ctx, controllerpkg.ContextOptions{
		Kubeconfig:         c.kubeconfig,
		KubernetesAPIQPS:   float32(c.kubeQPS),
		KubernetesAPIBurst: c.kubeBurst,
		IssuerOptions: controllerpkg.IssuerOptions{
			ClusterResourceNamespace: c.clusterResourceNS,
		},
		ACMEOptions: controllerpkg.ACMEOptions{
			DNS01Nameservers:        nameservers,
			DNS01CheckAuthoritative: !c.dns01Only,
			DNS01CheckRetryPeriod:   c.dns01RetryPeriod,
		},
		CertificateOptions: controllerpkg.CertificateOptions{
			CertificateRequestMinimumBackoffDuration: c.minBackoff,
			CertificateRequestMaximumBackoffDuration: c.maxBackoff,
		},
		SchedulerOptions: controllerpkg.SchedulerOptions{MaxConcurrentChallenges: c.maxChallenges},
	})
	if err != nil {
		return fmt.Errorf("controller.NewContextFactory: %w", err)
	}

	known := controllerpkg.Known()
	var run []controllerpkg.Interface
	for _, name := range controllers {
		fn, ok := known[name]
		if !ok {
			return fmt.Errorf("controller %q is not registered (registered: %s)", name, names(known))
		}
		ctrl, err := fn(factory)
		if err != nil {
			return fmt.Errorf("constructing controller %q: %w", name, err)
		}
		run = append(run, ctrl)
	}

	// Every Context built by the factory shares its informer factories:
	// start them once all controllers have asked for their informers.
	shared, err := factory.Build()
	if err != nil {
		return fmt.Errorf("ContextFactory.Build: %w", err)
	}
	shared.KubeSharedInformerFactory.Start(ctx.Done())
	shared.SharedInformerFactory.Start(ctx.Done())
	shared.HTTP01ResourceMetadataInformersFactory.Start(ctx.Done())
	if shared.GatewaySolverEnabled {
		shared.GWShared.Start(ctx.Done())
	}

	var wg sync.WaitGroup
	errs := make(chan error, len(run))
	for i, ctrl := range run {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := ctrl.Run(c.workers, ctx); err != nil {
				errs <- fmt.Errorf("controller %q: %w", controllers[i], err)
			}
		}()
	}
	klog.InfoS("cmcontroller: started", "controllers", controllers)
	wg.Wait()
	close(errs)
	return <-errs
}

// names lists the registered controller names, sorted.
func names(m map[string]controllerpkg.Constructor) string {
	var s []string
	for n := range m {
		s = append(s, n)
	}
	sort.Strings(s)
	return strings.Join(s, ", ")
}
