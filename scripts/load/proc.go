package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// userHZ is the unit of utime and stime in /proc/PID/stat: USER_HZ, which
// Linux fixes at 100 for user space on every architecture Go supports.
const userHZ = 100

// maxSamples bounds the sample series kept for the JSON report.
const maxSamples = 20000

// procStat is one reading of a process's resource use.
type procStat struct {
	CPU   time.Duration // utime + stime
	RSS   int64         // VmRSS, bytes
	HWM   int64         // VmHWM (peak RSS), bytes
	Anon  int64         // RssAnon: heap, stacks, other anonymous memory
	File  int64         // RssFile: mapped files (the bbolt database)
	Valid bool
}

// readProc reads /proc/PID/stat and /proc/PID/status (proc(5)).
func readProc(pid int) (procStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, fmt.Errorf("os.ReadFile: %w", err)
	}
	// The command name (field 2) may hold spaces; fields resume after ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: no ')'", pid)
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); utime is field 14, stime field 15.
	if len(f) < 13 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f)+2)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return procStat{}, fmt.Errorf("/proc/%d/stat: utime %q stime %q", pid, f[11], f[12])
	}
	ps := procStat{CPU: time.Duration(ut+st) * time.Second / userHZ, Valid: true}
	b, err = os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procStat{}, fmt.Errorf("os.ReadFile: %w", err)
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			ps.RSS = parseKB(v)
		} else if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			ps.HWM = parseKB(v)
		} else if v, ok := strings.CutPrefix(line, "RssAnon:"); ok {
			ps.Anon = parseKB(v)
		} else if v, ok := strings.CutPrefix(line, "RssFile:"); ok {
			ps.File = parseKB(v)
		}
	}
	return ps, nil
}

// parseKB reads "   1234 kB" as bytes.
func parseKB(v string) int64 {
	n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
	return n * 1024
}

// selfCPU is this process's own CPU time (user + system), from
// getrusage(2), which is finer than /proc's ticks.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Sample is one point of the server's resource use over the run.
type Sample struct {
	T       float64 `json:"t_s"`      // seconds since the run started
	CPU     float64 `json:"cpu_s"`    // server CPU seconds so far
	RSSMiB  float64 `json:"rss_mib"`  // VmRSS
	AnonMiB float64 `json:"anon_mib"` // RssAnon
	FileMiB float64 `json:"file_mib"` // RssFile
	Issued  int64   `json:"issued"`   // issuances completed so far, warmup included
}

// sampler reads a process every interval and keeps the series and the
// highest RSS seen.
type sampler struct {
	pid      int
	start    time.Time
	interval time.Duration
	issued   func() int64

	mu      sync.Mutex
	samples []Sample
	peakRSS int64
	last    procStat
	err     error
}

func newSampler(pid int, start time.Time, interval time.Duration, issued func() int64) *sampler {
	return &sampler{pid: pid, start: start, interval: interval, issued: issued}
}

// run samples until ctx is done.
func (s *sampler) run(ctx context.Context) {
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		s.sample()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// sample takes one reading now and returns it.
func (s *sampler) sample() procStat {
	ps, err := readProc(s.pid)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		if s.err == nil {
			s.err = err
		}
		return s.last
	}
	s.last = ps
	s.peakRSS = max(s.peakRSS, ps.RSS)
	if len(s.samples) < maxSamples {
		s.samples = append(s.samples, Sample{T: time.Since(s.start).Seconds(), CPU: ps.CPU.Seconds(), RSSMiB: mib(ps.RSS),
			AnonMiB: mib(ps.Anon), FileMiB: mib(ps.File), Issued: s.issued()})
	}
	return ps
}

// snapshot returns the series, the highest RSS sampled and the first
// error.
func (s *sampler) snapshot() ([]Sample, int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Sample(nil), s.samples...), s.peakRSS, s.err
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// machineCPU reads the busy and total time of all CPUs from /proc/stat
// (proc(5)): busy is everything but idle and iowait.
func machineCPU() (busy, total time.Duration) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0, 0
	}
	for i, v := range f[1:] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || i >= 8 { // user..steal; guest is already in user
			continue
		}
		d := time.Duration(n) * time.Second / userHZ
		total += d
		if i != 3 && i != 4 { // idle, iowait
			busy += d
		}
	}
	return busy, total
}

// cpuModel is the first "model name" of /proc/cpuinfo, or "".
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	for line := range strings.Lines(string(b)) {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
