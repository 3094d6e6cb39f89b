// Command testdns runs the test DNS server of package testdns on loopback,
// for manual runs of ACME clients against acmera:
//
//	go run ./scripts/testdns/cmd/testdns -port 0 -control 127.0.0.1:0
//
// It prints the DNS address (UDP and TCP) and the control API's URL, then
// serves until interrupted. Publish a dns-01 record with
//
//	curl -X POST 'http://CONTROL/txt?name=_acme-challenge.x.test&value=V'
//
// and a CAA record (RFC 8659) with
//
//	curl -X POST 'http://CONTROL/caa?name=x.test&tag=issue&value=ca.example'
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/acmera/acmera/scripts/testdns"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "testdns:", err)
		os.Exit(1)
	}
}

// run parses flags, starts the server, prints where it listens and waits
// for ctx.
func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("testdns", flag.ContinueOnError)
	host := fs.String("host", "127.0.0.1", "DNS listen host")
	port := fs.Int("port", 0, "DNS listen port, UDP and TCP (0 = random)")
	control := fs.String("control", "127.0.0.1:0", "HTTP control API listen address (empty disables it)")
	a := fs.String("a", "127.0.0.1", "IPv4 address every A query is answered with")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ip := net.ParseIP(*a)
	if ip == nil || ip.To4() == nil {
		return fmt.Errorf("-a %q: not an IPv4 address", *a)
	}
	s, err := testdns.Start(ctx, testdns.Config{
		Addr:        net.JoinHostPort(*host, strconv.Itoa(*port)),
		ControlAddr: *control,
		A:           ip,
	})
	if err != nil {
		return fmt.Errorf("testdns.Start: %w", err)
	}
	fmt.Fprintf(stdout, "dns: %s\n", s.Addr())
	if u := s.ControlURL(); u != "" {
		fmt.Fprintf(stdout, "control: %s\n", u)
	}
	<-ctx.Done()
	return s.Close()
}
