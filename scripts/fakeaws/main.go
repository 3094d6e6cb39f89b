// Command fakeaws serves the AWS fakes acmera talks to, on loopback, for
// tests and local runs: AWS Private CA (pcafake, both wire protocols) and,
// when given a JWKS, STS AssumeRoleWithWebIdentity (stsfake) whose
// temporary credentials the CA fake accepts. It prints pca=ADDR, sts=ADDR,
// region=…, caArn=… and, with -root, writes the CA's root there.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/acmera/acmera/scripts/fakeaws/pcafake"
	"github.com/acmera/acmera/scripts/fakeaws/sigv4"
	"github.com/acmera/acmera/scripts/fakeaws/stsfake"
)

func main() {
	pcaAddr := flag.String("pca", "127.0.0.1:0", "AWS Private CA listen address")
	stsAddr := flag.String("sts", "127.0.0.1:0", "STS listen address (with -jwks)")
	region := flag.String("region", "us-east-1", "the CA's region")
	key := flag.String("key", "AKIAFAKEAWSLOCAL0001", "static access key ID accepted by the CA fake")
	secret := flag.String("secret", "fakeaws-local-secret", "its secret")
	jwksFile := flag.String("jwks", "", "JWKS file of the identity provider; enables STS")
	audiences := flag.String("audience", "", "comma-separated accepted token audiences (with -jwks)")
	inProgress := flag.Int("in-progress", 1, "RequestInProgressException answers per certificate")
	rootOut := flag.String("root", "", "write the CA's root certificate (PEM) to this file")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, options{*pcaAddr, *stsAddr, *region, *key, *secret, *jwksFile, *audiences, *inProgress, *rootOut})
	if err != nil {
		fmt.Fprintln(os.Stderr, "fakeaws:", err)
		os.Exit(1)
	}
}

type options struct {
	pcaAddr, stsAddr, region, key, secret, jwks, audiences string
	inProgress                                             int
	rootOut                                                string
}

func run(ctx context.Context, o options) error {
	stores := sigv4.Stores{sigv4.Static{o.key: o.secret}}
	var servers []*http.Server
	if o.jwks != "" {
		b, err := os.ReadFile(o.jwks)
		if err != nil {
			return fmt.Errorf("read -jwks: %w", err)
		}
		var set jose.JSONWebKeySet
		if err := json.Unmarshal(b, &set); err != nil {
			return fmt.Errorf("parse -jwks: %w", err)
		}
		sts := stsfake.New(stsfake.Config{Keys: &set, Audiences: strings.Split(o.audiences, ",")})
		stores = append(stores, sts)
		srv, err := serve(o.stsAddr, "sts", sts)
		if err != nil {
			return err
		}
		servers = append(servers, srv)
	}
	pca, err := pcafake.New(pcafake.Config{Region: o.region, Credentials: stores, InProgressGets: o.inProgress})
	if err != nil {
		return fmt.Errorf("pcafake.New: %w", err)
	}
	if o.rootOut != "" {
		if err := os.WriteFile(o.rootOut, pca.RootPEM(), 0o644); err != nil {
			return fmt.Errorf("write -root: %w", err)
		}
	}
	srv, err := serve(o.pcaAddr, "pca", pca)
	if err != nil {
		return err
	}
	servers = append(servers, srv)
	fmt.Printf("region=%s\ncaArn=%s\n", pca.Region(), pca.CAArn())
	<-ctx.Done()
	for _, s := range servers {
		s.Close()
	}
	return nil
}

// serve listens on addr, prints name=ADDR and serves h until closed.
func serve(addr, name string, h http.Handler) (*http.Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", name, err)
	}
	fmt.Printf("%s=http://%s\n", name, ln.Addr())
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintf(os.Stderr, "fakeaws: %s: %v\n", name, err)
		}
	}()
	return srv, nil
}
