// Command load measures an acmera server under concurrent ACME clients.
//
// It starts the server itself (-server BIN, the embedded default, in a
// temporary data directory on a free loopback port) or uses one already
// running (-directory URL -root PEM; a plain http:// directory, such as
// the Cloud stack's ACME function, needs no -root), together with a DNS server that
// answers 127.0.0.1 for every name and an http-01 responder, both on
// loopback. Then -clients clients, each with one account (RFC 8555 §7.3)
// reused across its issuances, run full issuances back to back with
// golang.org/x/crypto/acme: new order for a fresh random DNS name (so no
// authorization is reused), http-01 (§8.3), finalize with a new ECDSA
// P-256 CSR (§7.4) and certificate download (§7.4.2), for -warmup plus
// -duration, or until -max issuances have started.
//
// It reports issuances per second, latency percentiles of a full issuance,
// errors by kind, requests per issuance, and, from /proc/PID of the server,
// CPU time per issuance and resident memory sampled every -sample; also its
// own CPU, since the clients share the machine's cores with the server.
//
//	go run ./scripts/load -server ./acmera -clients 32 -duration 30s -warmup 5s
//
// With -table FILE..., it prints the -json results in FILEs as one
// Markdown table (scripts/bench.sh does this for 1, 8 and 32 clients).
//
//	go run ./scripts/load -table c1.json c8.json c32.json
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// config is the parsed command line.
type config struct {
	Server        string        // acmera binary to start as a child
	Directory     string        // or the directory URL of a running server
	Root          string        // its root CA (PEM), with Directory
	PID           int           // its process ID to sample, with Directory
	DNSAddr       string        // test DNS server listen address
	HTTP01Addr    string        // http-01 responder listen address
	Clients       int           // concurrent clients
	Duration      time.Duration // measured window
	Warmup        time.Duration // unmeasured start
	Max           int           // issuances to start at most (0: no limit)
	Timeout       time.Duration // bound on one issuance
	Poll          time.Duration // first authorization poll delay (0: Retry-After)
	Reconnect     bool          // new TLS connection for every issuance
	Domain        string        // suffix of the random names
	AccountOrders int           // orders per account before a new one (0: never)
	LogLevel      string        // ACMERA_LOG_LEVEL for the child
	Env           []string      // extra KEY=VALUE for the child
	Sample        time.Duration // /proc sampling interval
	JSON          bool          // print the result as JSON
}

// envList collects repeated -env KEY=VALUE flags.
type envList []string

func (e *envList) String() string { return strings.Join(*e, ",") }

func (e *envList) Set(v string) error {
	if k, _, ok := strings.Cut(v, "="); !ok || k == "" {
		return fmt.Errorf("%q is not KEY=VALUE", v)
	}
	*e = append(*e, v)
	return nil
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	var env envList
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.Server, "server", "", "acmera binary to start (embedded default) as a child process")
	fs.StringVar(&c.Directory, "directory", "", "directory URL of an already running server (loopback only); https needs -root")
	fs.StringVar(&c.Root, "root", "", "root CA PEM of the server given by -directory")
	fs.IntVar(&c.PID, "pid", 0, "process ID of the server given by -directory, to sample its CPU and RSS")
	fs.StringVar(&c.DNSAddr, "dns-addr", "127.0.0.1:0", "listen address of the test DNS server (the server's ACMERA_RESOLVERS)")
	fs.StringVar(&c.HTTP01Addr, "http01-addr", "127.0.0.1:0", "listen address of the http-01 responder (port = the server's ACMERA_HTTP01_PORT)")
	fs.IntVar(&c.Clients, "clients", 32, "concurrent clients, one account each")
	fs.DurationVar(&c.Duration, "duration", 30*time.Second, "measured window")
	fs.DurationVar(&c.Warmup, "warmup", 5*time.Second, "load before the window, not measured")
	fs.IntVar(&c.Max, "max", 0, "start at most this many issuances (0: bounded by time only)")
	fs.DurationVar(&c.Timeout, "timeout", 60*time.Second, "bound on one issuance (and on account registration)")
	fs.DurationVar(&c.Poll, "poll", 20*time.Millisecond, "first authorization poll delay, then x1.5 up to 1s; 0 honours Retry-After")
	fs.BoolVar(&c.Reconnect, "reconnect", false, "open a new TLS connection for every issuance, as separate client runs do")
	fs.IntVar(&c.AccountOrders, "account-orders", 2000, "orders per account before the client registers a new one, to stay under the server's per-account hourly order limit (default 3000); 0 never")
	fs.StringVar(&c.Domain, "domain", "load.test", "suffix of the random DNS names ordered")
	fs.StringVar(&c.LogLevel, "log-level", "warn", "ACMERA_LOG_LEVEL of the started server")
	fs.Var(&env, "env", "extra KEY=VALUE for the started server (repeatable), e.g. -env GOGC=200")
	fs.DurationVar(&c.Sample, "sample", 500*time.Millisecond, "interval of /proc sampling")
	fs.BoolVar(&c.JSON, "json", false, "print the result as JSON on stdout (summary on stderr)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	c.Env = env
	return c, c.check()
}

// check bounds every setting and keeps all traffic on loopback.
func (c config) check() error {
	var errs []error
	switch {
	case c.Server == "" && c.Directory == "":
		errs = append(errs, errNoServer)
	case c.Server != "" && c.Directory != "":
		errs = append(errs, errors.New("-server and -directory exclude each other"))
	case c.Directory != "":
		if c.Root == "" && strings.HasPrefix(c.Directory, "https:") {
			errs = append(errs, errors.New("-directory https://… needs -root"))
		}
		if err := loopbackURL(c.Directory); err != nil {
			errs = append(errs, err)
		}
	}
	for _, a := range []string{c.DNSAddr, c.HTTP01Addr} {
		if err := loopbackAddr(a); err != nil {
			errs = append(errs, err)
		}
	}
	bound := func(ok bool, msg string) {
		if !ok {
			errs = append(errs, errors.New(msg))
		}
	}
	bound(c.Clients >= 1 && c.Clients <= 1024, "-clients must be 1..1024")
	bound(c.Duration > 0 && c.Duration <= time.Hour, "-duration must be in (0, 1h]")
	bound(c.Warmup >= 0 && c.Warmup <= 10*time.Minute, "-warmup must be in [0, 10m]")
	bound(c.Max >= 0, "-max must be >= 0")
	bound(c.AccountOrders >= 0, "-account-orders must be >= 0")
	bound(c.Timeout > 0 && c.Timeout <= 10*time.Minute, "-timeout must be in (0, 10m]")
	bound(c.Poll >= 0 && c.Poll <= 10*time.Second, "-poll must be in [0, 10s]")
	bound(c.Sample >= 10*time.Millisecond && c.Sample <= time.Minute, "-sample must be in [10ms, 1m]")
	bound(c.Domain != "" && !strings.ContainsAny(c.Domain, " /:*"), "-domain must be a DNS name")
	return errors.Join(errs...)
}

// loopbackURL accepts only URLs to 127.0.0.0/8, ::1 or localhost: https
// (the embedded default), or plain http (the Cloud stack's ACME function,
// which serves HTTP behind Cloud Run's TLS front end).
func loopbackURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("-directory: %w", err)
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return fmt.Errorf("-directory %q: must be https or http", s)
	}
	return loopbackHost("-directory", u.Hostname())
}

func loopbackAddr(a string) error {
	h, _, err := net.SplitHostPort(a)
	if err != nil {
		return fmt.Errorf("listen address %q: %w", a, err)
	}
	return loopbackHost("listen address", h)
}

func loopbackHost(what, h string) error {
	if h == "localhost" {
		return nil
	}
	if ip := net.ParseIP(h); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("%s host %q: loopback only (127.0.0.0/8, ::1, localhost)", what, h)
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := mainErr(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

func mainErr(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "-table" {
		return printTable(args[1:], stdout)
	}
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	res, err := run(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	if !cfg.JSON {
		writeSummary(stdout, res)
		return nil
	}
	writeSummary(stderr, res)
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(res); err != nil {
		return fmt.Errorf("json.Encode: %w", err)
	}
	return nil
}

// printTable reads -json results from files and prints them as one table.
func printTable(files []string, stdout io.Writer) error {
	if len(files) == 0 {
		return errors.New("-table needs the -json result files to print")
	}
	runs := make([]*Result, 0, len(files))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("-table: %w", err)
		}
		r := new(Result)
		if err := json.Unmarshal(b, r); err != nil {
			return fmt.Errorf("-table: %s: json.Unmarshal: %w", f, err)
		}
		runs = append(runs, r)
	}
	writeTable(stdout, runs)
	return nil
}
