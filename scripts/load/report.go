package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"time"
)

// Result is what one load run measured. Throughput, latency, CPU and
// request counts cover the measured window (after warmup); errors cover
// the whole run.
type Result struct {
	Machine   Machine `json:"machine"`
	Directory string  `json:"directory"`
	Clients   int     `json:"clients"`
	WarmupS   float64 `json:"warmup_s"`
	WindowS   float64 `json:"window_s"` // measured seconds (may end early with -max)
	Poll      string  `json:"poll"`
	Reconnect bool    `json:"reconnect"`
	LogLevel  string  `json:"log_level,omitempty"`

	Issued       int     `json:"issued"`        // completed in the window
	WarmupIssued int     `json:"warmup_issued"` // completed during warmup
	DrainIssued  int     `json:"drain_issued"`  // completed after the window
	PerSecond    float64 `json:"issuances_per_s"`
	Latency      Latency `json:"latency_ms"`

	Errors        map[string]int    `json:"errors"`
	ErrorTotal    int               `json:"error_total"`
	ErrorExamples map[string]string `json:"error_examples,omitempty"`
	DrainedInTime bool              `json:"drained_in_time"`

	Requests            map[string]ReqStat `json:"requests"` // round trips as the clients saw them
	RequestsPerIssuance float64            `json:"requests_per_issuance"`
	// Validation is the wait from the challenge POST's answer to the
	// authorization being valid, as the clients' polling saw it.
	Validation Latency `json:"validation_wait_ms"`

	Server *ServerUse `json:"server,omitempty"`
	Client ClientUse  `json:"client"`
	// BusyCores is how many CPUs the whole machine kept busy in the window
	// (/proc/stat); OtherCores is what neither the server nor the load
	// tool used: other work sharing the machine.
	BusyCores  float64 `json:"machine_busy_cores"`
	OtherCores float64 `json:"other_cores,omitempty"`
}

// Machine is where the run happened.
type Machine struct {
	NumCPU     int    `json:"nproc"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	GoVersion  string `json:"go_version"`
	OS         string `json:"os"`
	Arch       string `json:"arch"`
	CPUModel   string `json:"cpu_model,omitempty"`
}

// Latency is the distribution of one full issuance's wall time, in ms.
type Latency struct {
	P50  float64 `json:"p50"`
	P95  float64 `json:"p95"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

// ServerUse is the server process's resource use from /proc/PID.
type ServerUse struct {
	PID              int      `json:"pid"`
	CPUSeconds       float64  `json:"cpu_s"`                 // utime+stime in the window
	CPUPerIssuanceMs float64  `json:"cpu_per_issuance_ms"`   // the above / issued
	CPUCores         float64  `json:"cpu_cores"`             // CPU seconds / window seconds
	RSSAfterWarmup   float64  `json:"rss_after_warmup_mib"`  // VmRSS at the window's start
	RSSEnd           float64  `json:"rss_end_mib"`           // VmRSS at the window's end
	RSSPeakSampled   float64  `json:"rss_peak_sampled_mib"`  // highest VmRSS sampled
	HWM              float64  `json:"vmhwm_mib"`             // VmHWM at the window's end
	AnonAfterWarmup  float64  `json:"anon_after_warmup_mib"` // RssAnon (heap, stacks)
	AnonEnd          float64  `json:"anon_end_mib"`
	FileAfterWarmup  float64  `json:"file_after_warmup_mib"` // RssFile (mapped bbolt file)
	FileEnd          float64  `json:"file_end_mib"`
	Samples          []Sample `json:"samples,omitempty"`
	SampleError      string   `json:"sample_error,omitempty"`
}

// ClientUse is the load tool's own CPU (clients, DNS server, responder).
type ClientUse struct {
	CPUSeconds       float64 `json:"cpu_s"`
	CPUPerIssuanceMs float64 `json:"cpu_per_issuance_ms"`
	CPUCores         float64 `json:"cpu_cores"`
}

func buildResult(cfg config, tg *target, smp *sampler, rec *recorder, cnt *counter, begin, end snap) *Result {
	rec.mu.Lock()
	lat := slices.Clone(rec.latencies)
	val := slices.Clone(rec.validation)
	res := &Result{
		Machine: machine(), Directory: tg.dirURL, Clients: cfg.Clients, WarmupS: cfg.Warmup.Seconds(),
		WindowS: end.at.Sub(begin.at).Seconds(), Poll: pollName(cfg.Poll), Reconnect: cfg.Reconnect,
		Issued: len(lat), WarmupIssued: rec.warmup, DrainIssued: rec.after,
		Errors: maps.Clone(rec.errors), ErrorExamples: maps.Clone(rec.examples),
	}
	rec.mu.Unlock()
	if tg.child != nil {
		res.LogLevel = cfg.LogLevel
	}
	for _, n := range res.Errors {
		res.ErrorTotal += n
	}
	res.Latency = latency(lat)
	res.Validation = latency(val)
	var total int
	res.Requests, total = cnt.counts()
	if res.Issued > 0 {
		res.PerSecond = float64(res.Issued) / res.WindowS
		res.RequestsPerIssuance = float64(total) / float64(res.Issued)
	}
	res.Client = ClientUse{CPUSeconds: (end.client - begin.client).Seconds()}
	res.Client.CPUPerIssuanceMs, res.Client.CPUCores = perIssuance(end.client-begin.client, res.Issued, res.WindowS)
	if res.WindowS > 0 {
		res.BusyCores = (end.busy - begin.busy).Seconds() / res.WindowS
	}
	if smp != nil {
		res.Server = serverUse(tg.pid, smp, begin, end, res)
		res.OtherCores = max(0, res.BusyCores-res.Server.CPUCores-res.Client.CPUCores)
	}
	return res
}

func serverUse(pid int, smp *sampler, begin, end snap, res *Result) *ServerUse {
	samples, peak, err := smp.snapshot()
	cpu := end.server.CPU - begin.server.CPU
	su := &ServerUse{PID: pid, CPUSeconds: cpu.Seconds(), RSSAfterWarmup: mib(begin.server.RSS),
		RSSEnd: mib(end.server.RSS), RSSPeakSampled: mib(peak), HWM: mib(end.server.HWM), Samples: samples,
		AnonAfterWarmup: mib(begin.server.Anon), AnonEnd: mib(end.server.Anon),
		FileAfterWarmup: mib(begin.server.File), FileEnd: mib(end.server.File)}
	su.CPUPerIssuanceMs, su.CPUCores = perIssuance(cpu, res.Issued, res.WindowS)
	if err != nil {
		su.SampleError = err.Error()
	}
	return su
}

func perIssuance(cpu time.Duration, n int, window float64) (ms, cores float64) {
	if n > 0 {
		ms = float64(cpu) / float64(time.Millisecond) / float64(n)
	}
	if window > 0 {
		cores = cpu.Seconds() / window
	}
	return ms, cores
}

func pollName(d time.Duration) string {
	if d <= 0 {
		return "Retry-After (x/crypto WaitAuthorization)"
	}
	return fmt.Sprintf("%s, x1.5 up to %s", d, maxPoll)
}

// latency sorts d and reads its percentiles (nearest rank).
func latency(d []time.Duration) Latency {
	if len(d) == 0 {
		return Latency{}
	}
	slices.Sort(d)
	ms := func(x time.Duration) float64 { return float64(x) / float64(time.Millisecond) }
	rank := func(p float64) time.Duration {
		i := int(p*float64(len(d))+0.999999) - 1
		return d[min(max(i, 0), len(d)-1)]
	}
	var sum time.Duration
	for _, x := range d {
		sum += x
	}
	return Latency{P50: ms(rank(0.50)), P95: ms(rank(0.95)), P99: ms(rank(0.99)), Max: ms(d[len(d)-1]),
		Mean: ms(sum / time.Duration(len(d)))}
}

// writeSummary prints the human summary.
func writeSummary(w io.Writer, r *Result) {
	m := r.Machine
	fmt.Fprintf(w, "machine:     %d CPUs (GOMAXPROCS %d), %s %s/%s\n", m.NumCPU, m.GOMAXPROCS, m.GoVersion, m.OS, m.Arch)
	fmt.Fprintf(w, "load:        %d clients, warmup %.0fs, window %.1fs, poll %s, reconnect %v\n",
		r.Clients, r.WarmupS, r.WindowS, r.Poll, r.Reconnect)
	fmt.Fprintf(w, "issuances:   %d in the window (%d warmup, %d drain) = %.1f/s\n", r.Issued, r.WarmupIssued, r.DrainIssued, r.PerSecond)
	l := r.Latency
	fmt.Fprintf(w, "latency ms:  p50 %.1f  p95 %.1f  p99 %.1f  max %.1f  mean %.1f\n", l.P50, l.P95, l.P99, l.Max, l.Mean)
	v := r.Validation
	fmt.Fprintf(w, "validation:  wait p50 %.1f  p95 %.1f  p99 %.1f  mean %.1f ms (challenge answered -> authz valid, incl. poll delay)\n",
		v.P50, v.P95, v.P99, v.Mean)
	fmt.Fprintf(w, "requests:    %.2f per issuance; count and mean round trip:\n", r.RequestsPerIssuance)
	for _, k := range slices.Sorted(maps.Keys(r.Requests)) {
		st := r.Requests[k]
		fmt.Fprintf(w, "  %-18s %7d  %6.1f ms", k, st.N, st.MeanMs)
		if st.Failed > 0 {
			fmt.Fprintf(w, "  (%d answered >= 400 or failed, retried by the client)", st.Failed)
		}
		fmt.Fprintln(w)
	}
	if s := r.Server; s != nil {
		fmt.Fprintf(w, "server CPU:  %.3f ms per issuance (%.2f cores busy)\n", s.CPUPerIssuanceMs, s.CPUCores)
		fmt.Fprintf(w, "server RSS:  %.1f MiB after warmup, %.1f MiB at end, peak sampled %.1f MiB, VmHWM %.1f MiB\n",
			s.RSSAfterWarmup, s.RSSEnd, s.RSSPeakSampled, s.HWM)
		fmt.Fprintf(w, "             anon (heap, stacks) %.1f -> %.1f MiB, file-backed (bbolt mmap) %.1f -> %.1f MiB\n",
			s.AnonAfterWarmup, s.AnonEnd, s.FileAfterWarmup, s.FileEnd)
		if s.SampleError != "" {
			fmt.Fprintf(w, "             sampling error: %s\n", s.SampleError)
		}
	}
	fmt.Fprintf(w, "client CPU:  %.3f ms per issuance (%.2f cores busy; clients + DNS + http-01 responder)\n",
		r.Client.CPUPerIssuanceMs, r.Client.CPUCores)
	fmt.Fprintf(w, "machine:     %.2f cores busy in the window", r.BusyCores)
	if r.Server != nil {
		fmt.Fprintf(w, " (%.2f by other processes)", r.OtherCores)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "errors:      %d\n", r.ErrorTotal)
	for _, k := range slices.Sorted(maps.Keys(r.Errors)) {
		fmt.Fprintf(w, "  %6d  %s  (e.g. %s)\n", r.Errors[k], k, r.ErrorExamples[k])
	}
	if !r.DrainedInTime {
		fmt.Fprintf(w, "warning:     issuances still in flight %s after the window were cancelled\n", drainGrace)
	}
}

// writeTable prints runs (e.g. c = 1, 8, 32) as one Markdown table, under
// a line naming the machine of the first.
func writeTable(w io.Writer, runs []*Result) {
	if len(runs) == 0 {
		return
	}
	m := runs[0].Machine
	fmt.Fprintf(w, "machine: nproc %d (GOMAXPROCS %d), %s, %s %s/%s\n\n", m.NumCPU, m.GOMAXPROCS, cmpOr(m.CPUModel, "CPU model unknown"),
		m.GoVersion, m.OS, m.Arch)
	fmt.Fprintln(w, "| clients | issuances/s | latency p50 / p95 / p99 ms | server CPU per issuance | requests per issuance | RssAnon after warmup → end MiB | RssFile → MiB | other load (cores) | errors |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|")
	for _, r := range runs {
		l := r.Latency
		cpu, anon, file := "–", "–", "–"
		if s := r.Server; s != nil {
			cpu = fmt.Sprintf("%.2f ms", s.CPUPerIssuanceMs)
			anon = fmt.Sprintf("%.1f → %.1f", s.AnonAfterWarmup, s.AnonEnd)
			file = fmt.Sprintf("%.1f → %.1f", s.FileAfterWarmup, s.FileEnd)
		}
		fmt.Fprintf(w, "| %d | %.1f | %.1f / %.1f / %.1f | %s | %.2f | %s | %s | %.2f | %d |\n",
			r.Clients, r.PerSecond, l.P50, l.P95, l.P99, cpu, r.RequestsPerIssuance, anon, file, r.OtherCores, r.ErrorTotal)
	}
}

func cmpOr(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
