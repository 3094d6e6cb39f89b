package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/acmera/acmera/scripts/internal/e2eutil"
	"github.com/acmera/acmera/scripts/testdns"
)

// drainGrace bounds how long issuances still in flight at the end of the
// window may take to finish before they are cancelled.
const drainGrace = 15 * time.Second

// target is the server under load and its validation plumbing.
type target struct {
	dirURL string
	roots  *x509.CertPool
	pid    int // 0: not sampled
	child  *child
	dns    *testdns.Server
	rsp    *e2eutil.HTTP01
}

func (t *target) close() {
	if t.child != nil {
		t.child.stop()
	}
	if t.rsp != nil {
		t.rsp.Close()
	}
	if t.dns != nil {
		_ = t.dns.Close()
	}
}

// setup starts the DNS server and the http-01 responder on loopback, then
// the server (or reads the root of an already running one).
func setup(ctx context.Context, cfg config) (*target, error) {
	t := &target{pid: cfg.PID}
	var err error
	if t.dns, err = testdns.Start(ctx, testdns.Config{Addr: cfg.DNSAddr}); err != nil {
		return nil, fmt.Errorf("testdns.Start: %w", err)
	}
	if t.rsp, err = e2eutil.StartHTTP01(cfg.HTTP01Addr); err != nil {
		t.close()
		return nil, err
	}
	if cfg.Server == "" {
		t.dirURL = cfg.Directory
		if err := t.useRunning(ctx, cfg.Root); err != nil {
			t.close()
			return nil, err
		}
		return t, nil
	}
	t.child, err = startChild(ctx, e2eutil.ServerConfig{Bin: cfg.Server, Resolver: t.dns.Addr(),
		HTTP01Port: t.rsp.Port, LogLevel: cfg.LogLevel, Env: cfg.Env})
	if err != nil {
		t.close()
		return nil, err
	}
	t.dirURL, t.roots, t.pid = t.child.DirURL, t.child.Root, t.child.Pid()
	return t, nil
}

// useRunning reads the root of an already running server and waits,
// briefly, until it serves its directory.
func (t *target) useRunning(ctx context.Context, root string) error {
	if root != "" {
		var err error
		if t.roots, err = e2eutil.LoadRoots(root); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	hc := e2eutil.HTTPClient(t.roots)
	defer hc.CloseIdleConnections()
	return e2eutil.WaitHTTP(ctx, hc, t.dirURL, http.StatusOK, nil)
}

// recorder collects issuance outcomes. Only issuances that complete while
// the window is open count for throughput and latency; errors count
// whenever they happen.
type recorder struct {
	mu         sync.Mutex
	state      int // 0 warmup, 1 measuring, 2 closed
	latencies  []time.Duration
	validation []time.Duration
	warmup     int
	after      int
	errors     map[string]int
	examples   map[string]string
	completed  atomic.Int64 // successful issuances, whatever the window
}

// maxLatencies bounds the latencies kept.
const maxLatencies = 5_000_000

func newRecorder() *recorder {
	return &recorder{errors: map[string]int{}, examples: map[string]string{}}
}

func (r *recorder) record(d, validation time.Duration, stage string, err error) {
	if err == nil {
		r.completed.Add(1)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		k := errorKind(stage, err)
		r.errors[k]++
		if _, ok := r.examples[k]; !ok {
			r.examples[k] = err.Error()
		}
		return
	}
	switch r.state {
	case 0:
		r.warmup++
	case 1:
		if len(r.latencies) < maxLatencies {
			r.latencies = append(r.latencies, d)
			r.validation = append(r.validation, validation)
		}
	default:
		r.after++
	}
}

// setState moves the window and calls at the same moment, under the lock,
// so snapshots line up with the counts.
func (r *recorder) setState(s int, at func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.state = s
	at()
}

// run registers the clients, runs the load and measures it.
func run(ctx context.Context, cfg config, logw io.Writer) (*Result, error) {
	tg, err := setup(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer tg.close()
	fmt.Fprintf(logw, "load: directory %s, %d clients, warmup %s, duration %s\n", tg.dirURL, cfg.Clients, cfg.Warmup, cfg.Duration)
	cnt := newCounter()
	workers, err := register(ctx, tg, cnt, cfg)
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, w := range workers {
			w.close()
		}
	}()
	return measure(ctx, tg, workers, cnt, cfg)
}

// register makes every client's account, in parallel, bounded by the
// issuance timeout.
func register(ctx context.Context, tg *target, cnt *counter, cfg config) ([]*worker, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	workers := make([]*worker, cfg.Clients)
	errs := make([]error, cfg.Clients)
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() { workers[i], errs[i] = newWorker(ctx, tg.dirURL, tg.roots, cnt, tg.rsp, cfg) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		for _, w := range workers {
			if w != nil {
				w.close()
			}
		}
		return nil, fmt.Errorf("register accounts: %w", err)
	}
	return workers, nil
}

// snap is the resource use at one instant.
type snap struct {
	at     time.Time
	server procStat
	client time.Duration
	busy   time.Duration // all CPUs, from /proc/stat
}

func (tg *target) snapshot(s *sampler) snap {
	busy, _ := machineCPU()
	sn := snap{at: time.Now(), client: selfCPU(), busy: busy}
	if s != nil {
		sn.server = s.sample()
	}
	return sn
}

// measure drives the workers through warmup and the window, then drains.
func measure(ctx context.Context, tg *target, workers []*worker, cnt *counter, cfg config) (*Result, error) {
	start := time.Now()
	var smp *sampler
	sctx, stopSampling := context.WithCancel(ctx)
	defer stopSampling()
	rec := newRecorder()
	if tg.pid != 0 {
		smp = newSampler(tg.pid, start, cfg.Sample, rec.completed.Load)
		go smp.run(sctx)
	}
	stopNew := make(chan struct{}) // closed at the end of the window
	drainCtx, cancelDrain := context.WithCancel(ctx)
	defer cancelDrain()
	var claims atomic.Int64
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Go(func() { loop(drainCtx, w, rec, stopNew, &claims, cfg) })
	}
	allDone := make(chan struct{})
	go func() { wg.Wait(); close(allDone) }()

	var begin, end snap
	rec.setState(0, func() { begin = tg.snapshot(smp) })
	if cfg.Warmup > 0 {
		waitFor(ctx, cfg.Warmup, allDone)
		rec.setState(1, func() { begin = tg.snapshot(smp); cnt.on.Store(true) })
	} else {
		rec.setState(1, func() { cnt.on.Store(true) })
	}
	waitFor(ctx, cfg.Duration-time.Since(begin.at), allDone)
	rec.setState(2, func() { end = tg.snapshot(smp); cnt.on.Store(false) })
	close(stopNew)
	drained := waitFor(ctx, drainGrace, allDone)
	cancelDrain()
	<-allDone
	stopSampling()
	res := buildResult(cfg, tg, smp, rec, cnt, begin, end)
	res.DrainedInTime = drained
	return res, ctx.Err()
}

// waitFor waits d, or until done is closed or ctx ends; it reports whether
// done was closed.
func waitFor(ctx context.Context, d time.Duration, done <-chan struct{}) bool {
	if d <= 0 {
		select {
		case <-done:
			return true
		default:
			return false
		}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return false
	case <-done:
		return true
	case <-ctx.Done():
		return false
	}
}

// loop runs one client's issuances back to back until the window closes
// or -max issuances have been started.
func loop(ctx context.Context, w *worker, rec *recorder, stopNew <-chan struct{}, claims *atomic.Int64, cfg config) {
	for {
		select {
		case <-stopNew:
			return
		case <-ctx.Done():
			return
		default:
		}
		if cfg.Max > 0 && claims.Add(1) > int64(cfg.Max) {
			return
		}
		ictx, cancel := context.WithTimeout(ctx, cfg.Timeout)
		t0 := time.Now()
		var val time.Duration
		stage, err := w.issue(ictx, &val)
		cancel()
		rec.record(time.Since(t0), val, stage, err)
	}
}

// machine describes where the run happened.
func machine() Machine {
	return Machine{NumCPU: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), GoVersion: runtime.Version(),
		OS: runtime.GOOS, Arch: runtime.GOARCH, CPUModel: cpuModel()}
}
